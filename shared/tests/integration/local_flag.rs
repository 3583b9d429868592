//! Loopback http URLs for the event receiver and the out-of-session backend
//! are taken only when the function runs locally (`MASKED_COMMS_LOCAL=1`,
//! passed here as the configuration's local flag): on Lambda, loopback is
//! the Runtime API. https is taken either way.

use std::time::Duration;

use masked_comms::config::{ConfigError, ConfigSource, ConfigStore, Function, RawConfig};

use crate::support::*;

const LOOPBACK: [&str; 3] = [
    "http://127.0.0.1:9001/hook",
    "http://localhost:9001/hook",
    "http://[::1]:9001/hook",
];
const HTTPS: &str = "https://backend.example.com/hook";

/// The inbound-call function's configuration with `url` as the event
/// receiver and the out-of-session backend (one of them at a time: `which`).
fn raw(which: &str, url: &str) -> RawConfig {
    let receiver = if which == "events/url" {
        url
    } else {
        "https://events.example.com/in"
    };
    let mut values = vec![
        ("twilio/account-sid", "AC0123456789abcdef0123456789abcdef"),
        ("twilio/auth-token", "token"),
        ("events/url", receiver),
        ("events/signing-secret", EVENTS_SECRET),
    ];
    if which == "out-of-session/callback-url" {
        values.push(("out-of-session/mode", "callback"));
        values.push(("out-of-session/callback-url", url));
    }
    RawConfig::from_ssm(
        values
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
    )
}

/// Loads `raw` as a function's configuration store does.
async fn load(raw: RawConfig) -> Result<(), ConfigError> {
    ConfigStore::new(
        ConfigSource::Values(raw),
        Function::InboundCall,
        Duration::from_secs(300),
    )
    .current()
    .await
    .map(drop)
}

#[tokio::test]
async fn a_loopback_http_url_is_refused_unless_the_function_runs_locally() {
    for key in ["events/url", "out-of-session/callback-url"] {
        for url in LOOPBACK {
            let err = load(raw(key, url)).await.unwrap_err();
            let ConfigError::Invalid {
                key: named,
                problem,
            } = &err
            else {
                panic!("{key} {url}: {err}");
            };
            assert_eq!(named, key, "{err}");
            assert!(problem.contains("MASKED_COMMS_LOCAL"), "{err}");
            load(raw(key, url).running_locally(true))
                .await
                .unwrap_or_else(|e| panic!("{key} {url} locally: {e}"));
        }
    }
}

#[tokio::test]
async fn https_is_taken_on_lambda_and_locally_and_plain_http_elsewhere_never() {
    for key in ["events/url", "out-of-session/callback-url"] {
        for local in [false, true] {
            load(raw(key, HTTPS).running_locally(local))
                .await
                .unwrap_or_else(|e| panic!("{key} local={local}: {e}"));
            let err = load(raw(key, "http://backend.example.com/hook").running_locally(local))
                .await
                .unwrap_err();
            assert!(err.to_string().contains(key), "{err}");
        }
    }
}
