//! EventBridge on the twin: events (an alarm's state change, a `PutEvents` entry) delivered
//! to the targets of the template's rules whose pattern they match, through the function's
//! resource policy, as asynchronous invocations that Lambda retries.

use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::calls::CallLog;
use crate::events;
use crate::lambda::LambdaService;
use crate::manifest::Manifest;

pub struct Rules {
    pub manifest: Arc<Manifest>,
    pub calls: Arc<CallLog>,
    pub lambda: Arc<LambdaService>,
    /// Problems seen along the way (failed deliveries).
    pub problems: Arc<Mutex<Vec<String>>>,
    /// Asynchronous invocations (schedules, rules) still running.
    inflight: tokio::sync::Mutex<tokio::task::JoinSet<()>>,
}

impl Rules {
    pub fn new(
        manifest: Arc<Manifest>,
        calls: Arc<CallLog>,
        lambda: Arc<LambdaService>,
        problems: Arc<Mutex<Vec<String>>>,
    ) -> Self {
        Rules {
            manifest,
            calls,
            lambda,
            problems,
            inflight: tokio::sync::Mutex::default(),
        }
    }

    fn problem(&self, text: String) {
        tracing::warn!("{text}");
        if let Ok(mut p) = self.problems.lock() {
            p.push(text);
        }
    }

    /// EventBridge: `event` to the targets of every enabled rule it matches.
    pub async fn deliver(&self, event: &Value) -> usize {
        let mut delivered = 0;
        for rule in &self.manifest.rules {
            if rule.state.as_deref().is_some_and(|s| s != "ENABLED")
                || !events::matches(&rule.event_pattern, event)
            {
                continue;
            }
            for target in &rule.targets {
                // EventBridge invokes through the function's resource policy.
                let allowed = self.manifest.permissions.iter().any(|p| {
                    p.principal == "events.amazonaws.com"
                        && p.source_arn.as_deref().is_none_or(|s| s == rule.arn)
                        && self
                            .manifest
                            .function(&p.function)
                            .zip(self.manifest.function(&target.arn))
                            .is_some_and(|(a, b)| a.name == b.name)
                });
                self.calls.record(
                    &format!("events rule {}", rule.name),
                    "lambda:InvokeFunction",
                    allowed,
                );
                if !allowed {
                    self.problem(format!(
                        "rule {} matched but no permission lets events.amazonaws.com invoke {}",
                        rule.name, target.arn
                    ));
                    continue;
                }
                let payload = target
                    .input
                    .as_deref()
                    .and_then(|i| serde_json::from_str(i).ok())
                    .unwrap_or_else(|| event.clone());
                self.invoke_async(&target.arn, payload, &format!("rule {}", rule.name))
                    .await;
                delivered += 1;
            }
        }
        delivered
    }

    /// An asynchronous invocation (`Event`), as EventBridge and Scheduler make them: it
    /// runs alongside whatever else is going on (the flow's own tasks), and Lambda retries
    /// a failed one twice, after a pause.
    pub async fn invoke_async(&self, target: &str, payload: Value, by: &str) {
        let lambda = self.lambda.clone();
        let problems = self.problems.clone();
        let target = target.to_string();
        let by = by.to_string();
        self.inflight.lock().await.spawn(async move {
            let mut last = None;
            for attempt in 0..3u64 {
                if attempt > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(500 * attempt)).await;
                }
                match lambda.invoke(&target, payload.clone()).await {
                    Ok(_) => return,
                    Err(e) => last = Some(e),
                }
            }
            if let (Some(e), Ok(mut p)) = (last, problems.lock()) {
                p.push(format!(
                    "{by}: the asynchronous invocation of {target} failed three times: {}: {}",
                    e.error_type, e.error_message
                ));
            }
        });
    }

    /// Waits for the asynchronous invocations under way; whether there were any.
    pub async fn join_inflight(&self) -> bool {
        let mut inflight = self.inflight.lock().await;
        let any = !inflight.is_empty();
        while inflight.join_next().await.is_some() {}
        any
    }
}
