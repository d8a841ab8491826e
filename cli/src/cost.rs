//! `shipgate cost`: what one release costs on AWS.
//!
//! A demo scenario (by default `minor-happy`: approved at 14:00, deployed at 03:00,
//! monitored for an hour) runs on the local engine with the real `statemachine.json` and
//! gates, its release store wrapped in a [`CountingStore`]. From that run:
//!
//! - **Step Functions** (Standard bills state transitions): every `…StateEntered` event of
//!   the executions' history is one transition, and every retry of a task (a
//!   `TaskScheduled` beyond the first of its state entry) one more.
//! - **Lambda**: every `TaskScheduled` is one invocation of the function it names; every
//!   wake-up (window opening, approval reminder) one more of its gate; the push one of
//!   `trigger`; each approval two of `callback` (the page, then the decision). Durations
//!   are the price table's per-function estimates, not wall time measured here.
//! - **DynamoDB** (on-demand), as `shared/aws/src/dynamo.rs` writes: each `create`/`update`
//!   is one `TransactWriteItems`, 2 WRU per started KB of each item (the release item and
//!   each new audit event); the release item is projected (ALL) into `gsi1` and `gsi2`, 1
//!   WRU per KB each, and `gsi1`'s key holds the state, so a change there is counted as a
//!   delete plus a put (2). The deploy lock's `PutItem`/`DeleteItem`: 1 WRU. Reads are
//!   strongly consistent: 1 RRU per started 4 KB, at least 1. The trigger's own log (per
//!   push: two `GetItem`, two `PutItem`) is added.
//! - **CloudWatch**: each monitor call does one `DescribeAlarms` and requests
//!   `metrics_per_monitor_call` metrics with `GetMetricData`.
//! - **EventBridge Scheduler**: every wake-up is one invocation.
//! - **SES**: every email recipient in the outbox.
//!
//! The unit prices come from `infra/prices.toml` (or `--prices FILE`).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use serde::{Deserialize, Serialize};
use shipgate_asl::HistoryEventType;
use shipgate_core::Gate;
use shipgate_core::ports::Notification;
use shipgate_local::counting::{CountingStore, StoreCounts, StoreWrite};
use shipgate_local::db::Db;
use shipgate_local::demo;
use shipgate_local::outbox::Outbox;
use shipgate_local::runtime::PortOverrides;
use shipgate_local::store::SqliteReleaseStore;

use crate::context::Context;

/// The price table built into the binary.
pub(crate) const PRICES: &str = include_str!("../../infra/prices.toml");

/// What a normal release should cost at most.
pub(crate) const GOAL_USD: f64 = 0.01;

#[derive(clap::Args)]
pub struct Args {
    /// The demo scenario to price (`shipgate demo --list` names them).
    #[arg(long, default_value = "minor-happy")]
    scenario: String,
    /// A price table instead of the built-in infra/prices.toml.
    #[arg(long)]
    prices: Option<std::path::PathBuf>,
    /// One JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Prices {
    pub region: String,
    pub date: String,
    pub currency: String,
    pub step_functions: StepFunctionsPrices,
    pub lambda: LambdaPrices,
    pub dynamodb: DynamoPrices,
    pub cloudwatch: CloudWatchPrices,
    pub scheduler: SchedulerPrices,
    pub ses: SesPrices,
    pub functions: BTreeMap<String, FunctionEstimate>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StepFunctionsPrices {
    pub per_state_transition: f64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LambdaPrices {
    pub per_request: f64,
    pub per_gb_second: f64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DynamoPrices {
    pub per_write_request_unit: f64,
    pub per_read_request_unit: f64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CloudWatchPrices {
    pub per_metric_requested: f64,
    pub per_api_request: f64,
    pub metrics_per_monitor_call: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SchedulerPrices {
    pub per_invocation: f64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SesPrices {
    pub per_email: f64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FunctionEstimate {
    pub memory_mb: u32,
    pub ms_per_invocation: u32,
}

impl Prices {
    pub(crate) fn parse(text: &str) -> Result<Self> {
        let prices: Prices = toml::from_str(text).context("the price table is not valid")?;
        for function in FUNCTIONS {
            if !prices.functions.contains_key(function) {
                bail!("the price table has no [functions.{function}]");
            }
        }
        Ok(prices)
    }
}

/// Every function of the stack.
const FUNCTIONS: [&str; 9] = [
    "approve",
    "window",
    "deploy",
    "health-check",
    "monitor",
    "rollback",
    "announce",
    "trigger",
    "callback",
];

/// What one run used.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct Usage {
    pub state_transitions: u64,
    pub retries: u64,
    /// Lambda invocations by function name.
    pub invocations: BTreeMap<String, u64>,
    pub dynamodb_transactions: u64,
    pub dynamodb_write_units: u64,
    pub dynamodb_read_units: u64,
    pub scheduler_invocations: u64,
    pub emails: u64,
}

/// One line of the bill.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Line {
    pub service: &'static str,
    pub item: String,
    pub quantity: f64,
    pub unit: &'static str,
    pub unit_price: f64,
    pub cost: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Bill {
    pub lines: Vec<Line>,
    pub total: f64,
}

/// Started units of `unit` bytes, at least one.
fn units(bytes: usize, unit: usize) -> u64 {
    bytes.div_ceil(unit).max(1) as u64
}

/// DynamoDB write and read units of what reached the store (model in the module docs).
pub(crate) fn dynamo_units(counts: &StoreCounts) -> (u64, u64) {
    let mut write = 0;
    for w in &counts.writes {
        write += match w {
            StoreWrite::Transaction {
                release_bytes,
                event_bytes,
            } => {
                let release_kb = units(*release_bytes, 1024);
                let events: u64 = event_bytes.iter().map(|b| 2 * units(*b, 1024)).sum();
                // Transactional item writes cost double; index writes are standard.
                2 * release_kb + events + 2 * release_kb + release_kb
            }
            StoreWrite::LockPut | StoreWrite::LockDelete => 1,
        };
    }
    let read = counts.reads.iter().map(|r| units(r.bytes, 4096)).sum();
    (write, read)
}

/// The trigger's log per push: two `GetItem` (delivery, commit) and two `PutItem`.
const TRIGGER_LOG_READS: u64 = 2;
const TRIGGER_LOG_WRITES: u64 = 2;

/// Prices `usage`.
pub(crate) fn price(usage: &Usage, prices: &Prices) -> Bill {
    let mut lines = Vec::new();
    let mut line = |service, item: String, quantity: f64, unit, unit_price: f64| {
        lines.push(Line {
            service,
            item,
            quantity,
            unit,
            unit_price,
            cost: quantity * unit_price,
        });
    };
    line(
        "Step Functions",
        format!(
            "state transitions (incl. {} retries), Standard",
            usage.retries
        ),
        usage.state_transitions as f64,
        "transition",
        prices.step_functions.per_state_transition,
    );
    let requests: u64 = usage.invocations.values().sum();
    line(
        "Lambda",
        "requests (invocations of the nine functions)".into(),
        requests as f64,
        "request",
        prices.lambda.per_request,
    );
    let mut gb_seconds = 0.0;
    for (function, count) in &usage.invocations {
        if let Some(estimate) = prices.functions.get(function) {
            gb_seconds += *count as f64
                * f64::from(estimate.ms_per_invocation)
                * f64::from(estimate.memory_mb)
                / 1000.0
                / 1024.0;
        }
    }
    line(
        "Lambda",
        "duration, arm64 (per-function estimates × memory)".into(),
        gb_seconds,
        "GB-second",
        prices.lambda.per_gb_second,
    );
    line(
        "DynamoDB",
        format!(
            "write request units ({} transactions, indexes, lock, trigger log)",
            usage.dynamodb_transactions
        ),
        usage.dynamodb_write_units as f64,
        "WRU",
        prices.dynamodb.per_write_request_unit,
    );
    line(
        "DynamoDB",
        "read request units (strongly consistent)".into(),
        usage.dynamodb_read_units as f64,
        "RRU",
        prices.dynamodb.per_read_request_unit,
    );
    let monitor_calls = usage.invocations.get("monitor").copied().unwrap_or(0);
    line(
        "CloudWatch",
        "GetMetricData metrics (monitor)".into(),
        (monitor_calls * prices.cloudwatch.metrics_per_monitor_call) as f64,
        "metric",
        prices.cloudwatch.per_metric_requested,
    );
    line(
        "CloudWatch",
        "DescribeAlarms requests (monitor)".into(),
        monitor_calls as f64,
        "request",
        prices.cloudwatch.per_api_request,
    );
    line(
        "EventBridge Scheduler",
        "one-time wake-ups".into(),
        usage.scheduler_invocations as f64,
        "invocation",
        prices.scheduler.per_invocation,
    );
    line(
        "SES",
        "emails (per recipient)".into(),
        usage.emails as f64,
        "email",
        prices.ses.per_email,
    );
    let total = lines.iter().map(|l| l.cost).sum();
    Bill { lines, total }
}

fn summary(invocations: &BTreeMap<String, u64>) -> String {
    invocations
        .iter()
        .map(|(f, n)| format!("{f} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Transitions, retries and invocations from an execution's history.
pub(crate) fn count_history(events: &[shipgate_asl::HistoryEvent], usage: &mut Usage) {
    let mut entered_tasks = 0u64;
    let mut scheduled = 0u64;
    for event in events {
        if event.event_type.to_string().ends_with("StateEntered") {
            usage.state_transitions += 1;
        }
        match event.event_type {
            HistoryEventType::TaskStateEntered => entered_tasks += 1,
            HistoryEventType::TaskScheduled => {
                scheduled += 1;
                let function = event.details["parameters"]["FunctionName"]
                    .as_str()
                    .and_then(|name| Gate::from_str(name).ok())
                    .map_or("unknown", |gate| gate.name());
                *usage.invocations.entry(function.to_string()).or_default() += 1;
            }
            _ => {}
        }
    }
    let retries = scheduled.saturating_sub(entered_tasks);
    usage.retries += retries;
    usage.state_transitions += retries;
}

pub(crate) async fn run(ctx: &Context, args: Args) -> Result<ExitCode> {
    let config = ctx.config()?;
    let definition = ctx.definition()?;
    let prices = match &args.prices {
        Some(path) => Prices::parse(
            &std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?,
        )
        .with_context(|| format!("in {}", path.display()))?,
        None => Prices::parse(PRICES)?,
    };
    let all = demo::scenarios();
    let Some(scenario) = all.iter().find(|s| s.name == args.scenario) else {
        let names: Vec<_> = all.iter().map(|s| s.name).collect();
        bail!(
            "no scenario `{}`; the scenarios are: {}",
            args.scenario,
            names.join(", ")
        );
    };
    let db = Db::open_in_memory().context("cannot open an in-memory store")?;
    let store = Arc::new(CountingStore::new(Arc::new(SqliteReleaseStore::new(db))));
    let dir = ctx.data_dir.join("cost").join(scenario.name);
    let (report, runtime) = demo::run_with(
        scenario,
        &config,
        &definition,
        &dir,
        PortOverrides {
            store: Some(store.clone()),
            ..PortOverrides::default()
        },
    )
    .await?;
    let mut usage = Usage::default();
    let gathered = gather(&runtime, &report, &store, &mut usage);
    runtime.shutdown().await;
    gathered?;
    let bill = price(&usage, &prices);
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "scenario": scenario.name,
                "final_state": report.final_state,
                "passed": report.passed,
                "region": prices.region,
                "prices_date": prices.date,
                "currency": prices.currency,
                "usage": usage,
                "lines": bill.lines,
                "total_usd": bill.total,
            })
        );
    } else {
        print_bill(scenario.name, &report, &prices, &usage, &bill);
    }
    if !report.passed {
        eprintln!(
            "the scenario did not end as expected: {}",
            report.problems.join("; ")
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn gather(
    runtime: &shipgate_local::runtime::Runtime,
    report: &demo::ScenarioReport,
    store: &CountingStore,
    usage: &mut Usage,
) -> Result<()> {
    for execution in runtime.engine.list_executions()? {
        count_history(&runtime.engine.history(&execution.execution_id)?, usage);
    }
    for (gate, n) in runtime.wake_ups() {
        *usage.invocations.entry(gate.to_string()).or_default() += n;
        usage.scheduler_invocations += n;
    }
    let releases = report.releases.len() as u64;
    let approvals: u64 = report
        .releases
        .iter()
        .map(|r| r.approvals.len() as u64)
        .sum();
    *usage.invocations.entry("trigger".into()).or_default() += releases;
    *usage.invocations.entry("callback".into()).or_default() += 2 * approvals;
    let counts = store.counts();
    let (write, read) = dynamo_units(&counts);
    usage.dynamodb_transactions = counts.transactions() as u64;
    usage.dynamodb_write_units = write + TRIGGER_LOG_WRITES * releases;
    usage.dynamodb_read_units = read + TRIGGER_LOG_READS * releases;
    usage.emails = Outbox::read_all(&runtime.outbox_dir())?
        .iter()
        .map(|m| match &m.message {
            Notification::Email { to, .. } => to.len() as u64,
            _ => 0,
        })
        .sum();
    Ok(())
}

fn print_bill(
    scenario: &str,
    report: &demo::ScenarioReport,
    prices: &Prices,
    usage: &Usage,
    bill: &Bill,
) {
    println!(
        "AWS cost of one release — scenario {scenario} ({}), {} prices of {} in {}",
        report.final_state, prices.region, prices.date, prices.currency
    );
    println!();
    println!(
        "{:<22} {:<66} {:>10} {:<11} {:>14} {:>11}",
        "service", "what", "quantity", "unit", "unit price", "cost"
    );
    for l in &bill.lines {
        println!(
            "{:<22} {:<66} {:>10} {:<11} {:>14} {:>11.6}",
            l.service,
            l.item,
            trim(l.quantity),
            l.unit,
            format!("${}", trim(l.unit_price)),
            l.cost
        );
    }
    println!();
    println!("Lambda invocations: {}", summary(&usage.invocations));
    println!(
        "Total: ${:.6} per release (goal ≤ ${GOAL_USD:.2}: {})",
        bill.total,
        if bill.total <= GOAL_USD {
            "met"
        } else {
            "NOT met"
        }
    );
    println!(
        "Free tiers are not subtracted. Lambda durations are estimates (infra/prices.toml), not measurements."
    );
    println!(
        "Besides releases: the daily window schedule invokes the window function once a day (~30 Lambda and Scheduler invocations a month)."
    );
}

/// A number without trailing zeros.
fn trim(x: f64) -> String {
    let text = format!("{x:.10}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    text.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use serde_json::json;
    use shipgate_asl::HistoryEvent;
    use shipgate_local::counting::StoreRead;

    fn event(kind: HistoryEventType, details: serde_json::Value) -> HistoryEvent {
        HistoryEvent {
            id: 1,
            previous_event_id: 0,
            timestamp: Utc::now(),
            event_type: kind,
            details,
        }
    }

    #[test]
    fn given_the_built_in_price_table_when_parsed_then_it_names_every_function() {
        let prices = Prices::parse(PRICES).unwrap();
        assert_eq!(prices.region, "us-east-1");
        assert_eq!(prices.functions.len(), FUNCTIONS.len());
    }

    #[test]
    fn given_a_retried_task_when_counted_then_the_retry_is_a_transition_and_an_invocation() {
        // Given a task state entered once and scheduled twice (one retry), then a Succeed
        let task = json!({"parameters": {"FunctionName": "${DeployFunctionArn}"}});
        let history = vec![
            event(HistoryEventType::TaskStateEntered, json!({})),
            event(HistoryEventType::TaskScheduled, task.clone()),
            event(HistoryEventType::TaskFailed, json!({})),
            event(HistoryEventType::TaskScheduled, task),
            event(HistoryEventType::TaskSucceeded, json!({})),
            event(HistoryEventType::TaskStateExited, json!({})),
            event(HistoryEventType::SucceedStateEntered, json!({})),
        ];
        // When counted
        let mut usage = Usage::default();
        count_history(&history, &mut usage);
        // Then two entries plus one retry, and two invocations of deploy
        assert_eq!(usage.state_transitions, 3);
        assert_eq!(usage.retries, 1);
        assert_eq!(usage.invocations["deploy"], 2);
    }

    #[test]
    fn given_writes_when_counted_then_transactions_cost_double_per_kilobyte_plus_index_writes() {
        let counts = StoreCounts {
            writes: vec![
                StoreWrite::Transaction {
                    release_bytes: 1500,
                    event_bytes: vec![200, 300],
                },
                StoreWrite::LockPut,
            ],
            reads: vec![StoreRead { bytes: 0 }, StoreRead { bytes: 9000 }],
        };
        // release 2 KB: 4 (transaction) + 4 (gsi1 move) + 2 (gsi2); events 2 + 2; lock 1
        assert_eq!(dynamo_units(&counts), (15, 1 + 3));
    }

    #[test]
    fn given_usage_when_priced_then_the_bill_multiplies_quantities_by_unit_prices() {
        let prices = Prices::parse(PRICES).unwrap();
        let usage = Usage {
            state_transitions: 1000,
            invocations: BTreeMap::from([("monitor".to_string(), 10)]),
            ..Usage::default()
        };
        let bill = price(&usage, &prices);
        let sfn = &bill.lines[0];
        assert!((sfn.cost - 0.025).abs() < 1e-12, "{sfn:?}");
        let metrics = bill
            .lines
            .iter()
            .find(|l| l.item.starts_with("GetMetricData"))
            .unwrap();
        assert_eq!(metrics.quantity, 30.0);
        assert!(bill.total > 0.025);
    }
}
