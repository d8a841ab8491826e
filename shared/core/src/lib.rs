//! shipgate's domain: the release record and its lifecycle, the policies of the release
//! procedure (who approves, when a deploy may start), the gates that move a release along,
//! and the ports the gates use. No AWS and no engine in here.
//!
//! - [`model`], [`lifecycle`]: the release record and the moves it may make.
//! - [`semver`], [`commits`]: versions and release types; what a push's commits ask for.
//! - [`config`], [`policy`], [`links`], [`matching`]: `shipgate.toml`, approvals and
//!   windows, signed links.
//! - [`gate`], [`deps`], [`ports`]: the gates by name and the ports each declares; what a
//!   gate works with; the ports as traits (adapters live in other crates).
//! - [`gates`]: one module per gate, each a `handle(deps, input)`.
//! - Shared by gates without a gate calling another: [`lane`] (one release at a time per
//!   service), [`order`] (versions only go up), [`restore`] (rolling back and verifying),
//!   [`checks`] (the critical paths), [`messages`] (what people are told), [`releases`]
//!   (what the webhook, links, Slack and the CLI call), [`push`] (the version a push
//!   releases); [`ticket`] and [`postrelease`] (the record kept on GitHub, through
//!   [`github`]); [`evidence`] and [`staging`] (what must show before approval is asked).

pub mod checks;
pub mod commits;
pub mod config;
pub mod deps;
pub mod error;
pub mod evidence;
pub mod gate;
pub mod gates;
pub mod github;
pub mod lane;
pub mod lifecycle;
pub mod links;
pub mod matching;
pub mod messages;
pub mod model;
pub mod order;
pub mod policy;
pub mod ports;
pub mod postrelease;
pub mod push;
pub mod releases;
pub mod restore;
pub mod semver;
pub mod staging;
#[cfg(any(test, feature = "store-contract"))]
pub mod store_contract;
#[cfg(test)]
pub(crate) mod testkit;
pub mod ticket;
pub mod users;

pub use config::Config;
pub use deps::Deps;
pub use error::GateError;
pub use gate::{Gate, Port};
pub use model::{Release, ReleaseId, ReleaseState, ReleaseType, ServiceName};
pub use semver::Version;
