//! The `twilio-setup` program: options, configuration read as the
//! inbound-call function reads it, and exit codes.

use std::process::ExitCode;
use std::time::Duration;

use tracing_subscriber::EnvFilter;

use super::base_url::BaseUrl;
use super::plan::Choices;
use super::{wire, Outcome, Wiring};
use masked_comms::config::{key, Config, ConfigSource, Function, OutOfSession};
use masked_comms::privacy::redact;
use masked_comms::twilio::{TwilioHttp, TwilioSettings};

pub const USAGE: &str = "\
usage: twilio-setup [--base-url URL] [--stack-url URL] [--dry-run]
                    [--refuse-messages-in-voice-only] [--replace-webhooks]

Points Twilio at the stack: every pool number's VoiceUrl (calls) and SmsUrl
(texts no conversation takes) and the account's Conversations webhooks.
Reads everything first; writes only what differs (a second run writes
nothing); refuses, changing nothing, when a pool number is not the account's
or another app's webhook is in the way.

  --base-url URL     the stack's base URL (https; http only to this machine).
                     Default: the configured public-base-url, else --stack-url
  --stack-url URL    the stack's ApiBaseUrl output, used when neither of the
                     above is given (make twilio-setup looks it up)
  --dry-run          print the plan, change nothing
  --refuse-messages-in-voice-only
                     also set the onMessageAdd pre-event, so that messages in
                     voice-only sessions are refused. Every message of the
                     account then waits for the stack's answer; without this
                     option the pre-event is not set (and removed if ours),
                     unless the intercept (intercept/url) is configured
  --replace-webhooks replace another app's Conversations webhook settings
                     (printed first, to restore them)

Configuration is read as the functions read it: from SSM under
SSM_PARAMETER_PREFIX when set (AWS credentials and region as usual), else
from the environment (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, NUMBER_POOL,
WHATSAPP_POOL, OUT_OF_SESSION_MODE, PUBLIC_BASE_URL, ...).
TWILIO_API_URL / TWILIO_CONVERSATIONS_URL point it at an emulator.

Exit status: 0 done (or nothing to change), 1 refused or failed, 2 usage.";

/// Time for every Twilio request of one run, retries included.
const BUDGET: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    pub base_url: Option<String>,
    pub stack_url: Option<String>,
    pub dry_run: bool,
    pub choices: Choices,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help,
    Run(Options),
}

/// `--name value` or `--name=value` for the URLs; flags alone otherwise.
pub fn parse_args(args: &[String]) -> Result<Command, String> {
    let mut options = Options::default();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name, Some(value.to_owned())),
            None => (arg.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next().cloned())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("{name} needs a URL"))
        };
        match name {
            "-h" | "--help" => return Ok(Command::Help),
            "--base-url" => options.base_url = Some(value()?),
            "--stack-url" => options.stack_url = Some(value()?),
            flag if inline.is_some() => return Err(format!("{flag} takes no value")),
            "--dry-run" => options.dry_run = true,
            "--refuse-messages-in-voice-only" => {
                options.choices.refuse_messages_in_voice_only = true
            }
            "--replace-webhooks" => options.choices.replace_webhooks = true,
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(Command::Run(options))
}

/// The whole program: `args` without the program name.
pub async fn main(args: &[String]) -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .init();
    let options = match parse_args(args) {
        Ok(Command::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Run(options)) => options,
        Err(problem) => {
            eprintln!("twilio-setup: {problem}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&options).await {
        Ok(_) => ExitCode::SUCCESS,
        Err(problem) => {
            eprintln!("twilio-setup: {problem}");
            ExitCode::FAILURE
        }
    }
}

async fn run(options: &Options) -> Result<Outcome, String> {
    let (config, source) = load_config().await?;
    let credentials = config.twilio().map_err(|e| e.to_string())?;
    let (base_url, from) = BaseUrl::choose(
        options.base_url.as_deref(),
        config.public_base_url.as_ref(),
        options.stack_url.as_deref(),
    )
    .map_err(|e| e.to_string())?;
    let choices = Choices {
        intercept: config.intercept.is_some(),
        ..options.choices
    };
    let wiring = Wiring {
        pool: Wiring::pool_of(&config),
        base_url,
        choices,
        dry_run: options.dry_run,
    };
    println!(
        "Account {}, configuration from {source}\n\
         Base URL {} (from {from})\n\
         Pool: {} numbers; texts no conversation takes: {}\n\
         Intercept: {}\n",
        credentials.account_sid,
        wiring.base_url,
        wiring.pool.len(),
        out_of_session(&config.out_of_session),
        match &config.intercept {
            Some(intercept) => format!(
                "your backend at {} allows, blocks or rewrites texts and calls in a session \
                 (texts through the onMessageAdd pre-event)",
                intercept.url.host_str().unwrap_or("?")
            ),
            None => "not configured".to_owned(),
        },
    );
    let settings = TwilioSettings::from_env().map_err(|e| e.to_string())?;
    let http = TwilioHttp::new(settings).map_err(|e| format!("HTTP client: {e}"))?;
    let metrics = masked_comms::metrics::Recorder::default();
    let twilio = http.session(credentials, BUDGET, &metrics);
    wire(&twilio, &wiring, &mut std::io::stdout())
        .await
        .map_err(|e| e.explain())
}

/// The configuration the inbound-call function reads (which answers the
/// webhooks wired here, so its rules apply), plus a pool, which the tool
/// cannot do without.
async fn load_config() -> Result<(Config, String), String> {
    let prefix = std::env::var("SSM_PARAMETER_PREFIX")
        .ok()
        .filter(|p| !p.trim().is_empty());
    let aws = match prefix {
        Some(_) => Some(aws_config::load_from_env().await),
        None => None,
    };
    let source = ConfigSource::from_env(Function::InboundCall, aws.as_ref());
    let described = match &source {
        ConfigSource::Ssm { prefix, .. } => format!("SSM parameters under {prefix}"),
        _ => "environment variables".to_owned(),
    };
    let raw = source.load().await.map_err(|e| e.to_string())?;
    raw.require(&[&key::ACCOUNT_SID, &key::AUTH_TOKEN, &key::NUMBER_POOL])
        .and_then(|()| raw.parse_for(Function::InboundCall))
        .map(|config| (config, described))
        .map_err(|e| e.to_string())
}

/// Every mode answers at `/inbound-message`, so every number gets the SmsUrl.
fn out_of_session(mode: &OutOfSession) -> String {
    match mode {
        OutOfSession::Message => "a reply (out-of-session mode `message`)".into(),
        OutOfSession::Forward(number) => format!(
            "forwarded to {} (out-of-session mode `forward`)",
            redact(number.as_str())
        ),
        OutOfSession::Callback(url) => format!(
            "the backend at {} decides (out-of-session mode `callback`)",
            url.host_str().unwrap_or("?")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn options_parse_with_either_spelling_of_values() {
        let parsed = parse_args(&args(&[
            "--base-url",
            "https://a.example",
            "--stack-url=https://b.example",
            "--dry-run",
            "--replace-webhooks",
        ]))
        .unwrap();
        assert_eq!(
            parsed,
            Command::Run(Options {
                base_url: Some("https://a.example".into()),
                stack_url: Some("https://b.example".into()),
                dry_run: true,
                choices: Choices {
                    replace_webhooks: true,
                    refuse_messages_in_voice_only: false,
                    intercept: false,
                },
            })
        );
        assert_eq!(parse_args(&args(&["--help"])).unwrap(), Command::Help);
        assert_eq!(
            parse_args(&[]).unwrap(),
            Command::Run(Options::default()),
            "no options: wire for real, base URL from the configuration"
        );
    }

    #[test]
    fn bad_options_say_what_is_wrong() {
        for (given, problem) in [
            (&["--base-url"][..], "--base-url needs a URL"),
            (&["--base-url="][..], "--base-url needs a URL"),
            (&["--dry-run=yes"][..], "--dry-run takes no value"),
            (&["--dryrun"][..], "unknown option --dryrun"),
            (
                &["https://a.example"][..],
                "unknown option https://a.example",
            ),
        ] {
            assert_eq!(parse_args(&args(given)).unwrap_err(), problem, "{given:?}");
        }
    }
}
