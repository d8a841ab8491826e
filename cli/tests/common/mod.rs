//! What the CLI's test files share: the commands docs/operations.md shows.

use std::path::{Path, PathBuf};

pub(crate) fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The lines of docs/operations.md's `sh` blocks that `keep` keeps, as written.
pub(crate) fn documented(keep: impl Fn(&str) -> bool) -> Vec<String> {
    let text = std::fs::read_to_string(repo().join("docs/operations.md")).unwrap();
    let mut in_sh = false;
    let mut commands = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            in_sh = !in_sh && trimmed == "```sh";
            continue;
        }
        if in_sh && keep(trimmed) {
            commands.push(trimmed.to_string());
        }
    }
    commands
}
