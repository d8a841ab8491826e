//! shipgate on AWS: adapters over the `aws-sdk-*` clients for every port of the domain,
//! the function environment, the per-function [`wiring`] (each function builds only its
//! gate's ports, with the configuration and secrets read in one call), the Lambda entry
//! points the binaries in `functions/` serve ([`lambda`]), and the [`operator`] side used
//! by `shipgate --stack`.

pub mod cloudwatch;
pub mod dynamo;
pub mod ecr;
pub mod ecs;
pub mod env;
pub mod events;
pub mod github;
pub mod http;
pub mod lambda;
pub mod notify;
pub mod operator;
pub mod probe;
pub mod scheduler;
pub mod sdk;
pub mod sent;
pub mod sfn;
pub mod ssm;
pub mod triggers;
pub mod users;
pub mod wiring;

pub use sdk::sdk_config;
pub use wiring::{Web, Wiring, WiringError};
