//! The token that guards the `/local/...` routes of `shipgate serve` (tripping simulated
//! alarms). Any web page the person has open can make their browser post to 127.0.0.1,
//! so being on this machine is not enough: a request must also carry this token, which
//! only the dashboard (served to this machine) and whoever can read the data directory
//! know. One per data directory, kept in `<data-dir>/local.token` (mode 0600), so a
//! script can send it too: `curl -H "X-Shipgate-Token: $(cat .shipgate/local.token)" …`.

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The token's file name in the data directory.
pub const FILE: &str = "local.token";

#[derive(Debug, thiserror::Error)]
#[error("cannot read or create the local token {path}")]
pub struct LocalTokenError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// The data directory's token, created (256 random bits, hex) when there is none yet.
/// Two processes creating it at once both end up with the one that was written first.
pub fn load_or_create(data_dir: &Path) -> Result<String, LocalTokenError> {
    let path = data_dir.join(FILE);
    let fail = |source| LocalTokenError {
        path: path.clone(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(token) if is_token(token.trim()) => return Ok(token.trim().to_string()),
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(fail(err)),
    }
    std::fs::create_dir_all(data_dir).map_err(fail)?;
    let token = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let tmp = data_dir.join(format!(".{FILE}.{}.tmp", std::process::id()));
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp).map_err(fail)?;
        file.write_all(token.as_bytes()).map_err(fail)?;
        file.sync_all().map_err(fail)?;
    }
    // An unreadable or damaged token is replaced; a concurrent creator's wins otherwise.
    let existing_is_good = std::fs::read_to_string(&path).is_ok_and(|t| is_token(t.trim()));
    if !existing_is_good && std::fs::hard_link(&tmp, &path).is_err() {
        let still_bad = !std::fs::read_to_string(&path).is_ok_and(|t| is_token(t.trim()));
        if still_bad {
            std::fs::rename(&tmp, &path).map_err(fail)?;
        }
    }
    let _ = std::fs::remove_file(&tmp);
    let token = std::fs::read_to_string(&path).map_err(fail)?;
    Ok(token.trim().to_string())
}

/// A token worth trusting: long enough and plain (what [`load_or_create`] writes).
fn is_token(text: &str) -> bool {
    text.len() >= 32 && text.chars().all(|c| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_a_data_directory_when_the_token_is_loaded_twice_then_it_keeps_one_private_token() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let first = load_or_create(&data).unwrap();
        assert_eq!(first.len(), 64);
        assert_eq!(load_or_create(&data).unwrap(), first);
        let other = tempfile::tempdir().unwrap();
        assert_ne!(load_or_create(other.path()).unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(data.join(FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "the token is readable by others: {mode:o}");
        }
    }

    #[test]
    fn given_an_empty_or_damaged_token_when_loaded_then_it_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        for damaged in [
            "",
            "short",
            "not a token at all, with spaces and more than 32",
        ] {
            std::fs::write(dir.path().join(FILE), damaged).unwrap();
            let token = load_or_create(dir.path()).unwrap();
            assert_ne!(token, damaged.trim());
            assert!(is_token(&token), "{token}");
        }
    }
}
