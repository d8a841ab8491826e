//! `shipgate-asl`: an Amazon States Language (JSONPath) engine.
//!
//! Parse and [`validate`] definitions, run them with [`Engine`] on a [`Clock`] (wall or
//! virtual), with task resources behind a [`TaskInvoker`] (e.g. [`LambdaRegistry`]), and
//! persist suspended executions in an [`ExecutionStore`] (memory or SQLite) so another
//! process can resume them. The engine knows nothing about what the tasks do.
//!
//! Module map, in the order data flows: `definition` (serde model) → `validate` →
//! `path` (JSONPath parsed once) → [`intrinsics`] → `io` (InputPath → Parameters → task →
//! ResultSelector → ResultPath → OutputPath) → `choice` → `errors` / `retry` →
//! `executor` (the interpreter and its serialisable snapshot) → `engine` (store, leases,
//! signals) with `history`, `clock`, `store`, `task`, `lambda`. `limits` holds AWS's
//! quotas (history length, payload size, wait and execution duration).
//!
//! The modules are private; what callers use is re-exported here. [`intrinsics`] stays
//! public: its parser and evaluator are fuzzed on their own.
//!
//! ```
//! use std::sync::Arc;
//! use serde_json::json;
//! use shipgate_asl::{ExecutionStatus, NoTasks, run_to_completion};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), shipgate_asl::EngineError> {
//! let definition = r#"{"StartAt": "Greet", "States": {
//!     "Greet": {"Type": "Pass", "Parameters": {"msg.$": "States.Format('hi {}', $.who)"}, "Next": "Nap"},
//!     "Nap": {"Type": "Wait", "Seconds": 3600, "End": true}}}"#;
//! let start = chrono::DateTime::UNIX_EPOCH;
//! let done = run_to_completion(definition, json!({"who": "ops"}), Arc::new(NoTasks), start).await?;
//! assert_eq!(done.status, ExecutionStatus::Succeeded);
//! assert_eq!(done.output, Some(json!({"msg": "hi ops"})));
//! assert_eq!(done.stop_date, Some(start + chrono::Duration::hours(1))); // virtual time
//! # Ok(())
//! # }
//! ```

mod choice;
mod clock;
mod definition;
mod engine;
mod errors;
mod executor;
mod history;
pub mod intrinsics;
mod io;
mod lambda;
mod limits;
mod path;
mod retry;
mod store;
mod task;
mod validate;

pub use clock::{Clock, VirtualClock, WallClock};
pub use engine::{Engine, EngineError, Started, run_to_completion};
pub use executor::SnapshotError;
pub use history::{HistoryEvent, HistoryEventType};
pub use lambda::{FunctionError, LambdaFunction, LambdaRegistry};
pub use limits::{MAX_HISTORY_EVENTS, MAX_PAYLOAD_BYTES, history_limit_cause};
pub use path::{Path as JsonPath, PathError, PathSyntaxError, PathWriteError};
pub use store::{
    ExecutionDescription, ExecutionStatus, ExecutionStore, MemoryExecutionStore, PendingSignal,
    SqliteExecutionStore, Step, StoreError,
};
pub use task::{NoTasks, TaskCall, TaskFailure, TaskInvoker};
pub use validate::{Finding, validate};
