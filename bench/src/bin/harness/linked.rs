//! What each built function binary carries: the operator page's assets only
//! in `landing-page`, the operator's `twilio-setup` CLI in none.
//!
//! Each function names its handler at compile time (`lambda::run`), so the
//! linker drops what that handler never reaches. A run-time choice of handler
//! would link every handler, and the page, into every binary; this check
//! reads the binaries themselves, so it fails when that comes back.
//!
//! A marker is the longest line of the text the library embeds (the page's
//! script and style sheet, the CLI's usage text), read from the library's own
//! constants, so a marker cannot drift from what is compiled in.

use std::path::Path;

use masked_comms::handlers::landing::page::{SCRIPT, STYLE};
use serde_json::{json, Value};
use twilio_setup::cli::USAGE;

use super::{Flags, Result};

/// The function binaries, by package name.
const FUNCTIONS: [&str; 4] = [
    "sessions",
    "inbound-call",
    "conversation-events",
    "landing-page",
];

/// Text the library embeds, and the one binary allowed to carry it (`None`:
/// no function binary).
fn markers() -> [(&'static str, &'static str, Option<&'static str>); 3] {
    [
        ("page script", longest_line(SCRIPT), Some("landing-page")),
        ("page style", longest_line(STYLE), Some("landing-page")),
        ("twilio-setup usage", longest_line(USAGE), None),
    ]
}

fn longest_line(text: &str) -> &str {
    text.lines()
        .map(str::trim)
        .max_by_key(|l| l.len())
        .unwrap_or_default()
}

/// Fails (an `Err`, so also outside `--quick`) when a marker is missing from
/// the binary that needs it or present in one that must not carry it.
pub fn linked(flags: &Flags) -> Result<Value> {
    let dir = flags
        .bin_dir
        .as_deref()
        .ok_or("--bin-dir DIR is required")?;
    let binaries = FUNCTIONS
        .iter()
        .map(|name| Ok((*name, read(&dir.join(name))?)))
        .collect::<Result<Vec<_>>>()?;
    let mut failures = Vec::new();
    let mut found = serde_json::Map::new();
    for (what, marker, owner) in markers() {
        let carriers: Vec<&str> = binaries
            .iter()
            .filter(|(_, bytes)| contains(bytes, marker.as_bytes()))
            .map(|(name, _)| *name)
            .collect();
        let expected: Vec<&str> = owner.into_iter().collect();
        if carriers != expected {
            failures.push(format!(
                "the {what} ({marker:?}) is in {carriers:?}; it belongs in {expected:?} only"
            ));
        }
        found.insert(what.to_owned(), json!(carriers));
    }
    match failures.is_empty() {
        true => Ok(json!({"bin_dir": dir, "carriers": found, "failures": []})),
        false => Err(failures.join("\n")),
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && memchr::memmem::find(haystack, needle).is_some()
}
