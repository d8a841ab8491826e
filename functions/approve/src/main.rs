//! The approve gate as a Lambda function.

use shipgate_aws::{Wiring, lambda};
use shipgate_core::gates::approve;

#[tokio::main]
async fn main() -> Result<(), lambda::Error> {
    lambda::init_tracing();
    let deps = Wiring::from_env().await?.approve()?;
    lambda::serve(|input: approve::Input| approve::handle(&deps, input)).await
}
