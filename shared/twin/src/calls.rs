//! Every AWS call of the stack with its IAM decision: moto's (read from the launcher) and
//! the twin's own services' (Step Functions, Lambda invokes by the services).

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Serialize;

/// One kind of call: who, what, and whether IAM allowed it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct AwsCall {
    pub function: String,
    pub action: String,
    pub allowed: bool,
}

/// Calls counted by kind.
#[derive(Default)]
pub struct CallLog {
    calls: Mutex<BTreeMap<AwsCall, u64>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CallCount {
    #[serde(flatten)]
    pub call: AwsCall,
    pub count: u64,
}

impl CallLog {
    pub fn record(&self, function: &str, action: &str, allowed: bool) {
        if let Ok(mut calls) = self.calls.lock() {
            *calls
                .entry(AwsCall {
                    function: function.to_string(),
                    action: action.to_string(),
                    allowed,
                })
                .or_default() += 1;
        }
    }

    pub fn all(&self) -> Vec<CallCount> {
        self.calls
            .lock()
            .map(|calls| {
                calls
                    .iter()
                    .map(|(call, count)| CallCount {
                        call: call.clone(),
                        count: *count,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn denied(&self) -> Vec<CallCount> {
        self.all().into_iter().filter(|c| !c.call.allowed).collect()
    }
}
