//! Writes what the code states about itself (routes, configuration keys,
//! metrics, error codes, IAM needs) as JSON for the checks that are not
//! Rust: `cargo run -p masked-comms --bin facts [PATH]`, by default
//! target/facts/facts.json under the repository.

use std::path::PathBuf;
use std::process::ExitCode;

use masked_comms::facts;

fn main() -> ExitCode {
    let path = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join(facts::PATH)
        });
    match facts::write(&path) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("facts: cannot write {}: {e}", path.display());
            ExitCode::FAILURE
        }
    }
}
