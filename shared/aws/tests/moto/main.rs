//! The AWS adapters against moto in server mode.

mod cloudwatch;
mod dynamo;
mod e2e;
mod ecs;
mod helpers;
mod messaging;
mod sfn;
