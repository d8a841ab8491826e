//! The deploy gate as a Lambda function.

use shipgate_aws::{Wiring, lambda};
use shipgate_core::gates::deploy;

#[tokio::main]
async fn main() -> Result<(), lambda::Error> {
    lambda::init_tracing();
    let deps = Wiring::from_env().await?.deploy()?;
    lambda::serve(|input: deploy::Input| deploy::handle(&deps, input)).await
}
