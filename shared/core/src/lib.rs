//! shipgate's domain: the release record and its lifecycle, the policies of the release
//! procedure (who approves, when a deploy may start), the gates that move a release along,
//! and the ports the gates use. No AWS and no engine in here.

pub mod config;
pub mod error;
pub mod gates;
pub mod lifecycle;
pub mod links;
pub mod matching;
pub mod model;
pub mod policy;
pub mod ports;
pub mod semver;

pub use config::Config;
pub use error::GateError;
pub use gates::{Deps, Gate};
pub use model::{Release, ReleaseId, ReleaseState, ReleaseType, ServiceName};
pub use semver::Version;
