//! The gates by name, and the ports each one may use. A gate's function links and builds
//! only its ports; anything else it reaches is a misconfiguration
//! ([`crate::deps::Deps::only`]).

#![warn(missing_docs)]

use std::fmt;
use std::str::FromStr;

/// The gates as Lambda functions, by the name of their function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Gate {
    /// `approve`: asks the approvers who can complete the quorum, reminds them and escalates
    /// while the flow waits for their decision.
    Approve,
    /// `window`: queues an approved release and lets it through when the window and the
    /// service's lane allow.
    Window,
    /// `deploy`: records the task definition the service runs, registers the new one, runs
    /// the migration and updates the service; then reports the rollout until it is stable.
    Deploy,
    /// `health-check`: probes the critical paths.
    HealthCheck,
    /// `monitor`: watches the alarms, error rate and p99 latency for the monitoring period.
    Monitor,
    /// `rollback`: restores the task definition recorded before the deploy, reverses the
    /// migration if one ran, and verifies the restore (settled, critical paths answering).
    Rollback,
    /// `announce`: ends the release, tells people the outcome and frees the service's lane.
    Announce,
}

impl Gate {
    /// Every gate, in the order of the flow (the rollback, off the happy path, before the
    /// announce that ends every path).
    pub const ALL: [Gate; 7] = [
        Gate::Approve,
        Gate::Window,
        Gate::Deploy,
        Gate::HealthCheck,
        Gate::Monitor,
        Gate::Rollback,
        Gate::Announce,
    ];

    /// The function's name, as in `functions/<name>`.
    pub fn name(self) -> &'static str {
        match self {
            Gate::Approve => "approve",
            Gate::Window => "window",
            Gate::Deploy => "deploy",
            Gate::HealthCheck => "health-check",
            Gate::Monitor => "monitor",
            Gate::Rollback => "rollback",
            Gate::Announce => "announce",
        }
    }

    /// The ports the gate uses, beside the configuration, the clock and the worker
    /// registry every gate has. Its Lambda function builds exactly these.
    pub fn ports(self) -> &'static [Port] {
        use Port::*;
        match self {
            Gate::Approve => &[Store, Notifier, Scheduler, GitHub],
            Gate::Window => &[Store, Notifier, Scheduler, Tokens, Executions],
            Gate::Deploy => &[Store, Deployer, Notifier, GitHub],
            Gate::HealthCheck => &[Store, Health],
            Gate::Monitor => &[Store, Alarms],
            Gate::Rollback => &[Store, Deployer, Health, Executions, GitHub],
            Gate::Announce => &[Store, Deployer, Notifier, Tokens, GitHub],
        }
    }

    /// The `${...}` placeholder `statemachine.json` uses for the function's ARN.
    pub fn placeholder(self) -> &'static str {
        match self {
            Gate::Approve => "${ApproveFunctionArn}",
            Gate::Window => "${WindowFunctionArn}",
            Gate::Deploy => "${DeployFunctionArn}",
            Gate::HealthCheck => "${HealthCheckFunctionArn}",
            Gate::Monitor => "${MonitorFunctionArn}",
            Gate::Rollback => "${RollbackFunctionArn}",
            Gate::Announce => "${AnnounceFunctionArn}",
        }
    }
}

impl FromStr for Gate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Gate::ALL
            .into_iter()
            .find(|g| g.name() == s || g.placeholder() == s)
            .ok_or_else(|| format!("`{s}` is not a gate"))
    }
}

/// A port of the domain: one kind of outside system a gate talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Port {
    /// The release records (DynamoDB; SQLite locally).
    Store,
    /// The ECS service and its task definitions.
    Deployer,
    /// The critical paths over HTTP.
    Health,
    /// Alarms and load-balancer metrics (CloudWatch).
    Alarms,
    /// Email, Slack, the status page.
    Notifier,
    /// Answering a waiting task's token (Step Functions).
    Tokens,
    /// Starting executions of the flow (Step Functions).
    Executions,
    /// One-time wake-ups (EventBridge Scheduler).
    Scheduler,
    /// GitHub's REST API: the release ticket, tags, releases, the changelog, post-mortems.
    GitHub,
}

impl Port {
    /// Every port, in [`Port`] order.
    pub const ALL: [Port; 9] = [
        Port::Store,
        Port::Deployer,
        Port::Health,
        Port::Alarms,
        Port::Notifier,
        Port::Tokens,
        Port::Executions,
        Port::Scheduler,
        Port::GitHub,
    ];

    /// The port's name in words, as errors and logs give it (`release store`, `health probe`).
    pub fn name(self) -> &'static str {
        match self {
            Port::Store => "release store",
            Port::Deployer => "deployer",
            Port::Health => "health probe",
            Port::Alarms => "alarms",
            Port::Notifier => "notifier",
            Port::Tokens => "task tokens",
            Port::Executions => "executions",
            Port::Scheduler => "scheduler",
            Port::GitHub => "GitHub",
        }
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
