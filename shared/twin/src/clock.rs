//! The twin's virtual clock, shared with the function processes through libfaketime: the
//! engine reads it directly; every process started with [`faketime_env`] reads the file
//! it is written to (re-read on every call), so a warm function sees time move on.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use shipgate_asl::{Clock, VirtualClock};

use crate::TwinError;

/// Where Debian's `faketime` package puts the multi-threaded preload library.
const FAKETIME_LIBRARIES: [&str; 3] = [
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/faketime/libfaketimeMT.so.1",
];

/// The libfaketime preload library: `SHIPGATE_TWIN_FAKETIME`, or Debian's.
pub fn faketime_library() -> Result<PathBuf, TwinError> {
    if let Ok(path) = std::env::var("SHIPGATE_TWIN_FAKETIME") {
        return Ok(PathBuf::from(path));
    }
    FAKETIME_LIBRARIES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .ok_or_else(|| {
            TwinError::Setup(
                "libfaketime is missing: install Debian's faketime package (apt-get install faketime), \
                 or point SHIPGATE_TWIN_FAKETIME at libfaketimeMT.so.1"
                    .into(),
            )
        })
}

/// The environment that puts a process on the twin's clock.
pub fn faketime_env(library: &Path, clock_file: &Path) -> Vec<(String, String)> {
    vec![
        ("LD_PRELOAD".into(), library.display().to_string()),
        (
            "FAKETIME_TIMESTAMP_FILE".into(),
            clock_file.display().to_string(),
        ),
        ("FAKETIME_NO_CACHE".into(), "1".into()),
        // Timers (tokio's sleeps, timeouts) keep real time: only the wall clock is virtual.
        ("FAKETIME_DONT_FAKE_MONOTONIC".into(), "1".into()),
    ]
}

/// The virtual clock; [`TwinClock::set`] also rewrites the clock file.
#[derive(Clone)]
pub struct TwinClock {
    clock: VirtualClock,
    file: Arc<PathBuf>,
}

impl TwinClock {
    pub fn new(start: DateTime<Utc>, file: PathBuf) -> Result<Self, TwinError> {
        let clock = TwinClock {
            clock: VirtualClock::new(start),
            file: Arc::new(file),
        };
        clock.write(start)?;
        Ok(clock)
    }

    pub fn file(&self) -> &Path {
        &self.file
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Moves the clock to `t` (never backwards).
    pub fn set(&self, t: DateTime<Utc>) -> Result<(), TwinError> {
        if t > self.clock.now() {
            self.clock.set(t);
            self.write(t)?;
        }
        Ok(())
    }

    /// The engine's view of the clock.
    pub fn engine_clock(&self) -> Arc<dyn Clock> {
        Arc::new(self.clock.clone())
    }

    fn write(&self, t: DateTime<Utc>) -> Result<(), TwinError> {
        // libfaketime's absolute format: the clock stands at this instant until rewritten.
        let text = t.format("%Y-%m-%d %H:%M:%S").to_string();
        let tmp = self.file.with_extension("tmp");
        std::fs::write(&tmp, text).map_err(|e| TwinError::io(&tmp, e))?;
        std::fs::rename(&tmp, self.file.as_ref()).map_err(|e| TwinError::io(&self.file, e))
    }
}

impl shipgate_core::ports::Clock for TwinClock {
    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}
