//! Facts the code states about itself, for the checks that are not Rust
//! (tests/deploy reads them instead of parsing Rust sources). One JSON
//! document with a section per kind of fact: `iam`, per function binary,
//! the DynamoDB actions its code paths use ([`crate::index::access`]); and
//! `secrets`, the shortest value the functions accept for each secret key
//! (`make params` checks its own limits against them). Routes, configuration keys and
//! metrics can join as sections of their own.
//!
//! `cargo test -p masked-comms --lib facts` writes [`PATH`] (`make test`'s
//! unit step does, before the deploy checks read it).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::{key, Function, MIN_PASSWORD_CHARS, MIN_SIGNING_SECRET_CHARS};
use crate::index::access::actions_of;
use crate::reply_key::MIN_REPLY_KEY_CHARS;

/// Where the facts are written, relative to the repository's root.
pub const PATH: &str = "target/facts/facts.json";

/// Every function, as the facts name them (by binary).
const FUNCTIONS: [Function; 4] = [
    Function::Sessions,
    Function::InboundCall,
    Function::ConversationEvents,
    Function::LandingPage,
];

#[derive(Debug, Serialize)]
pub struct Facts {
    /// Per function binary: what its role must grant.
    pub iam: BTreeMap<&'static str, Iam>,
    /// Per SSM key of a secret with a minimum length: that length.
    pub secrets: BTreeMap<&'static str, Secret>,
}

#[derive(Debug, Serialize)]
pub struct Secret {
    pub min_chars: usize,
}

#[derive(Debug, Serialize)]
pub struct Iam {
    /// DynamoDB actions (`dynamodb:<name>`) on the session index.
    pub dynamodb: Vec<&'static str>,
}

impl Facts {
    pub fn gather() -> Self {
        Facts {
            iam: FUNCTIONS
                .iter()
                .map(|f| {
                    let mut dynamodb: Vec<&str> = actions_of(*f)
                        .iter()
                        .flat_map(|a| a.iam())
                        .copied()
                        .collect();
                    dynamodb.sort();
                    dynamodb.dedup();
                    (f.binary(), Iam { dynamodb })
                })
                .collect(),
            secrets: [
                (&key::PASSWORD, MIN_PASSWORD_CHARS),
                (&key::EVENTS_SIGNING_SECRET, MIN_SIGNING_SECRET_CHARS),
                (&key::REPLY_KEY, MIN_REPLY_KEY_CHARS),
            ]
            .into_iter()
            .map(|(key, min_chars)| (key.ssm, Secret { min_chars }))
            .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes the facts file (and checks it names every function).
    #[test]
    fn write_the_facts_file() {
        let facts = Facts::gather();
        assert_eq!(facts.iam.len(), FUNCTIONS.len());
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(PATH);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let text = serde_json::to_string_pretty(&facts).unwrap() + "\n";
        // Written whole, then renamed: a reader never sees half a file.
        let partial = path.with_extension("json.partial");
        std::fs::write(&partial, text).unwrap();
        std::fs::rename(&partial, &path).unwrap();
    }
}
