//! In-memory fakes of every port, for unit tests of the gates' domain logic. Each records
//! what was asked of it in one shared log, so tests can assert order ("previous task
//! definition stored before the service changed").

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::config::{Config, HealthCheck};
use crate::deps::Deps;
use crate::error::GateError;
use crate::gate::Gate;
use crate::model::{
    Changelog, NewRelease, Release, ReleaseId, ReleaseState, ReleaseType, ServiceName,
};
use crate::ports::*;

pub(crate) type Log = Arc<Mutex<Vec<String>>>;

fn push(log: &Log, line: String) {
    log.lock().unwrap().push(line);
}

pub(crate) struct TestClock(pub Mutex<DateTime<Utc>>);
impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

#[derive(Default)]
pub(crate) struct MemoryStore {
    pub releases: Mutex<BTreeMap<ReleaseId, Release>>,
    pub locks: Mutex<BTreeMap<ServiceName, (ReleaseId, DateTime<Utc>)>>,
    pub log: Log,
}

#[async_trait]
impl ReleaseStore for MemoryStore {
    async fn create(&self, release: &Release) -> Result<(), StoreError> {
        let mut all = self.releases.lock().unwrap();
        if all.contains_key(&release.id) {
            return Err(StoreError::AlreadyExists(release.id.to_string()));
        }
        if let Some(taken) = all
            .values()
            .find(|r| r.service == release.service && r.semver == release.semver)
        {
            return Err(StoreError::VersionTaken {
                service: release.service.to_string(),
                version: release.semver.to_string(),
                commit: taken.commit.clone(),
            });
        }
        all.insert(release.id.clone(), release.clone());
        Ok(())
    }
    async fn get(&self, id: &ReleaseId) -> Result<Option<Release>, StoreError> {
        Ok(self.releases.lock().unwrap().get(id).cloned())
    }
    async fn update(&self, release: &Release) -> Result<Release, StoreError> {
        let mut all = self.releases.lock().unwrap();
        let stored = all
            .get_mut(&release.id)
            .ok_or_else(|| StoreError::NotFound(release.id.to_string()))?;
        if stored.version != release.version {
            return Err(StoreError::Conflict {
                id: release.id.to_string(),
                expected: release.version,
            });
        }
        let mut next = release.clone();
        next.version += 1;
        *stored = next.clone();
        push(&self.log, format!("store {} {}", release.id, release.state));
        Ok(next)
    }
    async fn list(&self, filter: &ReleaseFilter) -> Result<Vec<Release>, StoreError> {
        let mut found: Vec<Release> = self
            .releases
            .lock()
            .unwrap()
            .values()
            .filter(|r| filter.service.as_ref().is_none_or(|s| &r.service == s))
            .filter(|r| filter.states.is_empty() || filter.states.contains(&r.state))
            .cloned()
            .collect();
        found.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        Ok(found)
    }
    async fn window_queue(&self, service: &ServiceName) -> Result<Vec<Release>, StoreError> {
        let mut q: Vec<_> = self
            .releases
            .lock()
            .unwrap()
            .values()
            .filter(|r| &r.service == service && r.state == ReleaseState::AwaitingWindow)
            .cloned()
            .collect();
        q.sort_by_key(|r| (r.queued_at.is_none(), r.queued_at, r.created_at));
        Ok(q)
    }
    async fn highest_version(
        &self,
        service: &ServiceName,
    ) -> Result<Option<(crate::semver::Version, String)>, StoreError> {
        Ok(self
            .releases
            .lock()
            .unwrap()
            .values()
            .filter(|r| &r.service == service)
            .map(|r| (r.semver, r.commit.clone()))
            .max_by_key(|(v, _)| *v))
    }

    async fn last_released(&self, service: &ServiceName) -> Result<Option<Release>, StoreError> {
        Ok(self
            .releases
            .lock()
            .unwrap()
            .values()
            .filter(|r| &r.service == service && r.state == ReleaseState::Succeeded)
            .max_by_key(|r| r.finished_at)
            .cloned())
    }
    async fn acquire_lock(
        &self,
        service: &ServiceName,
        holder: &ReleaseId,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<LockOutcome, StoreError> {
        let mut locks = self.locks.lock().unwrap();
        match locks.get(service) {
            // A lease holds up to its last instant.
            Some((other, until)) if other != holder && *until >= now => {
                Ok(LockOutcome::HeldBy(other.clone()))
            }
            _ => {
                locks.insert(service.clone(), (holder.clone(), lease_until));
                Ok(LockOutcome::Acquired)
            }
        }
    }
    async fn release_lock(
        &self,
        service: &ServiceName,
        holder: &ReleaseId,
    ) -> Result<bool, StoreError> {
        let mut locks = self.locks.lock().unwrap();
        if locks.get(service).is_some_and(|(h, _)| h == holder) {
            locks.remove(service);
            return Ok(true);
        }
        Ok(false)
    }
    async fn lock_holder(
        &self,
        service: &ServiceName,
        now: DateTime<Utc>,
    ) -> Result<Option<ReleaseId>, StoreError> {
        Ok(self
            .locks
            .lock()
            .unwrap()
            .get(service)
            .filter(|(_, until)| *until >= now)
            .map(|(h, _)| h.clone()))
    }
}

pub(crate) struct FakeDeployer {
    pub current: Mutex<String>,
    pub rollout: Mutex<Rollout>,
    pub exit_codes: Mutex<Vec<i32>>,
    pub fail_update: Mutex<bool>,
    /// Started tasks and their exit codes, by ARN.
    pub tasks: Mutex<std::collections::HashMap<String, i32>>,
    /// Task ARNs by the `startedBy` they were started with.
    pub started_by: Mutex<std::collections::HashMap<String, String>>,
    /// The registry's digests by image reference (unknown images have none).
    pub digests: Mutex<std::collections::HashMap<String, String>>,
    pub log: Log,
}

#[async_trait]
impl Deployer for FakeDeployer {
    async fn image_digest(&self, image: &str) -> Result<Option<String>, DeployError> {
        Ok(self.digests.lock().unwrap().get(image).cloned())
    }
    async fn current_task_definition(&self, _t: &DeployTarget) -> Result<String, DeployError> {
        push(&self.log, "ecs describe".into());
        Ok(self.current.lock().unwrap().clone())
    }
    async fn register_with_image(
        &self,
        base: &str,
        container: &str,
        image: &str,
    ) -> Result<String, DeployError> {
        push(
            &self.log,
            format!("ecs register {base} {container} {image}"),
        );
        Ok("arn:td/app:2".into())
    }
    async fn update_service(&self, _t: &DeployTarget, td: &str) -> Result<(), DeployError> {
        push(&self.log, format!("ecs update {td}"));
        if *self.fail_update.lock().unwrap() {
            return Err(DeployError::Refused("service is draining".into()));
        }
        *self.current.lock().unwrap() = td.to_string();
        Ok(())
    }
    async fn deployment_status(&self, _t: &DeployTarget) -> Result<DeploymentStatus, DeployError> {
        Ok(DeploymentStatus {
            task_definition: self.current.lock().unwrap().clone(),
            rollout: *self.rollout.lock().unwrap(),
            running: 2,
            desired: 2,
            reason: Some("essential container exited".into()),
        })
    }
    async fn start_task(
        &self,
        _t: &DeployTarget,
        td: &str,
        _c: &str,
        command: &[String],
        started_by: &str,
    ) -> Result<String, DeployError> {
        push(&self.log, format!("ecs run {td} {}", command.join(" ")));
        let code = self.exit_codes.lock().unwrap().pop().unwrap_or(0);
        let mut tasks = self.tasks.lock().unwrap();
        let arn = format!("arn:task/{}", tasks.len() + 1);
        tasks.insert(arn.clone(), code);
        self.started_by
            .lock()
            .unwrap()
            .insert(started_by.to_string(), arn.clone());
        Ok(arn)
    }
    async fn find_task(
        &self,
        _t: &DeployTarget,
        started_by: &str,
    ) -> Result<Option<String>, DeployError> {
        Ok(self.started_by.lock().unwrap().get(started_by).cloned())
    }
    async fn wait_task(
        &self,
        _t: &DeployTarget,
        task_arn: &str,
        _c: &str,
    ) -> Result<TaskOutcome, DeployError> {
        let code = *self
            .tasks
            .lock()
            .unwrap()
            .get(task_arn)
            .ok_or_else(|| DeployError::Refused(format!("no task {task_arn}")))?;
        Ok(TaskOutcome {
            task_arn: task_arn.to_string(),
            exit_code: code,
        })
    }
}

pub(crate) struct FakeProbe {
    pub statuses: Mutex<BTreeMap<String, u16>>,
}

#[async_trait]
impl HealthProbe for FakeProbe {
    async fn probe(&self, _base: &str, check: &HealthCheck) -> Result<ProbeResult, ProbeError> {
        let status = self
            .statuses
            .lock()
            .unwrap()
            .get(&check.path)
            .copied()
            .unwrap_or(200);
        Ok(ProbeResult { status, millis: 3 })
    }
}

#[derive(Default)]
pub(crate) struct FakeAlarms {
    pub in_alarm: Mutex<Vec<String>>,
    pub error_rate: Mutex<Option<f64>>,
}

#[async_trait]
impl Alarms for FakeAlarms {
    async fn states(&self, names: &[String]) -> Result<Vec<AlarmState>, AlarmsError> {
        let firing = self.in_alarm.lock().unwrap();
        Ok(names
            .iter()
            .map(|n| AlarmState {
                name: n.clone(),
                in_alarm: firing.contains(n),
                reason: "threshold crossed".into(),
            })
            .collect())
    }
    async fn metrics(
        &self,
        _s: &ServiceName,
        _f: DateTime<Utc>,
        _t: DateTime<Utc>,
    ) -> Result<MetricsSample, AlarmsError> {
        Ok(MetricsSample {
            error_rate: *self.error_rate.lock().unwrap(),
            p99_latency_ms: Some(100.0),
        })
    }
}

/// A token answered: its output, or its error and cause.
pub(crate) type TokenAnswer = (String, Result<Value, (String, String)>);

#[derive(Default)]
pub(crate) struct Recorder {
    pub sent: Mutex<Vec<Notification>>,
    pub tokens: Mutex<Vec<TokenAnswer>>,
    pub started: Mutex<Vec<String>>,
    /// Each execution started, with its input.
    pub inputs: Mutex<Vec<(String, Value)>>,
    pub wakes: Mutex<Vec<DateTime<Utc>>>,
    /// Wake-ups other than the window's.
    pub scheduled: Mutex<Vec<(WakeUp, DateTime<Utc>)>>,
    /// The users' contact list; `None`: it cannot be read.
    pub contacts: Mutex<Option<crate::ports::ContactList>>,
}

#[async_trait]
impl Notifier for Recorder {
    async fn send(&self, message: &Notification) -> Result<(), NotifyError> {
        self.sent.lock().unwrap().push(message.clone());
        Ok(())
    }

    async fn contacts(
        &self,
        _list: &str,
        _topic: &str,
    ) -> Result<crate::ports::ContactList, NotifyError> {
        self.contacts
            .lock()
            .unwrap()
            .clone()
            .ok_or_else(|| NotifyError::Delivery {
                channel: "user_email",
                source: "the contact list is unreachable".into(),
            })
    }
}

#[async_trait]
impl TaskTokens for Recorder {
    async fn succeed(&self, token: &str, output: Value) -> Result<(), WorkflowError> {
        self.tokens.lock().unwrap().push((token.into(), Ok(output)));
        Ok(())
    }
    async fn fail(&self, token: &str, error: &str, cause: &str) -> Result<(), WorkflowError> {
        self.tokens
            .lock()
            .unwrap()
            .push((token.into(), Err((error.into(), cause.into()))));
        Ok(())
    }
    async fn heartbeat(&self, _token: &str) -> Result<(), WorkflowError> {
        Ok(())
    }
}

#[async_trait]
impl Executions for Recorder {
    async fn start(&self, name: &str, input: Value) -> Result<String, WorkflowError> {
        self.started.lock().unwrap().push(name.into());
        self.inputs.lock().unwrap().push((name.into(), input));
        Ok(format!("exec:{name}"))
    }
}

#[async_trait]
impl WindowScheduler for Recorder {
    async fn wake_at(&self, at: DateTime<Utc>) -> Result<(), WorkflowError> {
        self.wakes.lock().unwrap().push(at);
        Ok(())
    }
    async fn schedule(&self, wake: &WakeUp, at: DateTime<Utc>) -> Result<(), WorkflowError> {
        match wake {
            WakeUp::Window => self.wake_at(at).await,
            other => {
                self.scheduled.lock().unwrap().push((other.clone(), at));
                Ok(())
            }
        }
    }
}

/// GitHub as the gates see it: issues and pull requests numbered from 1, files by branch,
/// every request recorded; `refuse` answers the calls whose `METHOD path` contains its
/// text with its status instead (a 503, a 403; `""` for every call); `merge_status` is what
/// a merge answers (201 merged, 204 nothing to merge, 409 conflict).
pub(crate) struct FakeGitHub {
    pub requests: Mutex<Vec<crate::github::GitHubRequest>>,
    pub refuse: Mutex<Option<(String, u16)>>,
    pub merge_status: Mutex<u16>,
    pub files: Mutex<BTreeMap<(String, String), String>>,
    /// The issues opened: number, labels, body.
    pub issues: Mutex<Vec<(u64, Vec<String>, String)>>,
    /// The answers to reads of a commit's reports, by the end of their path
    /// (`check-runs`, `status`, `pulls`, `pulls/7/reviews`); unset, nothing reported.
    pub reports: Mutex<BTreeMap<String, Value>>,
    next: Mutex<u64>,
}

impl Default for FakeGitHub {
    fn default() -> Self {
        FakeGitHub {
            requests: Mutex::default(),
            refuse: Mutex::default(),
            merge_status: Mutex::new(201),
            files: Mutex::default(),
            issues: Mutex::default(),
            reports: Mutex::default(),
            next: Mutex::new(1),
        }
    }
}

impl FakeGitHub {
    /// `METHOD path` of every request, in order.
    pub(crate) fn calls(&self) -> Vec<String> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }

    /// The body of the last request whose `METHOD path` contains `what`.
    pub(crate) fn body_of(&self, what: &str) -> Value {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|r| format!("{} {}", r.method, r.path).contains(what))
            .and_then(|r| r.body.clone())
            .unwrap_or(Value::Null)
    }
}

#[async_trait]
impl crate::github::GitHub for FakeGitHub {
    async fn call(
        &self,
        call: &crate::github::GitHubCall,
    ) -> Result<crate::github::GitHubAnswer, crate::github::GitHubError> {
        use crate::github::{GitHubAnswer, GitHubCall};
        use base64::Engine as _;
        use serde_json::json;
        let request = call.request("roleferry/roleferry-api");
        let line = format!("{} {}", request.method, request.path);
        self.requests.lock().unwrap().push(request);
        let answer = |status: u16, body: Value| Ok(GitHubAnswer { status, body });
        let refused = self.refuse.lock().unwrap().clone();
        if let Some((_, status)) = refused.filter(|(what, _)| line.contains(what)) {
            return answer(status, json!({ "message": "refused by the test" }));
        }
        let next = || {
            let mut n = self.next.lock().unwrap();
            *n += 1;
            *n - 1
        };
        match call {
            GitHubCall::ListIssues { labels } => {
                let issues = self.issues.lock().unwrap();
                let listed: Vec<Value> = issues
                    .iter()
                    .filter(|(_, l, _)| labels.iter().all(|w| l.contains(w)))
                    .map(|(n, _, body)| json!({ "number": n, "body": body }))
                    .collect();
                answer(200, Value::Array(listed))
            }
            GitHubCall::OpenIssue { labels, body, .. } => {
                let n = next();
                self.issues
                    .lock()
                    .unwrap()
                    .push((n, labels.clone(), body.clone()));
                answer(201, json!({ "number": n }))
            }
            GitHubCall::OpenPull { .. } => answer(201, json!({ "number": next() })),
            GitHubCall::ListPulls { .. } => answer(200, json!([])),
            GitHubCall::Comment { .. } => answer(201, json!({ "id": next() })),
            GitHubCall::ListComments { issue } => {
                let path = format!("/issues/{issue}/comments");
                let comments: Vec<Value> = self
                    .requests
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|r| r.method == "POST" && r.path.ends_with(&path))
                    .map(|r| json!({ "body": r.body.as_ref().map(|b| b["body"].clone()) }))
                    .collect();
                answer(200, Value::Array(comments))
            }
            GitHubCall::CloseIssue { issue, .. } => {
                answer(200, json!({ "number": issue, "state": "closed" }))
            }
            GitHubCall::CreateTag { .. } => answer(201, json!({ "sha": "tagobject" })),
            GitHubCall::CreateRef { .. } | GitHubCall::CreateRelease { .. } => {
                answer(201, json!({}))
            }
            GitHubCall::GetBranch { .. } => answer(200, json!({ "object": { "sha": "mainhead" } })),
            GitHubCall::GetFile { path, branch } => {
                match self
                    .files
                    .lock()
                    .unwrap()
                    .get(&(branch.clone(), path.clone()))
                {
                    Some(text) => answer(
                        200,
                        json!({
                            "content": base64::engine::general_purpose::STANDARD.encode(text),
                            "sha": "blob",
                        }),
                    ),
                    None => answer(404, json!({ "message": "Not Found" })),
                }
            }
            GitHubCall::PutFile {
                path,
                branch,
                content,
                ..
            } => {
                self.files
                    .lock()
                    .unwrap()
                    .insert((branch.clone(), path.clone()), content.clone());
                answer(201, json!({}))
            }
            GitHubCall::Merge { .. } => answer(*self.merge_status.lock().unwrap(), json!({})),
            GitHubCall::CheckRuns { .. }
            | GitHubCall::CombinedStatus { .. }
            | GitHubCall::PullsOfCommit { .. }
            | GitHubCall::GetCommit { .. }
            | GitHubCall::Reviews { .. } => {
                let route = request_route(&line);
                let empty = match route.as_str() {
                    "check-runs" => json!({ "total_count": 0, "check_runs": [] }),
                    "status" => json!({ "state": "pending", "statuses": [] }),
                    _ => json!([]),
                };
                let reports = self.reports.lock().unwrap();
                answer(200, reports.get(&route).cloned().unwrap_or(empty))
            }
        }
    }
}

/// `check-runs`, `status`, `pulls` or `pulls/7/reviews`: the end of a report's path.
fn request_route(line: &str) -> String {
    let path = line.split('?').next().unwrap_or_default();
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        [.., "pulls", n, "reviews"] => format!("pulls/{n}/reviews"),
        [.., last] => (*last).to_string(),
        [] => String::new(),
    }
}

pub(crate) struct Kit {
    pub deps: Deps,
    pub github: Arc<FakeGitHub>,
    pub store: Arc<MemoryStore>,
    pub ecs: Arc<FakeDeployer>,
    pub probe: Arc<FakeProbe>,
    pub alarms: Arc<FakeAlarms>,
    pub rec: Arc<Recorder>,
    pub clock: Arc<TestClock>,
    pub log: Log,
}

pub(crate) fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

impl Kit {
    pub(crate) fn new(now: &str) -> Kit {
        Self::with_config(crate::config::tests::example(), now)
    }

    pub(crate) fn with_config(mut config: Config, now: &str) -> Kit {
        config.window.freezes.clear();
        config.web.link_key = Some(crate::config::Secret::new("test link key"));
        let log: Log = Arc::default();
        let store = Arc::new(MemoryStore {
            log: log.clone(),
            ..Default::default()
        });
        let ecs = Arc::new(FakeDeployer {
            current: Mutex::new("arn:td/app:1".into()),
            rollout: Mutex::new(Rollout::Completed),
            exit_codes: Mutex::default(),
            fail_update: Mutex::new(false),
            tasks: Mutex::default(),
            started_by: Mutex::default(),
            digests: Mutex::default(),
            log: log.clone(),
        });
        let probe = Arc::new(FakeProbe {
            statuses: Mutex::default(),
        });
        let alarms = Arc::new(FakeAlarms::default());
        let rec = Arc::new(Recorder::default());
        let clock = Arc::new(TestClock(Mutex::new(at(now))));
        let github = Arc::new(FakeGitHub::default());
        let deps = Deps::new(Arc::new(config), clock.clone())
            .with_github(github.clone())
            .with_store(store.clone())
            .with_deployer(ecs.clone())
            .with_health(probe.clone())
            .with_alarms(alarms.clone())
            .with_notifier(rec.clone())
            .with_tokens(rec.clone())
            .with_executions(rec.clone())
            .with_scheduler(rec.clone());
        Kit {
            deps,
            github,
            store,
            ecs,
            probe,
            alarms,
            rec,
            clock,
            log,
        }
    }

    pub(crate) fn set_now(&self, now: &str) {
        *self.clock.0.lock().unwrap() = at(now);
    }

    /// Puts a release straight into `state`, as if the earlier gates had run.
    pub(crate) async fn release_in(
        &self,
        version: &str,
        kind: ReleaseType,
        state: ReleaseState,
    ) -> Release {
        let mut r = Release::open(
            NewRelease {
                service: "api".parse().unwrap(),
                version: version.parse().unwrap(),
                commit: format!("commit{version}"),
                author: "alex".into(),
                changelog: Changelog {
                    features: vec!["Feature".into()],
                    fixes: vec!["Fix".into()],
                },
                release_type: Some(kind),
                bypass_reason: None,
                contributors: Vec::new(),
                user_announcement: None,
            },
            kind,
            format!("repo:{version}"),
            self.clock.now(),
        );
        r.state = state;
        if state.is_live() || state == ReleaseState::Succeeded {
            r.previous_task_definition = Some("arn:td/app:1".into());
            r.new_task_definition = Some("arn:td/app:2".into());
            r.deploy_started_at = Some(self.clock.now());
            *self.ecs.current.lock().unwrap() = "arn:td/app:2".into();
        }
        if state == ReleaseState::Monitoring {
            r.events.push(crate::model::AuditEvent {
                at: self.clock.now(),
                actor: "test".into(),
                kind: crate::model::EventKind::Transition,
                from: Some(ReleaseState::HealthChecking),
                to: Some(ReleaseState::Monitoring),
                detail: String::new(),
            });
        }
        self.store.create(&r).await.unwrap();
        r
    }

    pub(crate) async fn get(&self, id: &ReleaseId) -> Release {
        self.store.get(id).await.unwrap().unwrap()
    }

    pub(crate) fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    pub(crate) fn texts(&self) -> Vec<String> {
        self.rec
            .sent
            .lock()
            .unwrap()
            .iter()
            .map(|n| n.text().to_string())
            .collect()
    }
}

/// Runs `gate` as its Lambda function would: with only the ports it declares
/// ([`Gate::ports`]). Reaching any other port fails the test.
pub(crate) async fn invoke(deps: &Deps, gate: Gate, payload: Value) -> Result<Value, GateError> {
    let before = deps.unwired_reached().len();
    let only = deps.only(gate.ports());
    let result = crate::gates::invoke(&only, gate, payload).await;
    let reached = deps.unwired_reached();
    assert!(
        reached.len() == before,
        "the {} gate reached ports it does not declare: {:?}",
        gate.name(),
        &reached[before..]
    );
    result
}

#[tokio::test]
async fn given_a_fresh_memory_store_when_the_contract_runs_then_every_check_holds() {
    crate::store_contract::check(|| async { MemoryStore::default() }).await;
}
