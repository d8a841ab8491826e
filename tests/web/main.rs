//! The HTTP entry points through a real server on 127.0.0.1 over the local runtime (virtual
//! clock): the GitHub trigger, approval links, Slack buttons, the dashboard, and a headless
//! browser.

mod access;
mod arbitrary;
mod browser;
mod bypass;
mod concurrency;
mod e2e;
mod evidence;
mod helpers;
mod local;
mod refusals;
mod rollbacks;
mod slack;
mod staging;
mod users;
mod versions;
