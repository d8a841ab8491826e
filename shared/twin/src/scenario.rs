//! The demo's scenarios, played on the twin the way people and AWS would play them: a
//! signed GitHub push to the trigger's function URL, approvals through the links in the
//! mail moto's SES sent, faults in moto's ECS and the demo application, CloudWatch alarms
//! set in moto and delivered by the template's EventBridge rules.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use shipgate_aws::dynamo::DynamoReleaseStore;
use shipgate_core::ports::ReleaseStore;
use shipgate_core::{Config, Release, ReleaseId, Version};
use shipgate_local::demo::{
    Action, AnnouncementView, ReleaseReport, Scenario, ScenarioReport, StartSpec, commit_for,
    ending_problems, push_messages, seed_evidence, state_problems,
};
use shipgate_local::ecs::Faults;

mod github;
mod people;
mod registry;
mod users;

use crate::TwinError;
use crate::calls::CallCount;
use crate::stack::{Stack, StackOptions};

/// How long after its start a scenario may run (virtual time), as the demo.
const HORIZON_DAYS: i64 = 60;
/// The approver who answers through Slack's Approve button in the scenarios.
const SLACK_APPROVER: &str = "taylor";
/// How long the stack runs on once every execution has ended.
const SETTLE_MINUTES: i64 = 15;

/// What `shipgate twin --json` prints per scenario: the demo's fields, and the AWS calls.
#[derive(Debug, Clone, Serialize)]
pub struct TwinReport {
    #[serde(flatten)]
    pub report: ScenarioReport,
    pub aws_calls: Vec<CallCount>,
    pub denied: Vec<CallCount>,
    /// Functions invoked, with how many invocations each.
    pub invocations: std::collections::BTreeMap<String, usize>,
}

/// A scenario being played on a stack: pushes, decisions through links, faults, and the
/// virtual clock moved on. Releases are numbered in the order they were pushed.
pub struct Session<'a> {
    stack: &'a Stack,
    store: DynamoReleaseStore,
    http: reqwest::Client,
    ids: Vec<ReleaseId>,
    versions: Vec<Version>,
    problems: Vec<String>,
    /// Alarms a version trips some minutes after it starts serving: (tag, alarm, minutes, fired).
    alarm_faults: Vec<(String, String, u32, bool)>,
}

/// Runs `scenario` on a fresh stack.
pub async fn run(
    scenario: &Scenario,
    config: &Config,
    options: &StackOptions,
) -> Result<TwinReport, TwinError> {
    let mut config = config.clone();
    (scenario.configure)(&mut config);
    config.service.initial_version = shipgate_local::runtime::SEED_VERSION
        .parse()
        .map_err(|e| TwinError::Setup(format!("seed version: {e}")))?;
    if options.work_dir.exists() {
        std::fs::remove_dir_all(&options.work_dir)
            .map_err(|e| TwinError::io(&options.work_dir, e))?;
    }
    let stack = Stack::up(options, config, scenario.start).await?;
    let result = drive(scenario, &stack).await;
    stack.down().await;
    result
}

async fn drive(scenario: &Scenario, stack: &Stack) -> Result<TwinReport, TwinError> {
    let mut driver = Session::new(stack).await;
    driver.create_contact_list().await?;
    stack.settle().await?;
    for (when, action) in &scenario.steps {
        driver.run_until(*when, false).await?;
        driver.act(*when, action).await?;
        stack.settle().await?;
    }
    driver
        .run_until(scenario.start + Duration::days(HORIZON_DAYS), true)
        .await?;
    driver.report(scenario).await
}

async fn admin_sdk(stack: &Stack) -> aws_config::SdkConfig {
    let admin = &stack.manifest.admin;
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(shipgate_aws::sdk::sdk_http_client())
        .region(aws_config::Region::new(stack.manifest.region.clone()))
        .endpoint_url(&stack.manifest.endpoint)
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            &admin.access_key_id,
            &admin.secret_access_key,
            None,
            None,
            "twin-admin",
        ))
        .load()
        .await
}

fn text_of(mail: &Value) -> String {
    let mut out = String::new();
    for key in ["subject", "body", "text", "html", "body_text"] {
        if let Some(s) = mail.get(key).and_then(Value::as_str) {
            out.push_str(s);
            out.push('\n');
        }
    }
    if out.is_empty() {
        out = mail.to_string();
    }
    out
}

impl<'a> Session<'a> {
    pub async fn new(stack: &'a Stack) -> Session<'a> {
        let sdk = admin_sdk(stack).await;
        Session {
            stack,
            store: DynamoReleaseStore::new(
                aws_sdk_dynamodb::Client::new(&sdk),
                &stack.manifest.table,
            ),
            http: reqwest::Client::new(),
            ids: Vec::new(),
            versions: Vec::new(),
            problems: Vec::new(),
            alarm_faults: Vec::new(),
        }
    }

    /// Moves the clock to `until`, running everything due on the way. With `until_idle`,
    /// stops as soon as no execution is running.
    pub async fn run_until(
        &mut self,
        until: DateTime<Utc>,
        until_idle: bool,
    ) -> Result<(), TwinError> {
        loop {
            // An alarm due now goes off before the flow's tasks due now run: its rollback
            // and the flow's (the monitor seeing the alarm) race, as they do on AWS.
            self.check_alarm_faults().await?;
            self.stack.settle().await?;
            let now = self.stack.clock.now();
            let running = self
                .stack
                .executions()?
                .iter()
                .any(|e| e.status == shipgate_asl::ExecutionStatus::Running);
            if until_idle && !running {
                // Every execution has ended; let a rollout still under way (a rollback's
                // deployment) finish, as the local demo's horizon does.
                self.stack
                    .clock
                    .set(now + Duration::minutes(SETTLE_MINUTES))?;
                self.stack.settle().await?;
                return Ok(());
            }
            let mut next = self.stack.next_event().await?;
            if let Some(at) = self.next_alarm_fault().await? {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
            match next {
                Some(t) if t <= until => self
                    .stack
                    .clock
                    .set(t.max(now + Duration::milliseconds(1)))?,
                _ => {
                    self.stack.clock.set(until)?;
                    self.stack.settle().await?;
                    return Ok(());
                }
            }
        }
    }

    pub async fn act(&mut self, when: DateTime<Utc>, action: &Action) -> Result<(), TwinError> {
        match action {
            Action::Start(spec) => self.push(spec).await,
            Action::Approve { release, who } => {
                // The CTO answers in Slack; everyone else follows their email link.
                let decided = if *who == SLACK_APPROVER {
                    self.click_approve(*release, who).await
                } else {
                    self.decide(*release, who, "approve", None).await
                };
                if let Err(e) = decided {
                    self.problems.push(format!("{who} could not approve: {e}"));
                }
                Ok(())
            }
            Action::Reject {
                release,
                who,
                reason,
            } => {
                if let Err(e) = self.decide(*release, who, "reject", Some(reason)).await {
                    self.problems.push(format!("{who} could not reject: {e}"));
                }
                Ok(())
            }
            Action::ExpectRefused { release, who } => {
                match self.link_for(*release, who).await? {
                    // The only way to decide on AWS is one's own link: none was sent.
                    None => Ok(()),
                    Some(_) => {
                        if self.decide(*release, who, "approve", None).await.is_ok() {
                            let state = self.release(*release).await?.state;
                            if state != shipgate_core::ReleaseState::AwaitingApproval {
                                self.problems.push(format!(
                                    "{who}'s approval was accepted but must be refused"
                                ));
                            }
                        }
                        Ok(())
                    }
                }
            }
            Action::ApproveWithoutBypass { release, who } => {
                let decided = if *who == SLACK_APPROVER {
                    self.click(
                        *release,
                        who,
                        shipgate_core::messages::APPROVE_WITHOUT_BYPASS_ACTION,
                    )
                    .await
                } else {
                    self.decide(*release, who, "approve_without_bypass", None)
                        .await
                };
                if let Err(e) = decided {
                    self.problems.push(format!("{who} could not approve: {e}"));
                }
                Ok(())
            }
            // Checked once the scenario has run.
            Action::ExpectEnd { .. } => Ok(()),
            Action::ExpectSlackReplaced { release, who } => {
                // The release table holds where each ask went; Slack's double saw the updates.
                let current = self.release(*release).await?;
                let asks: Vec<_> = current
                    .slack_asks
                    .iter()
                    .filter(|a| a.approver == *who)
                    .collect();
                if asks.is_empty() {
                    self.problems
                        .push(format!("no Slack ask to {who} was recorded"));
                }
                let sent = self.stack.outside.sent();
                for ask in asks {
                    let replaced = sent.iter().any(|m| {
                        m.channel == "slack_update"
                            && m.to == ask.channel
                            && m.ts.as_deref() == Some(ask.ts.as_str())
                            && !m.body.to_string().contains("\"actions\"")
                    });
                    if !replaced {
                        self.problems.push(format!(
                            "the Slack ask to {who} ({}) still has its buttons",
                            ask.ts
                        ));
                    }
                }
                Ok(())
            }
            Action::ExpectAsked { release, who, says } => {
                // What the approver is shown: the mail SES sent, and the page its link opens.
                let release_now = self.release(*release).await?;
                let address = self.email_of(who);
                let title = format!("v{} of", release_now.semver);
                let mailed = self.stack.control.mail().await?.iter().any(|m| {
                    m["to"]
                        .as_array()
                        .is_some_and(|to| to.iter().any(|a| a.as_str() == Some(address.as_str())))
                        && {
                            let text = text_of(m);
                            text.contains(&title) && text.contains(says)
                        }
                });
                if !mailed {
                    self.problems.push(format!(
                        "the approval mail to {who} does not say \"{says}\""
                    ));
                }
                if let Some(link) = self.link_for(*release, who).await? {
                    let page = self
                        .http
                        .get(&link)
                        .send()
                        .await
                        .map_err(|e| TwinError::Step(format!("opening the link: {e}")))?
                        .text()
                        .await
                        .unwrap_or_default();
                    let reason = says.rsplit(": ").next().unwrap_or(says);
                    if !page.contains(reason) {
                        self.problems.push(format!(
                            "the approval page of {who} does not show \"{reason}\""
                        ));
                    }
                }
                Ok(())
            }
            Action::RollBackByLink {
                release,
                who,
                reason,
            } => {
                if let Err(e) = self.roll_back_by_link(*release, who, reason).await {
                    self.problems.push(e);
                }
                Ok(())
            }
            Action::Fault { version, faults } => self.set_faults(version, faults).await,
            Action::ExpectNoAlarm => {
                let sdk = admin_sdk(self.stack).await;
                let described = aws_sdk_cloudwatch::Client::new(&sdk)
                    .describe_alarms()
                    .set_alarm_names(Some(self.stack.config.monitor.alarms.clone()))
                    .send()
                    .await
                    .map_err(|e| TwinError::Step(format!("describing the alarms: {e}")))?;
                for alarm in described.metric_alarms() {
                    if alarm.state_value() == Some(&aws_sdk_cloudwatch::types::StateValue::Alarm) {
                        self.problems.push(format!(
                            "alarm {} is in ALARM",
                            alarm.alarm_name().unwrap_or_default()
                        ));
                    }
                }
                Ok(())
            }
            Action::ExpectGitHub { method, path, says } => {
                self.stack.settle().await?;
                let calls = self.stack.outside.github_calls();
                self.problems.extend(shipgate_local::demo::call_problem(
                    "GitHub", &calls, method, path, says,
                ));
                Ok(())
            }
            Action::ExpectPagerDuty { path, says } => {
                self.stack.settle().await?;
                let events = self.stack.outside.pagerduty_events();
                self.problems.extend(shipgate_local::demo::call_problem(
                    "PagerDuty",
                    &events,
                    "POST",
                    path,
                    says,
                ));
                Ok(())
            }
            Action::CheckRerun {
                release,
                check,
                conclusion,
            } => self.check_rerun(*release, check, conclusion).await,
            Action::ExpectChannel { says } => {
                self.stack.settle().await?;
                let texts = self.channel_texts();
                self.problems.extend(shipgate_local::demo::channel_problem(
                    texts.iter().map(String::as_str),
                    says,
                ));
                Ok(())
            }
            Action::ExpectUserEmail { to, says } => {
                self.stack.settle().await?;
                self.user_email(to, Some(says)).await
            }
            Action::ExpectNoUserEmail { to } => {
                self.stack.settle().await?;
                self.user_email(to, None).await
            }
            Action::ExpectDeployedAsStaged { release, staged } => {
                self.stack.settle().await?;
                let (production, staged) =
                    (self.release(*release).await?, self.release(*staged).await?);
                self.problems
                    .extend(shipgate_local::demo::deployed_as_staged_problem(
                        &production,
                        &staged,
                    ));
                Ok(())
            }
            Action::ExpectState { release, state } => {
                self.stack.settle().await?;
                let current = self.release(*release).await?;
                if current.state != *state {
                    self.problems.push(format!(
                        "at {when} release #{release} was {} instead of {state}",
                        current.state
                    ));
                }
                Ok(())
            }
        }
    }

    /// Release number `n` as the release table holds it.
    pub async fn release(&self, n: usize) -> Result<Release, TwinError> {
        let id = self
            .ids
            .get(n)
            .ok_or_else(|| TwinError::Step(format!("no release #{n}")))?;
        self.store
            .get(id)
            .await
            .map_err(|e| TwinError::Step(format!("reading release {id}: {e}")))?
            .ok_or_else(|| TwinError::Step(format!("release {id} is not in the table")))
    }

    fn email_of(&self, who: &str) -> String {
        self.stack
            .config
            .approvers
            .iter()
            .find(|a| a.id == who)
            .map(|a| a.email.clone())
            .unwrap_or_else(|| format!("{who}@roleferry.example"))
    }

    /// A push to the release branch, signed with the webhook secret, to the trigger's URL.
    /// Version `tag`'s faults: in moto's ECS, the demo application and the alarms.
    pub async fn set_faults(&mut self, tag: &str, faults: &Faults) -> Result<(), TwinError> {
        self.stack
            .control
            .set_faults(&json!({ tag: {
                "fail_stability": faults.fail_stability,
                "migration_exit_code": faults.migration_exit_code,
                "reverse_migration_exit_code": faults.reverse_migration_exit_code,
            }}))
            .await?;
        if let Some(path) = &faults.failing_path
            && let Ok(mut failing) = self.stack.outside.failing_paths.lock()
        {
            failing.insert(tag.to_string(), path.clone());
        }
        if let Some((alarm, minutes)) = &faults.alarm_after_minutes {
            self.alarm_faults
                .push((tag.to_string(), alarm.clone(), *minutes, false));
        }
        if faults.error_rate.is_some() || faults.p99_latency_ms.is_some() {
            self.problems.push(
                "error-rate and latency faults need a load balancer's metrics, which the twin's stack has none of".into(),
            );
        }
        Ok(())
    }

    pub async fn push(&mut self, spec: &StartSpec) -> Result<(), TwinError> {
        let version: Version = spec
            .version
            .parse()
            .map_err(|e| TwinError::Step(format!("version {}: {e}", spec.version)))?;
        let base = self
            .versions
            .iter()
            .copied()
            .max()
            .unwrap_or(self.stack.config.service.initial_version);
        let messages = push_messages(spec, version, base);
        let tag = spec.version.to_string();
        self.set_faults(&tag, &spec.faults).await?;
        self.push_image(&tag).await?;
        let commit = spec.commit();
        if let Ok(mut world) = self.stack.outside.github.lock() {
            seed_evidence(&mut world, &self.stack.config, spec, &commit);
        }
        let email = self.email_of(spec.author);
        let commits: Vec<Value> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let id = if i + 1 == messages.len() {
                    commit.clone()
                } else {
                    commit_for(&format!("{tag}-{i}"))
                };
                json!({"id": id, "message": m, "author": {"name": spec.author, "email": email, "username": spec.author}})
            })
            .collect();
        let repository = &self.stack.config.service.repository;
        // A push to an environment's branch (`develop`) releases there.
        let branch = match spec.environment {
            Some(env) => self
                .stack
                .config
                .environments
                .get(env)
                .map(|e| e.branch.clone())
                .ok_or_else(|| TwinError::Step(format!("no environment `{env}`")))?,
            None => self.stack.config.web.branch.clone(),
        };
        let payload = json!({
            "ref": format!("refs/heads/{branch}"),
            "before": "0".repeat(40),
            "after": commit,
            "repository": {"full_name": repository, "name": repository.rsplit('/').next()},
            "pusher": {"name": spec.author, "email": email},
            "sender": {"login": spec.author},
            "head_commit": commits.last(),
            "commits": commits,
        })
        .to_string();
        let (status, body) = self.deliver_github("push", payload).await?;
        if status != 201 {
            return Err(TwinError::Step(format!(
                "the push answered {status}: {body}"
            )));
        }
        let id: ReleaseId = body["release_id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| TwinError::Step(format!("the push started no release: {body}")))?;
        if body["version"].as_str() != Some(spec.version) {
            self.problems.push(format!(
                "the push released {} where the scenario expects {}",
                body["version"], spec.version
            ));
        }
        self.ids.push(id);
        self.versions.push(version);
        self.stack.settle().await
    }

    async fn next_alarm_fault(&self) -> Result<Option<DateTime<Utc>>, TwinError> {
        if self.alarm_faults.iter().all(|f| f.3) {
            return Ok(None);
        }
        let service = self.stack.control.service().await?;
        let (Some(tag), Some(since)) = (service.serving_image_tag, service.serving_since) else {
            return Ok(None);
        };
        Ok(self
            .alarm_faults
            .iter()
            .filter(|f| !f.3 && f.0 == tag)
            .map(|f| since + Duration::minutes(f.2.into()))
            .min())
    }

    /// Trips a faulted version's alarm once it has served long enough; clears it when the
    /// version no longer serves.
    async fn check_alarm_faults(&mut self) -> Result<(), TwinError> {
        if self.alarm_faults.is_empty() {
            return Ok(());
        }
        let service = self.stack.control.service().await?;
        let now = self.stack.clock.now();
        for i in 0..self.alarm_faults.len() {
            let (tag, alarm, minutes, fired) = self.alarm_faults[i].clone();
            let serving = service.serving_image_tag.as_deref() == Some(tag.as_str());
            if !fired
                && serving
                && service
                    .serving_since
                    .is_some_and(|s| s + Duration::minutes(minutes.into()) <= now)
            {
                self.alarm_faults[i].3 = true;
                self.stack
                    .set_alarm(
                        &alarm,
                        "ALARM",
                        &format!("Threshold crossed: {tag} answers 5xx"),
                    )
                    .await?;
            } else if fired && !serving {
                self.stack.set_alarm(&alarm, "OK", "back to normal").await?;
                self.alarm_faults[i].2 = u32::MAX;
            }
        }
        self.alarm_faults.retain(|f| f.2 != u32::MAX);
        Ok(())
    }

    pub async fn report(mut self, scenario: &Scenario) -> Result<TwinReport, TwinError> {
        let stack = self.stack;
        stack.sync_calls().await?;
        let mut releases = Vec::new();
        for n in 0..self.ids.len() {
            releases.push(self.release(n).await?);
        }
        let channel = &stack.config.notifications.slack_channel;
        let announcements: Vec<AnnouncementView> = stack
            .outside
            .sent()
            .into_iter()
            .filter(|s| (s.channel == "slack" && &s.to == channel) || s.channel == "status_page")
            .map(|s| AnnouncementView {
                channel: s.channel,
                text: s.text,
            })
            .chain(pages(&stack.control.mail().await?))
            .collect();
        let service = stack.control.service().await?;
        let tasks_run = stack
            .control
            .tasks()
            .await?
            .iter()
            .map(|t| {
                let command: Vec<&str> = t["command"]
                    .as_array()
                    .map(|c| c.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                format!("{} → exit {}", command.join(" "), t["exit_code"])
            })
            .collect();
        let reports: Vec<ReleaseReport> = releases.iter().map(ReleaseReport::from).collect();
        self.problems
            .extend(ending_problems(&releases, &stack.executions()?));
        if let Ok(p) = stack.problems.lock() {
            self.problems.extend(p.iter().cloned());
        }
        let denied = stack.calls.denied();
        for d in &denied {
            self.problems.push(format!(
                "{} was denied {} ({} times)",
                d.call.function, d.call.action, d.count
            ));
        }
        let Some(last) = reports.last().cloned() else {
            return Err(TwinError::Step(format!(
                "scenario {} started no release",
                scenario.name
            )));
        };
        self.problems.extend(state_problems(scenario, &reports));
        let mut invocations = std::collections::BTreeMap::new();
        for i in stack.lambda.invocations() {
            *invocations.entry(i.function).or_insert(0) += 1;
        }
        Ok(TwinReport {
            report: ScenarioReport {
                scenario: scenario.name.to_string(),
                summary: scenario.summary.to_string(),
                expected_state: scenario.expected_state,
                final_state: last.final_state,
                passed: self.problems.is_empty(),
                problems: self.problems,
                deploy_started_at: last.deploy_started_at,
                previous_task_definition: last.previous_task_definition.clone(),
                serving_task_definition: service.serving,
                approvals: last.approvals.clone(),
                announcements,
                releases: reports,
                tasks_run,
                github: stack.outside.github_calls(),
                pagerduty: stack.outside.pagerduty_events(),
            },
            aws_calls: stack.calls.all(),
            denied,
            invocations,
        })
    }
}

/// The on-call pages among the mail SES sent (`[PAGE] …`), as announcements.
fn pages(mail: &[Value]) -> Vec<AnnouncementView> {
    mail.iter()
        .filter(|m| {
            m["subject"]
                .as_str()
                .is_some_and(|s| s.starts_with("[PAGE] "))
        })
        .map(|m| AnnouncementView {
            channel: "page".into(),
            text: m["text"].as_str().unwrap_or_default().to_string(),
        })
        .collect()
}
