//! What every command needs: the configuration, the pipeline definition, the data directory.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use shipgate_core::Config;
use shipgate_local::runtime::{LocalClock, Runtime, RuntimeOptions};

/// The pipeline as built into the binary, so `shipgate` works from any directory.
pub(crate) const STATEMACHINE: &str = include_str!("../../statemachine.json");

pub(crate) struct Context {
    pub data_dir: PathBuf,
    pub config: PathBuf,
    pub statemachine: Option<PathBuf>,
}

impl Context {
    pub(crate) fn config(&self) -> Result<Config> {
        let text = std::fs::read_to_string(&self.config).with_context(|| {
            format!(
                "cannot read the configuration {} (pass --config FILE, or run from the repository, whose shipgate.toml is the default)",
                self.config.display()
            )
        })?;
        // Secrets in the environment win over the file.
        Config::from_toml_str(&text)
            .map(|config| config.with_secrets_from(|name| std::env::var(name).ok()))
            .with_context(|| format!("in {}", self.config.display()))
    }

    pub(crate) fn definition(&self) -> Result<String> {
        match &self.statemachine {
            Some(path) => std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display())),
            None => Ok(STATEMACHINE.to_string()),
        }
    }

    /// The runtime on the wall clock, serving the simulated application for health checks.
    pub(crate) async fn wall_runtime(&self) -> Result<Runtime> {
        Ok(Runtime::open(RuntimeOptions {
            data_dir: self.data_dir.clone(),
            config: self.config()?,
            definition: self.definition()?,
            clock: LocalClock::Wall,
            demo_service: true,
        })
        .await?)
    }
}
