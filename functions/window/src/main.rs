//! The window gate as a Lambda function.

use shipgate_aws::{Wiring, lambda};
use shipgate_core::gates::window;

#[tokio::main]
async fn main() -> Result<(), lambda::Error> {
    lambda::init_tracing();
    let deps = Wiring::from_env().await?.window()?;
    lambda::serve(|input: window::Input| window::handle(&deps, input)).await
}
