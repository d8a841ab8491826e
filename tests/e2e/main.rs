//! End-to-end: the repository's `statemachine.json` and gates on the local runtime.

mod alarms;
mod durability;
mod helpers;
mod invariants;
mod scenarios;
mod statemachine;
