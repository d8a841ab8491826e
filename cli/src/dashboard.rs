//! `shipgate dashboard-link --as ID`: a signed, expiring link to the dashboard for one
//! approver (with `--stack`, for the caller, signed with the stack's link key).

use std::process::ExitCode;

use anyhow::{Result, anyhow, bail};
use chrono::{DateTime, Utc};
use shipgate_core::links::{self, Grant};

use crate::context::Context;

/// The longest a dashboard link may live.
const MAX_DAYS: u32 = 30;

#[derive(clap::Args)]
pub struct Args {
    /// Whose link (an approver's id; with --stack, yours by your AWS principal).
    #[arg(long = "as")]
    pub person: Option<String>,
    /// How many days the link works.
    #[arg(long, default_value_t = 7)]
    pub days: u32,
}

impl Args {
    pub fn days(&self) -> Result<u32> {
        if self.days == 0 || self.days > MAX_DAYS {
            bail!("--days must be between 1 and {MAX_DAYS}");
        }
        Ok(self.days)
    }
}

pub(crate) async fn run(ctx: &Context, args: Args) -> Result<ExitCode> {
    let days = args.days()?;
    let Some(person) = args.person.as_deref() else {
        bail!("say whose link: --as APPROVER");
    };
    // The runtime's configuration carries the data directory's link key.
    let runtime = ctx.wall_runtime().await?;
    let config = runtime.config.clone();
    runtime.shutdown().await;
    if config.approver(person).is_none() {
        bail!("`{person}` is not an approver in {}", ctx.config.display());
    }
    let until = Utc::now() + chrono::Duration::days(i64::from(days));
    let link = links::link(&config, Grant::View, person, until)
        .ok_or_else(|| anyhow!("no link key is configured (web.link_key or SHIPGATE_LINK_KEY)"))?;
    print_link(person, &link, until);
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn print_link(person: &str, link: &str, until: DateTime<Utc>) {
    println!("{link}");
    eprintln!(
        "The dashboard for {person}, until {} UTC. It is yours alone: whoever holds it sees every release as you.",
        until.format("%Y-%m-%d %H:%M")
    );
}
