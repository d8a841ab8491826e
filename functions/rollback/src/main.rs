//! The rollback gate: from the flow, an EventBridge alarm event, or a person's request.

use serde_json::Value;
use shipgate_aws::{Wiring, lambda};

#[tokio::main]
async fn main() -> Result<(), lambda::Error> {
    lambda::init_tracing();
    let deps = Wiring::from_env().await?.rollback()?;
    lambda::serve(|event: Value| lambda::rollback(&deps, event)).await
}
