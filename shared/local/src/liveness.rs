//! Which local engines are alive. Each process that runs executions in a data directory
//! holds an exclusive lock on its own file, `engines/<owner>.lock`, for as long as it lives;
//! the operating system drops the lock when the process dies, however it dies (`kill -9`
//! included). A file whose lock can be taken therefore names an engine that is gone, and
//! the executions it held can be resumed at once instead of after the lease expires.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};

use shipgate_core::ports::Workers;

/// This process's mark of life; dropping it (a clean exit) removes the file.
#[derive(Debug)]
pub struct Liveness {
    owner: String,
    path: PathBuf,
    _file: File,
}

fn engines_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("engines")
}

impl Liveness {
    /// Takes a fresh owner name and locks its file.
    pub fn claim(data_dir: &Path) -> io::Result<Self> {
        let dir = engines_dir(data_dir);
        std::fs::create_dir_all(&dir)?;
        let owner = format!(
            "local-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        );
        let path = dir.join(format!("{owner}.lock"));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        file.lock()?;
        Ok(Self {
            owner,
            path,
            _file: file,
        })
    }

    /// The lease owner name of this process's engine.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Owners whose process is gone. (A file created a moment ago and not locked yet may be
    /// named too; its engine holds no lease yet, so handing back its leases changes nothing.)
    pub fn dead_owners(data_dir: &Path) -> io::Result<Vec<String>> {
        let dir = engines_dir(data_dir);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(err),
        };
        let mut dead = Vec::new();
        for entry in entries {
            let path = entry?.path();
            let Some(owner) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".lock"))
            else {
                continue;
            };
            let file = match File::open(&path) {
                Ok(file) => file,
                Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                Err(err) => return Err(err),
            };
            match file.try_lock() {
                Ok(()) => dead.push(owner.to_string()),
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(err)) => return Err(err),
            }
        }
        dead.sort();
        Ok(dead)
    }

    /// Forgets a dead owner once its leases are handed back.
    pub fn forget(data_dir: &Path, owner: &str) -> io::Result<()> {
        match std::fs::remove_file(engines_dir(data_dir).join(format!("{owner}.lock"))) {
            Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
            _ => Ok(()),
        }
    }
}

/// The local [`Workers`]: this process is its engine's owner name; another is gone
/// when its lock file is missing or no longer locked.
#[derive(Debug, Clone)]
pub struct LocalWorkers {
    data_dir: PathBuf,
    owner: String,
}

impl LocalWorkers {
    pub fn new(data_dir: &Path, liveness: &Liveness) -> Self {
        Self {
            data_dir: data_dir.to_path_buf(),
            owner: liveness.owner.clone(),
        }
    }
}

impl Workers for LocalWorkers {
    fn this(&self) -> String {
        self.owner.clone()
    }

    fn gone(&self, worker: &str) -> Option<bool> {
        if worker == self.owner {
            return Some(false);
        }
        if worker.contains(['/', '\\']) || worker.starts_with('.') {
            return None;
        }
        let path = engines_dir(&self.data_dir).join(format!("{worker}.lock"));
        match File::open(&path) {
            Err(err) if err.kind() == io::ErrorKind::NotFound => Some(true),
            Err(_) => None,
            Ok(file) => match file.try_lock() {
                Ok(()) => Some(true),
                Err(TryLockError::WouldBlock) => Some(false),
                Err(TryLockError::Error(_)) => None,
            },
        }
    }
}

impl Drop for Liveness {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_live_and_released_engines_when_checked_then_only_the_released_ones_are_dead() {
        let dir = tempfile::tempdir().unwrap();
        let alive = Liveness::claim(dir.path()).unwrap();
        assert!(Liveness::dead_owners(dir.path()).unwrap().is_empty());
        // A process killed without cleaning up leaves its file, unlocked.
        let orphan = engines_dir(dir.path()).join("local-1-dead.lock");
        std::fs::write(&orphan, b"").unwrap();
        assert_eq!(
            Liveness::dead_owners(dir.path()).unwrap(),
            vec!["local-1-dead".to_string()]
        );
        Liveness::forget(dir.path(), "local-1-dead").unwrap();
        assert!(!orphan.exists());
        let workers = LocalWorkers::new(dir.path(), &alive);
        assert_eq!(workers.gone(alive.owner()), Some(false));
        let other = Liveness::claim(dir.path()).unwrap();
        assert_eq!(workers.gone(other.owner()), Some(false), "alive elsewhere");
        std::fs::write(&orphan, b"").unwrap();
        assert_eq!(workers.gone("local-1-dead"), Some(true), "unlocked: died");
        assert_eq!(workers.gone("local-2-never"), Some(true), "no file: gone");
        let other_owner = other.owner().to_string();
        drop(other);
        assert_eq!(workers.gone(&other_owner), Some(true), "exited cleanly");
        let path = alive.path.clone();
        drop(alive);
        assert!(!path.exists(), "a clean exit removes its own file");
    }
}
