//! Policies read from configuration: who must approve, and when a deploy may start.

pub mod approval;
pub mod window;
