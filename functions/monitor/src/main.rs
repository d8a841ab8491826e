//! The monitor gate as a Lambda function.

use shipgate_aws::{Wiring, lambda};
use shipgate_core::gates::monitor;

#[tokio::main]
async fn main() -> Result<(), lambda::Error> {
    lambda::init_tracing();
    let deps = Wiring::from_env().await?.monitor()?;
    lambda::serve(|input: monitor::Input| monitor::handle(&deps, input)).await
}
