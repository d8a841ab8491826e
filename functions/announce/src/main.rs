//! The announce gate as a Lambda function.

use shipgate_aws::{Wiring, lambda};
use shipgate_core::gates::announce;

#[tokio::main]
async fn main() -> Result<(), lambda::Error> {
    lambda::init_tracing();
    let deps = Wiring::from_env().await?.announce()?;
    lambda::serve(|input: announce::Input| announce::handle(&deps, input)).await
}
