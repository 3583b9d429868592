use super::*;
use std::collections::HashMap;

pub const SID: &str = "AC00000000000000000000000000000000";

fn raw(pairs: &[(&str, &str)]) -> RawConfig {
    RawConfig::from_ssm(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

fn complete() -> Vec<(&'static str, &'static str)> {
    vec![
        ("twilio/account-sid", SID),
        ("twilio/auth-token", "token-value"),
        ("number-pool", "+15005550002,+15005550001"),
        ("auth/username", "operator"),
        ("auth/password", "password-value-long-enough"),
    ]
}

#[test]
fn parses_a_complete_configuration() {
    let config = raw(&complete()).parse().unwrap();
    assert_eq!(config.twilio().unwrap().account_sid, SID);
    assert_eq!(config.pool().unwrap().len(), 2);
    assert_eq!(config.pool().unwrap().numbers()[0].as_str(), "+15005550001");
    assert!(config.public_base_url.is_none());
}

#[test]
fn pool_may_be_a_json_array() {
    let mut pairs = complete();
    pairs[2] = ("number-pool", r#"["+15005550009", "+15005550008"]"#);
    assert_eq!(raw(&pairs).parse().unwrap().pool().unwrap().len(), 2);
}

#[test]
fn missing_and_invalid_values_name_the_key_but_not_the_value() {
    for drop in 0..5 {
        let mut pairs = complete();
        let (key, _) = pairs.remove(drop);
        assert_eq!(
            raw(&pairs).parse().unwrap_err(),
            ConfigError::Missing { key: key.into() }
        );
    }
    let mut pairs = complete();
    pairs[0] = ("twilio/account-sid", "ACsecretish");
    let err = raw(&pairs).parse().unwrap_err().to_string();
    assert!(
        err.contains("twilio/account-sid") && !err.contains("ACsecretish"),
        "{err}"
    );

    let mut pairs = complete();
    pairs.push(("session/closed-timer", "PT1M"));
    let err = raw(&pairs).parse().unwrap_err().to_string();
    assert!(
        err.contains("session/closed-timer") && err.contains("10 minutes"),
        "{err}"
    );

    let mut pairs = complete();
    pairs[2] = ("number-pool", "+15005550001,5005550002");
    let err = raw(&pairs).parse().unwrap_err().to_string();
    assert!(
        err.contains("number-pool") && err.contains("entry 2"),
        "{err}"
    );
}

#[test]
fn environment_uses_the_original_apps_names() {
    let env: HashMap<&str, &str> = [
        ("TWILIO_ACCOUNT_SID", SID),
        ("TWILIO_AUTH_TOKEN", "t"),
        ("NUMBER_POOL", r#"["+15005550001"]"#),
        ("AUTH_USERNAME", "u"),
        ("CONNECTING_CALL_ANNOUNCEMENT", "Connecting you"),
    ]
    .into_iter()
    .collect();
    let raw = RawConfig::from_env_vars(|name| env.get(name).map(|v| v.to_string()));
    assert_eq!(
        raw.parse().unwrap_err(),
        ConfigError::Missing {
            key: "AUTH_PASSWORD".into()
        }
    );
}

#[test]
fn each_function_reads_only_its_own_keys() {
    // The page needs no Twilio credentials at all.
    let page_only: Vec<_> = complete()
        .into_iter()
        .filter(|(k, _)| k.starts_with("auth/") || *k == "number-pool")
        .collect();
    let config = raw(&page_only).parse_for(Function::LandingPage).unwrap();
    assert!(config.operator().is_ok() && config.pool().is_ok());
    assert_eq!(
        config.twilio().unwrap_err(),
        ConfigError::NotRead {
            key: "twilio/auth-token"
        }
    );
    // A key a function does not read is ignored, even when present and broken.
    let mut pairs = complete();
    pairs.push(("call/voice", "Polly.Amy"));
    pairs.push(("session/closed-timer", "not a timer"));
    let events = raw(&pairs).parse_for(Function::ConversationEvents).unwrap();
    assert!(events.operator().is_err() && events.pool().is_err());
    assert!(events.call.voice.is_none());
    assert!(raw(&pairs).parse_for(Function::Sessions).is_err());
    for function in [
        Function::Sessions,
        Function::InboundCall,
        Function::ConversationEvents,
    ] {
        assert!(raw(&complete())
            .parse_for(function)
            .unwrap()
            .twilio()
            .is_ok());
    }
}

#[test]
fn a_short_password_is_refused_naming_the_key_not_the_value() {
    let mut pairs = complete();
    pairs[4] = ("auth/password", "hunter2-hunter2");
    let err = raw(&pairs).parse().unwrap_err().to_string();
    assert!(
        err.contains("auth/password") && err.contains("16 characters"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn each_function_is_named_after_its_binary_directory() {
    let functions = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../functions");
    for function in [
        Function::Sessions,
        Function::InboundCall,
        Function::ConversationEvents,
        Function::LandingPage,
    ] {
        let manifest = functions.join(function.binary()).join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).expect("the function's Cargo.toml");
        assert!(
            text.contains(&format!("name = \"{}\"", function.binary())),
            "{manifest:?}"
        );
    }
}

#[test]
fn key_lists_fit_what_the_functions_need() {
    for function in [
        Function::Sessions,
        Function::InboundCall,
        Function::ConversationEvents,
        Function::LandingPage,
    ] {
        let keys: Vec<&str> = function.keys().map(|k| k.ssm).collect();
        let mut unique = keys.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), keys.len(), "{function:?} lists a key twice");
        assert!(keys.iter().all(|k| key::ALL.iter().any(|a| a.ssm == *k)));
    }
    let page: Vec<&str> = Function::LandingPage.keys().map(|k| k.ssm).collect();
    assert!(!page.contains(&"twilio/auth-token"));
}

#[test]
fn the_original_apps_misspelt_names_are_read_and_lose_to_the_right_ones() {
    let base: HashMap<&str, &str> = [
        ("TWILIO_ACCOUNT_SID", SID),
        ("TWILIO_AUTH_TOKEN", "t"),
        ("CALL_ANNOUCEMENT_VOICE", "Polly.Amy"),
        ("CONNECTING_CALL_ANNOUCEMENT", "Hold on"),
        ("CONNECTING_CALL_ANNOUNCEMENT", "Connecting you"),
    ]
    .into_iter()
    .collect();
    let raw = RawConfig::from_env_vars(|name| base.get(name).map(|v| v.to_string()));
    let config = raw.parse_for(Function::InboundCall).unwrap();
    assert_eq!(config.call.voice.as_deref(), Some("Polly.Amy"));
    assert_eq!(
        config.call.connecting_announcement.as_deref(),
        Some("Connecting you")
    );
    assert!(config.call.language.is_none());
}

#[test]
fn secrets_do_not_print() {
    let config = raw(&complete()).parse().unwrap();
    let debug = format!("{config:?}");
    assert!(!debug.contains("token-value") && !debug.contains("password-value"));
}
