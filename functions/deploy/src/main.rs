//! The deploy gate as a Lambda function.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;
use shipgate_core::Gate;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let deps = shipgate_aws::deps_from_env().await?;
    lambda_runtime::run(service_fn(|ev: LambdaEvent<Value>| {
        shipgate_aws::lambda::gate(&deps, Gate::Deploy, ev.payload)
    }))
    .await
}
