//! The AWS adapters against moto in server mode.

mod cloudwatch;
mod dynamo;
mod e2e;
mod ecr;
mod ecs;
mod github;
mod helpers;
mod local_api;
mod messaging;
mod pagerduty;
mod sfn;
mod users;
