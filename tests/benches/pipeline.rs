//! Benchmark (not a test): wall time of whole releases on the virtual clock, SQLite writes
//! and real HTTP health checks included.
//!
//! `cargo bench -p shipgate-tests --bench pipeline` (or `make bench`) prints
//! - one `minor-happy` release (start, approval at 14:00, deploy at 03:00, an hour of
//!   monitoring, announcement) in a fresh data directory: median and p90 of 30 runs;
//! - 1,000 releases one after another through one runtime (one data directory that grows).

use std::time::{Duration, Instant};

use chrono::{DateTime, Duration as Span, Utc};
use shipgate_core::ReleaseState;
use shipgate_core::model::{Changelog, Decision, NewRelease};
use shipgate_core::releases;
use shipgate_local::runtime::{LocalClock, Runtime, RuntimeOptions};
use shipgate_tests::{STATEMACHINE, config};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

async fn open(dir: &std::path::Path, start: DateTime<Utc>) -> anyhow::Result<Runtime> {
    let mut config = config();
    config.window.freezes.clear();
    Ok(Runtime::open(RuntimeOptions {
        data_dir: dir.to_path_buf(),
        config,
        definition: STATEMACHINE.to_string(),
        clock: LocalClock::virtual_at(start),
        demo_service: true,
    })
    .await?)
}

/// Drives one release from the push to its announcement: approved at 14:00, deployed at
/// 03:00, an hour of monitoring.
async fn release(runtime: &Runtime, day: DateTime<Utc>, n: u64) -> anyhow::Result<()> {
    runtime.run_until(day).await?;
    let started = releases::start(
        &runtime.deps,
        NewRelease {
            service: runtime.config.service.name.clone(),
            version: format!("1.{}.0", n + 3).parse()?,
            commit: format!("{n:040}"),
            author: "alex".into(),
            changelog: Changelog {
                features: vec![format!("feature {n}")],
                fixes: vec![],
            },
            release_type: None,
            bypass_reason: None,
            contributors: Vec::new(),
            user_announcement: None,
        },
    )
    .await?;
    runtime.run_due().await?;
    runtime.run_until(day + Span::hours(5)).await?;
    releases::decide(
        &runtime.deps,
        &started.release.id,
        "lee",
        Decision::Approved,
        None,
    )
    .await?;
    runtime.run_until(day + Span::hours(21)).await?;
    let state = runtime.deps.load(&started.release.id).await?.state;
    anyhow::ensure!(
        state == ReleaseState::Succeeded,
        "release {n} ended {state}"
    );
    Ok(())
}

/// One `minor-happy` release in a fresh data directory: the release alone, and with
/// opening the runtime (schema, simulated service, demo application) counted in.
async fn one_release(rounds: usize) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
    let start: DateTime<Utc> = "2026-03-10T09:00:00Z".parse()?;
    let (mut alone, mut with_open) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
    for _ in 0..rounds {
        let dir = tempfile::tempdir()?;
        let opening = Instant::now();
        let runtime = open(dir.path(), start).await?;
        let began = Instant::now();
        release(&runtime, start, 0).await?;
        alone.push(began.elapsed());
        with_open.push(opening.elapsed());
        runtime.shutdown().await;
    }
    alone.sort();
    with_open.sort();
    Ok((alone, with_open))
}

async fn many_releases(count: u64) -> anyhow::Result<Duration> {
    let dir = tempfile::tempdir()?;
    let start: DateTime<Utc> = "2026-03-10T09:00:00Z".parse()?;
    let runtime = open(dir.path(), start).await?;
    let began = Instant::now();
    for n in 0..count {
        release(&runtime, start + Span::days(n as i64), n).await?;
    }
    let elapsed = began.elapsed();
    runtime.shutdown().await;
    Ok(elapsed)
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        // Under `cargo test --all-targets` (no `--bench` flag) this is a smoke test.
        let full = std::env::args().any(|a| a == "--bench");
        let (alone, with_open) = one_release(if full { 30 } else { 1 }).await?;
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "one minor-happy release (virtual clock, SQLite, HTTP health checks): median {:.1} ms, p90 {:.1} ms over {} runs",
            ms(percentile(&alone, 0.5)),
            ms(percentile(&alone, 0.9)),
            alone.len()
        );
        println!(
            "  the same with opening a fresh data directory: median {:.1} ms, p90 {:.1} ms",
            ms(percentile(&with_open, 0.5)),
            ms(percentile(&with_open, 0.9))
        );
        let count = if full { 1000 } else { 3 };
        let total = many_releases(count).await?;
        println!(
            "{count} releases one after another in one data directory: {:.2} s ({:.1} ms per release)",
            total.as_secs_f64(),
            total.as_secs_f64() * 1e3 / count as f64
        );
        Ok(())
    })
}
