//! Facts the code states about itself, for the checks that are not Rust:
//! the Python suites read these instead of parsing Rust sources. One JSON
//! document ([`PATH`]) with a section per kind of fact:
//! - `functions`: per binary, its routes (from the handler's route table),
//!   the configuration keys it requires and may read, and the DynamoDB
//!   actions its code paths use ([`crate::index::access`]);
//! - `config`: every key (SSM name, environment variable, secret or not),
//!   the environment variable that marks a local run, the shortest value
//!   each secret may have (`make params` checks its own limits against them);
//! - `metrics`: the namespace, each metric's unit and dimensions, the call
//!   outcomes, where Lambda gives the function's name;
//! - `errors`: every `code` an API error answer can carry;
//! - `budgets`: the time an invocation may take (template.yaml's timeout
//!   must exceed it).
//!
//! `cargo run -p masked-comms --bin facts` writes it (shared/src/bin/facts.rs);
//! tests/support/project.py runs that when the file is missing or older
//! than the sources.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::app::REQUEST_BUDGET;
use crate::callback_url::LOCAL_FLAG;
use crate::config::key::{self, Key};
use crate::config::{Function, MIN_PASSWORD_CHARS, MIN_SIGNING_SECRET_CHARS};
use crate::handlers::routes;
use crate::http::route::RouteKey;
use crate::http::ErrorCode;
use crate::index::access::actions_of;
use crate::metrics::{self, CallOutcome, FUNCTION_NAME_ENV};
use crate::reply_key::MIN_REPLY_KEY_CHARS;
use crate::session::ROLLBACK_BUDGET;

/// Where the facts are written, relative to the repository's root.
pub const PATH: &str = "target/facts/facts.json";

#[derive(Debug, Serialize)]
pub struct Facts {
    pub functions: BTreeMap<&'static str, FunctionFacts>,
    pub config: ConfigFacts,
    pub metrics: MetricsFacts,
    pub errors: Vec<ErrorCode>,
    pub budgets: Budgets,
}

#[derive(Debug, Serialize)]
pub struct FunctionFacts {
    pub routes: Vec<RouteKey>,
    /// SSM names (below the prefix) of the keys it needs to start.
    pub required: Vec<&'static str>,
    /// SSM names of the keys it reads when they are set.
    pub optional: Vec<&'static str>,
    /// DynamoDB actions (`dynamodb:<name>`) on the session index.
    pub dynamodb: Vec<&'static str>,
}

#[derive(Debug, Serialize)]
pub struct ConfigFacts {
    /// In the catalogue's order.
    pub keys: Vec<KeyFacts>,
    /// `1` in this environment variable marks a local run.
    pub local_flag: &'static str,
}

#[derive(Debug, Serialize)]
pub struct KeyFacts {
    pub ssm: &'static str,
    pub env: &'static str,
    pub secret: bool,
    /// The shortest value the functions accept, for secrets that have one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_chars: Option<usize>,
}

#[derive(Debug, Serialize)]
pub struct MetricsFacts {
    pub namespace: &'static str,
    pub metrics: Vec<MetricFacts>,
    /// The values of the `Outcome` dimension.
    pub outcomes: Vec<&'static str>,
    /// The environment variable that names the `Function` dimension on Lambda.
    pub function_name_env: &'static str,
}

#[derive(Debug, Serialize)]
pub struct MetricFacts {
    pub name: &'static str,
    pub unit: &'static str,
    pub dimensions: &'static [&'static str],
}

#[derive(Debug, Serialize)]
pub struct Budgets {
    /// An invocation's own work, and the rollback a failed create may add.
    pub request_secs: u64,
    pub rollback_secs: u64,
}

fn ssm_names(keys: &[&Key]) -> Vec<&'static str> {
    keys.iter().map(|k| k.ssm).collect()
}

fn min_chars(key: &Key) -> Option<usize> {
    [
        (&key::PASSWORD, MIN_PASSWORD_CHARS),
        (&key::EVENTS_SIGNING_SECRET, MIN_SIGNING_SECRET_CHARS),
        (&key::REPLY_KEY, MIN_REPLY_KEY_CHARS),
    ]
    .into_iter()
    .find(|(secret, _)| secret.ssm == key.ssm)
    .map(|(_, min)| min)
}

impl Facts {
    pub fn gather() -> Self {
        Facts {
            functions: Function::ALL
                .iter()
                .map(|f| {
                    let mut dynamodb: Vec<&str> = actions_of(*f)
                        .iter()
                        .flat_map(|a| a.iam())
                        .copied()
                        .collect();
                    dynamodb.sort();
                    dynamodb.dedup();
                    let facts = FunctionFacts {
                        routes: routes(*f),
                        required: ssm_names(f.required()),
                        optional: ssm_names(f.optional()),
                        dynamodb,
                    };
                    (f.binary(), facts)
                })
                .collect(),
            config: ConfigFacts {
                keys: key::ALL
                    .iter()
                    .map(|k| KeyFacts {
                        ssm: k.ssm,
                        env: k.env,
                        secret: k.secret,
                        min_chars: min_chars(k),
                    })
                    .collect(),
                local_flag: LOCAL_FLAG,
            },
            metrics: MetricsFacts {
                namespace: metrics::NAMESPACE,
                metrics: metrics::ALL
                    .iter()
                    .map(|m| MetricFacts {
                        name: m.name,
                        unit: m.unit.as_str(),
                        dimensions: m.dimensions,
                    })
                    .collect(),
                outcomes: CallOutcome::ALL.iter().map(|o| o.name()).collect(),
                function_name_env: FUNCTION_NAME_ENV,
            },
            errors: ErrorCode::ALL.to_vec(),
            budgets: Budgets {
                request_secs: REQUEST_BUDGET.as_secs(),
                rollback_secs: ROLLBACK_BUDGET.as_secs(),
            },
        }
    }
}

/// Writes the facts to `path`, whole: written aside, then renamed, so a
/// reader never sees half a file.
pub fn write(path: &std::path::Path) -> std::io::Result<()> {
    let facts = Facts::gather();
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let text = serde_json::to_string_pretty(&facts).map_err(std::io::Error::other)? + "\n";
    let partial = path.with_extension("json.partial");
    std::fs::write(&partial, text)?;
    std::fs::rename(&partial, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The facts are whole: every function has routes and reads keys of
    /// the catalogue, every secret floor is on a secret key, every metric
    /// of the catalogue is there.
    #[test]
    fn the_facts_are_whole() {
        let facts = Facts::gather();
        assert_eq!(facts.functions.len(), Function::ALL.len());
        let known: Vec<&str> = facts.config.keys.iter().map(|k| k.ssm).collect();
        for f in facts.functions.values() {
            assert!(!f.routes.is_empty());
            assert!(f
                .required
                .iter()
                .chain(&f.optional)
                .all(|k| known.contains(k)));
        }
        let floors: Vec<&KeyFacts> = facts
            .config
            .keys
            .iter()
            .filter(|k| k.min_chars.is_some())
            .collect();
        assert_eq!(floors.len(), 3);
        assert!(floors.iter().all(|k| k.secret));
        assert_eq!(facts.metrics.metrics.len(), metrics::ALL.len());
        assert_eq!(facts.errors.len(), ErrorCode::ALL.len());
    }

    #[test]
    fn written_facts_read_back_as_json() {
        let dir = std::env::temp_dir().join(format!("facts-{}", std::process::id()));
        let path = dir.join("facts.json");
        write(&path).unwrap();
        let read: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(read["config"]["local_flag"], LOCAL_FLAG);
        assert!(!path.with_extension("json.partial").exists());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
