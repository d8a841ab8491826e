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
use shipgate_core::gates::releases;
use shipgate_core::model::{Changelog, Decision, NewRelease};
use shipgate_local::demo;
use shipgate_local::runtime::{LocalClock, Runtime, RuntimeOptions};
use shipgate_tests::{STATEMACHINE, config};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

async fn one_release(rounds: usize) -> anyhow::Result<Vec<Duration>> {
    let scenario = demo::scenarios()
        .into_iter()
        .find(|s| s.name == "minor-happy")
        .ok_or_else(|| anyhow::anyhow!("minor-happy scenario missing"))?;
    let config = config();
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let dir = tempfile::tempdir()?;
        let started = Instant::now();
        let report = demo::run(&scenario, &config, STATEMACHINE, dir.path()).await?;
        times.push(started.elapsed());
        anyhow::ensure!(
            report.passed,
            "minor-happy did not pass: {:?}",
            report.problems
        );
    }
    times.sort();
    Ok(times)
}

async fn many_releases(count: u64) -> anyhow::Result<Duration> {
    let dir = tempfile::tempdir()?;
    let start: DateTime<Utc> = "2026-03-10T09:00:00Z".parse()?;
    let runtime = Runtime::open(RuntimeOptions {
        data_dir: dir.path().to_path_buf(),
        config: config(),
        definition: STATEMACHINE.to_string(),
        clock: LocalClock::virtual_at(start),
        demo_service: true,
    })
    .await?;
    let began = Instant::now();
    for n in 0..count {
        let day = start + Span::days(n as i64);
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
        let times = one_release(30).await?;
        println!(
            "one minor-happy release (virtual clock, SQLite, HTTP health checks): median {:.1} ms, p90 {:.1} ms, min {:.1} ms over {} runs",
            percentile(&times, 0.5).as_secs_f64() * 1e3,
            percentile(&times, 0.9).as_secs_f64() * 1e3,
            times[0].as_secs_f64() * 1e3,
            times.len()
        );
        let count = 1000;
        let total = many_releases(count).await?;
        println!(
            "{count} releases one after another in one data directory: {:.2} s ({:.1} ms per release)",
            total.as_secs_f64(),
            total.as_secs_f64() * 1e3 / count as f64
        );
        Ok(())
    })
}
