//! The health-check gate as a Lambda function.

use shipgate_aws::{Wiring, lambda};
use shipgate_core::gates::health;

#[tokio::main]
async fn main() -> Result<(), lambda::Error> {
    lambda::init_tracing();
    let deps = Wiring::from_env().await?.health_check()?;
    lambda::serve(|input: health::Input| health::handle(&deps, input)).await
}
