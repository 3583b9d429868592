//! `twilio-emulator`: run the emulator as a process, or poke a running one.
//!
//! ```text
//! twilio-emulator serve    [--port 4010] [--host 127.0.0.1] [--voice-url URL] [--events-url URL]
//!                          [--numbers +1...,+1...] [--latency-ms N] [--creates-per-second N]
//! twilio-emulator call     --from +1... --to +1...              [--emulator URL]
//! twilio-emulator complete [--sid CA...] --duration SECONDS     [--emulator URL]
//! twilio-emulator message  --from +1... --to +1... --body TEXT  [--emulator URL]
//! twilio-emulator close    --sid CH...                          [--emulator URL]
//! ```
//!
//! `serve` takes the account from TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN, else the sample
//! defaults; `--numbers` are the phone numbers it owns (IncomingPhoneNumbers, to configure
//! through the API). The other commands use a running emulator's control API
//! (`--emulator`, default http://127.0.0.1:4010):
//!
//! - `call` places an inbound call and prints the call sid and what our webhook answered;
//! - `complete` ends a call (by default the latest one still going) after that many seconds
//!   of talk, sending the status, dial action and recording callbacks its TwiML asked for,
//!   and prints each;
//! - `message` sends an inbound text (SMS, or WhatsApp with `whatsapp:` addresses) and
//!   prints what became of it: added to a conversation, rejected by the pre-event, sent to
//!   the number's SmsUrl (with the answer), or dropped;
//! - `close` closes a conversation as Twilio's timer would and prints our events answer.

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
  twilio-emulator serve    [--port 4010] [--host 127.0.0.1] [--voice-url URL] [--events-url URL]
                           [--numbers +1...,+1...] [--latency-ms N] [--creates-per-second N]
  twilio-emulator call     --from +1... --to +1...              [--emulator URL]
  twilio-emulator complete [--sid CA...] --duration SECONDS     [--emulator URL]
  twilio-emulator message  --from +1... --to +1... --body TEXT  [--emulator URL]
  twilio-emulator close    --sid CH...                          [--emulator URL]

  serve     run the emulator; --numbers are the phone numbers it owns
  call      place an inbound call; prints the call sid and our TwiML answer
  complete  end a call (default: the latest still going) and send its callbacks
  message   send an inbound text; prints whether a conversation took it, the
            pre-event rejected it, the number's SmsUrl got it, or it was dropped
  close     close a conversation as Twilio's timer would

  --emulator defaults to http://127.0.0.1:4010; serve takes the account from
  TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN, else sample defaults.";

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
        Some("complete") => complete(&args[1..]).await,
        Some("message") => message(&args[1..]).await,
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

/// The `--emulator` flag, or the default.
fn emulator_of(flags: &HashMap<String, String>) -> &str {
    flags
        .get("emulator")
        .map_or(DEFAULT_EMULATOR, String::as_str)
}

async fn call(args: &[String]) -> Result<(), String> {
    let flags = parse_flags(args, &["from", "to", "emulator"])?;
    let (Some(from), Some(to)) = (flags.get("from"), flags.get("to")) else {
        return Err(format!("call needs --from and --to\n{USAGE}"));
    };
    let (headers, answer) = control_post(
        emulator_of(&flags),
        "/_emulator/calls/place",
        json!({"from": from, "to": to}),
    )
    .await?;
    if let Some(sid) = headers.get("x-call-sid").and_then(|v| v.to_str().ok()) {
        println!("call sid: {sid}");
    }
    print_answer(&answer);
    Ok(())
}

async fn complete(args: &[String]) -> Result<(), String> {
    let flags = parse_flags(args, &["sid", "duration", "emulator"])?;
    let duration: u64 =
        number(&flags, "duration")?.ok_or_else(|| format!("complete needs --duration\n{USAGE}"))?;
    let (_, done) = control_post(
        emulator_of(&flags),
        "/_emulator/calls/complete",
        json!({"call_sid": flags.get("sid"), "duration": duration}),
    )
    .await?;
    println!("call {} ended after {duration} s", text(&done["call_sid"]));
    if let Some(child) = done["child_call_sid"].as_str() {
        println!("  dialled leg: {child}");
    }
    for recording in done["recording_sids"].as_array().into_iter().flatten() {
        println!("  recording: {}", text(recording));
    }
    let callbacks = done["callbacks"].as_array().cloned().unwrap_or_default();
    if callbacks.is_empty() {
        println!("  no callbacks were asked for");
    }
    for callback in callbacks {
        let result = match callback["outcome"].get("Ok") {
            Some(answer) => answer["status"].to_string(),
            None => text(&callback["outcome"]["Err"]),
        };
        println!(
            "  {} {} {} -> {result}",
            text(&callback["kind"]),
            text(&callback["method"]),
            text(&callback["url"]),
        );
    }
    Ok(())
}

async fn message(args: &[String]) -> Result<(), String> {
    let flags = parse_flags(args, &["from", "to", "body", "emulator"])?;
    let (Some(from), Some(to), Some(body)) =
        (flags.get("from"), flags.get("to"), flags.get("body"))
    else {
        return Err(format!("message needs --from, --to and --body\n{USAGE}"));
    };
    let (_, outcome) = control_post(
        emulator_of(&flags),
        "/_emulator/messages",
        json!({"from": from, "to": to, "body": body}),
    )
    .await?;
    match outcome["outcome"].as_str() {
        Some("added") => println!(
            "added to {} as {}: {}",
            text(&outcome["conversation_sid"]),
            text(&outcome["message_sid"]),
            text(&outcome["body"]),
        ),
        Some("rejected") => println!(
            "rejected by the onMessageAdd pre-event ({}) in {}",
            outcome["status"],
            text(&outcome["conversation_sid"]),
        ),
        Some("sent_to_sms_url") => {
            println!("sent to the number's SmsUrl {}", text(&outcome["url"]));
            match outcome["answer"].get("Ok") {
                Some(answer) => print_answer(answer),
                None => println!("no answer: {}", text(&outcome["answer"]["Err"])),
            }
            for reply in outcome["replies"].as_array().into_iter().flatten() {
                println!(
                    "reply to {} from {}: {}",
                    text(&reply["to"]),
                    text(&reply["from"]),
                    text(&reply["body"]),
                );
            }
        }
        _ => println!("dropped: {}", text(&outcome["reason"])),
    }
    Ok(())
}

async fn close(args: &[String]) -> Result<(), String> {
    let flags = parse_flags(args, &["sid", "emulator"])?;
    let sid = flags
        .get("sid")
        .ok_or_else(|| format!("close needs --sid\n{USAGE}"))?;
    let (_, answer) = control_post(
        emulator_of(&flags),
        &format!("/_emulator/conversations/{sid}/close"),
        json!({}),
    )
    .await?;
    print_answer(&answer);
    Ok(())
}

/// A JSON string as text, anything else as JSON.
fn text(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned)
}

/// Prints what one of our webhooks answered.
fn print_answer(answer: &Value) {
    println!("status: {}", answer["status"]);
    if let Some(content_type) = answer["content_type"].as_str() {
        println!("content-type: {content_type}");
    }
    println!();
    println!("{}", answer["body"].as_str().unwrap_or_default());
}

/// POSTs to the control API; returns the answer's headers and JSON, or why it failed.
async fn control_post(
    emulator: &str,
    path: &str,
    body: Value,
) -> Result<(reqwest::header::HeaderMap, Value), String> {
    let url = format!("{}{path}", emulator.trim_end_matches('/'));
    let response = reqwest::Client::new()
        .post(&url)
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| format!("cannot reach the emulator at {url}: {e}"))?;
    let ok = response.status().is_success();
    let headers = response.headers().clone();
    let text = response.text().await.map_err(|e| e.to_string())?;
    let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if !ok {
        return Err(format!(
            "emulator refused: {}",
            value["error"].as_str().unwrap_or(&value.to_string())
        ));
    }
    Ok((headers, value))
}
