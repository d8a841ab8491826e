//! shipgate's domain: the release record and its lifecycle, the policies of the release
//! procedure (who approves, when a deploy may start), the gates that move a release along,
//! and the ports the gates use. No AWS and no engine in here.

pub mod checks;
pub mod config;
pub mod deps;
pub mod error;
pub mod gate;
pub mod gates;
pub mod lane;
pub mod lifecycle;
pub mod links;
pub mod matching;
pub mod messages;
pub mod model;
pub mod order;
pub mod policy;
pub mod ports;
pub mod releases;
pub mod restore;
pub mod semver;
#[cfg(test)]
pub(crate) mod testkit;

pub use config::Config;
pub use deps::Deps;
pub use error::GateError;
pub use gate::{Gate, Port};
pub use model::{Release, ReleaseId, ReleaseState, ReleaseType, ServiceName};
pub use semver::Version;
