//! Approval links and Slack buttons behind a function URL.

use shipgate_web::{Hooks, WebState};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shipgate_aws::lambda::init_tracing();
    let web = shipgate_aws::Wiring::from_env().await?.callback()?;
    let state = WebState {
        deps: web.deps,
        triggers: web.triggers,
        rollbacks: web.rollbacks,
        hooks: Hooks::none(),
    };
    lambda_http::run(shipgate_web::callback_router(state)).await
}
