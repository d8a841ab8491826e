//! shipgate's embedded adapters and local runtime: the whole pipeline on one machine with
//! no AWS account — SQLite for records, a simulated ECS service, simulated alarms, a demo
//! application over HTTP on 127.0.0.1, an outbox for messages, and the embedded States
//! Language engine running the same `statemachine.json`.

pub mod alarms;
pub mod counting;
pub mod db;
pub mod demo;
pub mod demo_service;
pub mod ecs;
pub mod github;
pub mod liveness;
pub mod local_token;
pub mod outbox;
pub mod probe;
pub mod runtime;
pub mod scheduler;
pub mod store;
pub mod triggers;
pub mod workflow;
