//! `twilio-emulator`: run the emulator as a process, or poke a running one.
//!
//! ```text
//! twilio-emulator serve [--port 4010] [--host 127.0.0.1] [--voice-url URL] [--events-url URL]
//!                       [--latency-ms N] [--creates-per-second N]
//! twilio-emulator call  --from +1... --to +1... [--emulator http://127.0.0.1:4010]
//! twilio-emulator close --sid CH...            [--emulator http://127.0.0.1:4010]
//! ```
//!
//! `serve` takes the account from TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN, else the sample
//! defaults. `call` and `close` use the control API and print what our webhook answered.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    process::ExitCode,
    time::Duration,
};

use serde_json::{json, Value};
use tracing_subscriber::EnvFilter;
use twilio_emulator::{Emulator, EmulatorConfig};

const USAGE: &str = "usage:
  twilio-emulator serve [--port 4010] [--host 127.0.0.1] [--voice-url URL] [--events-url URL]
                        [--latency-ms N] [--creates-per-second N]
  twilio-emulator call  --from +1... --to +1... [--emulator http://127.0.0.1:4010]
  twilio-emulator close --sid CH...            [--emulator http://127.0.0.1:4010]";

const DEFAULT_EMULATOR: &str = "http://127.0.0.1:4010";

/// `--name value` pairs; anything not in `allowed` is an error.
fn parse_flags(args: &[String], allowed: &[&str]) -> Result<HashMap<String, String>, String> {
    let mut flags = HashMap::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let name = arg
            .strip_prefix("--")
            .filter(|n| allowed.contains(n))
            .ok_or_else(|| format!("unexpected argument {arg}"))?;
        let value = iter
            .next()
            .ok_or_else(|| format!("--{name} needs a value"))?;
        flags.insert(name.to_owned(), value.clone());
    }
    Ok(flags)
}

fn number<T: std::str::FromStr>(
    flags: &HashMap<String, String>,
    name: &str,
) -> Result<Option<T>, String> {
    flags
        .get(name)
        .map(|v| {
            v.parse()
                .map_err(|_| format!("--{name} must be a number, got {v}"))
        })
        .transpose()
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("serve") => serve(&args[1..]).await,
        Some("call") => call(&args[1..]).await,
        Some("close") => close(&args[1..]).await,
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: &[String]) -> Result<(), String> {
    let flags = parse_flags(
        args,
        &[
            "port",
            "host",
            "voice-url",
            "events-url",
            "latency-ms",
            "creates-per-second",
            "numbers",
        ],
    )?;
    let port: u16 = number(&flags, "port")?.unwrap_or(4010);
    let host: IpAddr = flags
        .get("host")
        .map_or("127.0.0.1", String::as_str)
        .parse()
        .map_err(|_| "--host must be an IP address".to_owned())?;
    let defaults = EmulatorConfig::default();
    let config = EmulatorConfig {
        account_sid: std::env::var("TWILIO_ACCOUNT_SID").unwrap_or(defaults.account_sid),
        auth_token: std::env::var("TWILIO_AUTH_TOKEN").unwrap_or(defaults.auth_token),
        latency: Duration::from_millis(number(&flags, "latency-ms")?.unwrap_or(0)),
        conversation_creates_per_second: number(&flags, "creates-per-second")?,
        voice_url: flags.get("voice-url").cloned(),
        events_url: flags.get("events-url").cloned(),
        conversations_webhook_timeout: defaults.conversations_webhook_timeout,
        numbers: flags
            .get("numbers")
            .map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
    };
    let emulator = Emulator::start_on(SocketAddr::new(host, port), config)
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidInput => format!("--numbers: {e}"),
            _ => format!("cannot listen on {host}:{port}: {e}"),
        })?;
    println!("twilio-emulator listening on {}", emulator.base_url());
    println!("  account sid: {}", emulator.account_sid());
    println!("  control API: {}/_emulator/", emulator.base_url());
    wait_for_stop_signal().await;
    println!("stopping");
    emulator.shutdown().await;
    Ok(())
}

async fn wait_for_stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn call(args: &[String]) -> Result<(), String> {
    let flags = parse_flags(args, &["from", "to", "emulator"])?;
    let (Some(from), Some(to)) = (flags.get("from"), flags.get("to")) else {
        return Err(format!("call needs --from and --to\n{USAGE}"));
    };
    let emulator = flags
        .get("emulator")
        .map_or(DEFAULT_EMULATOR, String::as_str);
    control_post(
        emulator,
        "/_emulator/calls/place",
        json!({"from": from, "to": to}),
    )
    .await
}

async fn close(args: &[String]) -> Result<(), String> {
    let flags = parse_flags(args, &["sid", "emulator"])?;
    let sid = flags
        .get("sid")
        .ok_or_else(|| format!("close needs --sid\n{USAGE}"))?;
    let emulator = flags
        .get("emulator")
        .map_or(DEFAULT_EMULATOR, String::as_str);
    control_post(
        emulator,
        &format!("/_emulator/conversations/{sid}/close"),
        json!({}),
    )
    .await
}

/// POSTs to the control API and prints the webhook outcome it returns.
async fn control_post(emulator: &str, path: &str, body: Value) -> Result<(), String> {
    let url = format!("{}{path}", emulator.trim_end_matches('/'));
    let response = reqwest::Client::new()
        .post(&url)
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| format!("cannot reach the emulator at {url}: {e}"))?;
    let ok = response.status().is_success();
    let text = response.text().await.map_err(|e| e.to_string())?;
    let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if !ok {
        return Err(format!(
            "emulator refused: {}",
            value["error"].as_str().unwrap_or(&value.to_string())
        ));
    }
    println!("status: {}", value["status"]);
    if let Some(content_type) = value["content_type"].as_str() {
        println!("content-type: {content_type}");
    }
    println!();
    println!("{}", value["body"].as_str().unwrap_or_default());
    Ok(())
}
