//! The gates by name, and the ports each one may use. A gate's function links and builds
//! only its ports; anything else it reaches is a misconfiguration
//! ([`crate::deps::Deps::only`]).

use std::fmt;
use std::str::FromStr;

/// The gates as Lambda functions, by the name of their function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Gate {
    Approve,
    Window,
    Deploy,
    HealthCheck,
    Monitor,
    Rollback,
    Announce,
}

impl Gate {
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
            Gate::Approve => &[Store, Notifier, Scheduler],
            Gate::Window => &[Store, Notifier, Scheduler, Tokens, Executions],
            Gate::Deploy => &[Store, Deployer, Notifier],
            Gate::HealthCheck => &[Store, Health],
            Gate::Monitor => &[Store, Alarms],
            Gate::Rollback => &[Store, Deployer, Health, Executions],
            Gate::Announce => &[Store, Deployer, Notifier, Tokens],
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
}

impl Port {
    pub const ALL: [Port; 8] = [
        Port::Store,
        Port::Deployer,
        Port::Health,
        Port::Alarms,
        Port::Notifier,
        Port::Tokens,
        Port::Executions,
        Port::Scheduler,
    ];

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
        }
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
