//! `shipgate --stack NAME`: the CLI on the deployed stack, run against the twin as two
//! people would — an IAM user with the template's `ReaderPolicy`, and an approver with
//! `ReaderPolicy` and `ApproverPolicy` whose principal the configuration maps to `lee`.
//! Every `shipgate --stack` command of `docs/operations.md` is run as written. Needs what
//! `.ci/run` installs (moto[server], aws-sam-translator, boto3, Debian's faketime) and the
//! function binaries (`cargo build --workspace --bins`). The last test brings the twin up
//! with `shipgate twin --up` and acts on it from other processes, as a newcomer would.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;

use chrono::{DateTime, Utc};
use shipgate_core::{Config, Release, ReleaseState};
use shipgate_local::demo::StartSpec;
use shipgate_twin::scenario::Session;
use shipgate_twin::{Stack, StackOptions};

use common::repo;

const READER: &str = "twin-reader";
const APPROVER: &str = "twin-approver";

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn options(dir: &Path) -> StackOptions {
    let exe = std::env::current_exe().unwrap();
    let bin_dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    assert!(
        bin_dir.join("rollback").exists(),
        "the function binaries are missing: cargo build --workspace --bins"
    );
    StackOptions {
        template: repo().join("infra/template.yaml"),
        parameters: repo().join("infra/twin/parameters.json"),
        launcher: repo().join("infra/twin/launcher.py"),
        python: "python3".into(),
        bin_dir,
        work_dir: dir.join("stack"),
        stack_name: "shipgate".into(),
        task_seconds: 0.2,
    }
}

/// The repository's configuration, with the approver user's principal as Lee's.
fn config(approver_arn: &str) -> Config {
    let text = std::fs::read_to_string(repo().join("shipgate.toml")).unwrap();
    let mut config = Config::from_toml_str(&text).unwrap();
    config.service.initial_version = "1.2.0".parse().unwrap();
    let lee = config.approvers.iter_mut().find(|a| a.id == "lee").unwrap();
    lee.aws_principals = vec![approver_arn.to_string()];
    config
}

/// The repository's configuration with Lee's principal and a freeze over the next days,
/// as a file to push.
fn frozen_config(dir: &Path, approver_arn: &str) -> PathBuf {
    let text = std::fs::read_to_string(repo().join("shipgate.toml")).unwrap();
    let text = text.replacen(
        "id = \"lee\"\n",
        &format!("id = \"lee\"\naws_principals = [\"{approver_arn}\"]\n"),
        1,
    );
    let freeze = "[[window.freezes]]\nstart = \"2026-03-11T06:00:00Z\"\nend = \"2026-03-20T00:00:00Z\"\nreason = \"Spring conference\"\n\n";
    let text = text.replacen(
        "[[window.freezes]]",
        &format!("{freeze}[[window.freezes]]"),
        1,
    );
    let path = dir.join("pushed.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The `shipgate --stack shipgate` commands of docs/operations.md, as written.
fn documented() -> Vec<String> {
    common::documented(|l| l.starts_with("shipgate --stack shipgate "))
}

struct Cli<'a> {
    stack: &'a Stack,
    /// What the documented `config push` puts in place.
    config_file: PathBuf,
    docs: Vec<String>,
    ran: BTreeSet<String>,
}

impl Cli<'_> {
    /// Runs `args` as `user`.
    async fn run(&self, user: &str, args: &[&str]) -> Output {
        let env = self.stack.operator_env(user).expect("the twin's operator");
        tokio::process::Command::new(env!("CARGO_BIN_EXE_shipgate"))
            .current_dir(repo())
            .args(args)
            .env_remove("AWS_PROFILE")
            .env_remove("SHIPGATE_LOG")
            .env("AWS_CONFIG_FILE", "/nonexistent")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
            .envs(env)
            .output()
            .await
            .unwrap()
    }

    /// Runs the documented command that starts with `prefix`, with `$RELEASE` standing for
    /// `release`, as `user`.
    async fn documented(&mut self, user: &str, prefix: &str, release: &str) -> Output {
        let line = self
            .docs
            .iter()
            .find(|c| c.starts_with(prefix))
            .unwrap_or_else(|| panic!("docs/operations.md shows no `{prefix}…`"))
            .clone();
        self.ran.insert(line.clone());
        let words = shlex::split(
            &line
                .replace("$RELEASE", release)
                .replace("shipgate.toml", &self.config_file.display().to_string()),
        )
        .unwrap();
        let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
        self.run(user, &args).await
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn succeeded(out: &Output) -> String {
    assert!(out.status.success(), "{}", text(out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn refused(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(2), "{}", text(out));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

async fn release(session: &Session<'_>, n: usize) -> Release {
    session.release(n).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_own_credentials_when_people_use_the_stack_then_they_read_decide_and_roll_back() {
    let dir = tempfile::tempdir().unwrap();
    let approver_arn = format!("arn:aws:iam::123456789012:user/{APPROVER}");
    let stack = Stack::up(
        &options(dir.path()),
        config(&approver_arn),
        at("2026-03-10T09:00:00Z"),
    )
    .await
    .unwrap();
    assert_eq!(
        stack.manifest.operators[APPROVER].arn, approver_arn,
        "the twin names its approver as the configuration does"
    );
    let mut cli = Cli {
        stack: &stack,
        config_file: frozen_config(dir.path(), &approver_arn),
        docs: documented(),
        ran: BTreeSet::new(),
    };
    let mut session = Session::new(&stack).await;

    // Given release 1.3.0 pushed at 09:00, waiting for the Eng Lead at 14:00
    session.push(&StartSpec::new("1.3.0")).await.unwrap();
    session
        .run_until(at("2026-03-10T14:00:00Z"), false)
        .await
        .unwrap();
    let first = release(&session, 0).await;
    let id = first.id.to_string();
    assert_eq!(first.state, ReleaseState::AwaitingApproval);

    // A reader sees it, the windows and a plan
    let listed = succeeded(
        &cli.documented(READER, "shipgate --stack shipgate release list", &id)
            .await,
    );
    assert!(listed.contains(&id), "{listed}");
    assert!(listed.contains("approval: Eng Lead"), "{listed}");
    let json = succeeded(
        &cli.run(
            READER,
            &["--stack", "shipgate", "release", "list", "--json"],
        )
        .await,
    );
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json[0]["id"], id.as_str());
    assert!(
        json[0].get("approval_token").is_none(),
        "no task token shown"
    );
    let shown = succeeded(
        &cli.documented(READER, "shipgate --stack shipgate release show", &id)
            .await,
    );
    assert!(shown.contains("AwaitingApproval"), "{shown}");
    let windows = succeeded(
        &cli.documented(READER, "shipgate --stack shipgate window next", &id)
            .await,
    );
    assert!(windows.contains("03:00–05:00 UTC"), "{windows}");
    let plan = succeeded(
        &cli.documented(READER, "shipgate --stack shipgate plan", &id)
            .await,
    );
    assert!(plan.contains("approvals:  Eng Lead"), "{plan}");

    // …but may not decide, roll back or sign a dashboard link
    let why = refused(
        &cli.run(READER, &["--stack", "shipgate", "release", "approve", &id])
            .await,
    );
    assert!(why.contains("not an approver"), "{why}");
    assert!(why.contains(&format!("user/{READER}")), "{why}");
    refused(
        &cli.run(READER, &["--stack", "shipgate", "dashboard-link"])
            .await,
    );

    // The approver acts as themselves only
    let why = refused(
        &cli.run(
            APPROVER,
            &[
                "--stack", "shipgate", "release", "approve", &id, "--as", "taylor",
            ],
        )
        .await,
    );
    assert!(why.contains("are lee"), "{why}");

    // The approver's dashboard link opens the dashboard; altered, it opens nothing
    let link = succeeded(
        &cli.documented(APPROVER, "shipgate --stack shipgate dashboard-link", &id)
            .await,
    );
    let link = link.trim();
    assert!(
        link.starts_with(&stack.url_of("CallbackFunction").unwrap()),
        "{link}"
    );
    let http = reqwest::Client::new();
    let page = http.get(link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains(&id));
    let altered = format!("{}x", &link[..link.len() - 1]);
    let page = http.get(&altered).send().await.unwrap();
    assert_eq!(page.status(), 401);
    assert!(!page.text().await.unwrap().contains(&id));

    // When the approver approves from a terminal
    let approved = succeeded(
        &cli.documented(APPROVER, "shipgate --stack shipgate release approve", &id)
            .await,
    );
    assert!(approved.contains(&id), "{approved}");
    stack.settle().await.unwrap();

    // Then the release waits for the window, and its timeline names the principal
    let first = release(&session, 0).await;
    assert_eq!(first.state, ReleaseState::AwaitingWindow);
    let decision = first.events.iter().find(|e| e.kind == "approved").unwrap();
    assert_eq!(decision.actor, "lee");
    assert!(
        decision
            .detail
            .contains(&format!("from the CLI as {approver_arn}")),
        "{}",
        decision.detail
    );

    // A second release, rejected from the terminal with its reason
    session.push(&StartSpec::new("1.4.0")).await.unwrap();
    session
        .run_until(at("2026-03-10T15:00:00Z"), false)
        .await
        .unwrap();
    let second = release(&session, 1).await;
    assert_eq!(second.state, ReleaseState::AwaitingApproval);
    succeeded(
        &cli.documented(
            APPROVER,
            "shipgate --stack shipgate release reject",
            second.id.as_str(),
        )
        .await,
    );
    stack.settle().await.unwrap();
    let second = release(&session, 1).await;
    assert_eq!(second.state, ReleaseState::Rejected);
    assert!(
        second
            .outcome
            .as_deref()
            .is_some_and(|o| o.contains("the migration locks the jobs table")),
        "{:?}",
        second.outcome
    );

    // The first deploys in the window and succeeds
    session
        .run_until(at("2026-03-11T05:00:00Z"), false)
        .await
        .unwrap();
    let first = release(&session, 0).await;
    assert_eq!(first.state, ReleaseState::Succeeded, "{:?}", first.outcome);
    let previous = first.previous_task_definition.clone().unwrap();

    // When the approver rolls it back from the terminal, the command follows it to its end:
    // the service pointed back, then seen stable and healthy (time moves on meanwhile)
    let following = cli.documented(APPROVER, "shipgate --stack shipgate release rollback", &id);
    let clock = async {
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            let next = stack.clock.now() + chrono::Duration::seconds(30);
            session.run_until(next, false).await.unwrap();
        }
    };
    let rolled = tokio::select! {
        out = following => succeeded(&out),
        _ = clock => unreachable!(),
    };
    assert!(rolled.contains("RolledBack"), "{rolled}");
    stack.settle().await.unwrap();
    let first = release(&session, 0).await;
    assert_eq!(first.state, ReleaseState::RolledBack);
    let asked = first
        .events
        .iter()
        .find(|e| e.kind == "rollback-requested")
        .unwrap();
    assert!(asked.detail.contains(&approver_arn), "{}", asked.detail);
    let service = stack.control.service().await.unwrap();
    assert_eq!(
        service.task_definition.as_deref(),
        Some(previous.as_str()),
        "back on the recorded revision"
    );

    // The approver puts a configuration with a freeze in place: readers see it at once,
    // and every function starts fresh to read it (the callback was warm before)
    let warm_before = stack.lambda.invocations().len();
    let pushed = succeeded(
        &cli.documented(APPROVER, "shipgate --stack shipgate config push", &id)
            .await,
    );
    assert!(pushed.contains("9 function(s) start fresh"), "{pushed}");
    let windows = succeeded(
        &cli.run(READER, &["--stack", "shipgate", "window", "next"])
            .await,
    );
    assert!(windows.contains("FROZEN: Spring conference"), "{windows}");
    let page = http.get(link).send().await.unwrap();
    assert_eq!(
        page.status(),
        200,
        "the pushed configuration keeps lee's principal"
    );
    let after: Vec<_> = stack.lambda.invocations()[warm_before..].to_vec();
    let callback = after
        .iter()
        .find(|i| i.function == "shipgate-callback")
        .expect("the callback ran");
    assert!(callback.cold, "a fresh process read the new configuration");
    let refused = cli
        .run(
            READER,
            &["--stack", "shipgate", "config", "push", "shipgate.toml"],
        )
        .await;
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(
        text(&refused).contains("ssm:PutParameter"),
        "{}",
        text(&refused)
    );

    // Every documented --stack command ran, and no call of the two people was denied
    let documented: BTreeSet<String> = cli.docs.iter().cloned().collect();
    assert_eq!(cli.ran, documented, "a documented command was not run");
    stack.sync_calls().await.unwrap();
    let denied: Vec<_> = stack
        .calls
        .denied()
        .into_iter()
        .filter(|c| c.call.function == READER || c.call.function == APPROVER)
        .filter(|c| !(c.call.function == READER && c.call.action == "ssm:PutParameter"))
        .collect();
    assert!(denied.is_empty(), "{denied:?}");
    stack.down().await;
}

/// The `export K='V'` lines of an env file `shipgate twin --up` wrote.
fn env_file(path: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let (k, v) = l.strip_prefix("export ")?.split_once('=')?;
            Some((k.to_string(), shlex::split(v)?.join("")))
        })
        .collect()
}

#[tokio::test]
async fn given_a_newcomer_when_the_twin_is_up_then_they_push_and_approve_from_another_terminal() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut up = tokio::process::Command::new(env!("CARGO_BIN_EXE_shipgate"))
        .current_dir(repo())
        .arg("--data-dir")
        .arg(dir.path())
        .args([
            "twin",
            "--up",
            "--start",
            "2026-03-10T09:00:00Z",
            "--speed",
            "60",
            "--for",
            "600",
        ])
        .env_remove("SHIPGATE_LOG")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // What it prints tells the newcomer what to type
    let mut lines = BufReader::new(up.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        let done = line.starts_with("Ctrl-C");
        printed.push(line);
        if done {
            break;
        }
    }
    let find = |prefix: &str| {
        printed
            .iter()
            .find_map(|l| l.trim().strip_prefix(prefix).map(str::to_string))
            .unwrap_or_else(|| panic!("no `{prefix}` in {printed:#?}"))
    };
    let env = env_file(Path::new(&find("source ")));
    let push = format!("webhook send {}", find("shipgate webhook send "));
    let shipgate = |args: Vec<String>| {
        let env = env.clone();
        async move {
            tokio::process::Command::new(env!("CARGO_BIN_EXE_shipgate"))
                .current_dir(repo())
                .args(args)
                .env_remove("SHIPGATE_LOG")
                .envs(env)
                .output()
                .await
                .unwrap()
        }
    };

    // A push through the trigger's function URL, signed with the stack's secret
    let pushed = succeeded(&shipgate(shlex::split(&push).unwrap()).await);
    let reply: serde_json::Value = serde_json::from_str(pushed.lines().last().unwrap()).unwrap();
    let id = reply["release_id"].as_str().unwrap().to_string();
    // GitHub's delivery log says how to see it (the stack serves pages through personal links)
    let see = reply["release"].as_str().unwrap();
    assert!(
        see.contains(&format!("shipgate --stack NAME release show {id}")),
        "{see}"
    );

    // The approver sees it waiting for them, approves, and it moves on to the window
    let words = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
    let mut listed = String::new();
    for _ in 0..60 {
        listed = succeeded(&shipgate(words("release list")).await);
        if listed.contains("approval: Eng Lead") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert!(
        listed.contains(&id) && listed.contains("approval: Eng Lead"),
        "{listed}"
    );
    succeeded(&shipgate(words(&format!("release approve {id}"))).await);
    let mut state = String::new();
    for _ in 0..60 {
        let shown = succeeded(&shipgate(words(&format!("release show {id} --json"))).await);
        let release: serde_json::Value = serde_json::from_str(&shown).unwrap();
        state = release["state"].as_str().unwrap().to_string();
        if state == "AwaitingWindow" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert_eq!(state, "AwaitingWindow");

    // Ctrl-C brings it down, launcher and functions with it
    let pid = up.id().unwrap().to_string();
    let stopped = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(stopped.success());
    let status = tokio::time::timeout(std::time::Duration::from_secs(60), up.wait())
        .await
        .expect("the twin stops on Ctrl-C")
        .unwrap();
    assert!(status.success(), "{status:?}");
    let rest: Vec<String> = {
        let mut rest = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            rest.push(line);
        }
        rest
    };
    assert!(rest.iter().any(|l| l == "The twin is down."), "{rest:?}");
}
