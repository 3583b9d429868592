//! `make twilio-setup`: points Twilio at the stack, as an operator would in
//! the console. Every pool number's calls go to `/inbound-call` and its
//! texts that no conversation takes to `/inbound-message` (out-of-session
//! handling); the account's Conversations events go to
//! `/conversation-events`.
//!
//! Everything is read first and planned ([`plan`], pure); a refusal (a pool
//! number the account does not own, another app's webhook) changes nothing
//! at all. Otherwise only the differences are written, so a second run
//! writes nothing. Numbers outside the pool are never read or written.
//!
//! [`cli`] is the program (`dev/twilio-setup`); [`wire`] the part the tests
//! drive against the emulator.

pub mod base_url;
pub mod cli;
pub mod plan;
mod report;

use std::io::Write;

use futures_util::{StreamExt, TryStreamExt};

use base_url::BaseUrl;
use masked_comms::config::Config;
use masked_comms::twilio::{Twilio, TwilioError};
use plan::{Choices, Current, Plan};

/// Pool numbers looked up at once: quick for a large pool, gentle on the
/// account's API concurrency.
const LOOKUPS_AT_ONCE: usize = 4;

/// What to wire, and how.
#[derive(Debug, Clone)]
pub struct Wiring {
    pub base_url: BaseUrl,
    /// Every pool number (E.164), each once, sorted.
    pub pool: Vec<String>,
    pub choices: Choices,
    pub dry_run: bool,
}

impl Wiring {
    /// The numbers of both pools: a WhatsApp sender number also takes calls.
    pub fn pool_of(config: &Config) -> Vec<String> {
        let mut pool: Vec<String> = config
            .pools()
            .into_iter()
            .flat_map(|p| p.numbers())
            .map(|n| n.as_str().to_owned())
            .collect();
        pool.sort();
        pool.dedup();
        pool
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    NothingToChange,
    DryRun { writes: usize },
    Applied { writes: usize },
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The plan names why; nothing was changed.
    #[error("refused: nothing was changed")]
    Refused,
    #[error("could not {doing}: {error}")]
    Twilio {
        doing: String,
        error: TwilioError,
        /// Updates that went through before the failure.
        applied: usize,
    },
}

impl SetupError {
    /// For the operator: Twilio's code and message, numbers redacted.
    pub fn explain(&self) -> String {
        report::error(self)
    }
}

fn failed(doing: impl Into<String>, applied: usize) -> impl FnOnce(TwilioError) -> SetupError {
    move |error| SetupError::Twilio {
        doing: doing.into(),
        error,
        applied,
    }
}

/// What Twilio holds now for the pool and the webhook configuration.
pub async fn read_current(twilio: &Twilio<'_>, pool: &[String]) -> Result<Current, SetupError> {
    let numbers = futures_util::stream::iter(pool)
        .map(|number| async move {
            let found = twilio.find_incoming_phone_number(number).await?;
            Ok::<_, TwilioError>((number.clone(), found))
        })
        .buffered(LOOKUPS_AT_ONCE)
        .try_collect()
        .await
        .map_err(failed("look up the pool numbers", 0))?;
    let webhooks = twilio
        .fetch_webhook_configuration()
        .await
        .map_err(failed("read the Conversations webhook configuration", 0))?;
    // Conversations go into the account's default service; one with webhooks
    // of its own keeps every event from the account's configuration.
    let defaults = twilio
        .fetch_conversations_defaults()
        .await
        .map_err(failed("read the Conversations defaults", 0))?;
    let service_webhooks = match defaults
        .default_chat_service_sid
        .filter(|sid| sid.bytes().all(|b| b.is_ascii_alphanumeric()))
    {
        Some(service) => {
            let own = twilio
                .fetch_service_webhook_configuration(&service)
                .await
                .map_err(failed("read the Conversations service's webhooks", 0))?;
            Some((service, own))
        }
        None => None,
    };
    let address_configurations = twilio
        .address_configurations()
        .await
        .map_err(failed("read the Conversations Address Configurations", 0))?;
    Ok(Current {
        numbers,
        webhooks,
        service_webhooks,
        address_configurations,
    })
}

/// Reads, plans, prints the plan to `out` and, unless refused or a dry run,
/// applies it, printing each change as it is made.
pub async fn wire(
    twilio: &Twilio<'_>,
    wiring: &Wiring,
    out: &mut dyn Write,
) -> Result<Outcome, SetupError> {
    let current = read_current(twilio, &wiring.pool).await?;
    let plan = Plan::new(&current, &wiring.base_url.targets(), wiring.choices);
    say(out, &report::plan(&plan));
    say(out, "");
    if plan.is_refused() {
        say(out, &report::refusals(&plan, twilio.account_sid()));
        return Err(SetupError::Refused);
    }
    let outcome = match plan.writes() {
        0 => Outcome::NothingToChange,
        writes if wiring.dry_run => Outcome::DryRun { writes },
        writes => {
            apply(twilio, &plan, out).await?;
            Outcome::Applied { writes }
        }
    };
    say(out, &report::outcome(&outcome));
    Ok(outcome)
}

async fn apply(twilio: &Twilio<'_>, plan: &Plan, out: &mut dyn Write) -> Result<(), SetupError> {
    let mut applied = 0;
    for number in plan.numbers_to_change() {
        twilio
            .update_incoming_phone_number(&number.sid, &number.update())
            .await
            .map_err(failed(format!("update {}", number.sid), applied))?;
        applied += 1;
        say(out, &report::changed_number(number));
    }
    if !plan.webhooks.changes.is_empty() {
        twilio
            .update_webhook_configuration(&plan.webhooks.update())
            .await
            .map_err(failed(
                "update the Conversations webhook configuration",
                applied,
            ))?;
        say(out, &report::changed_webhooks(&plan.webhooks.changes));
    }
    Ok(())
}

/// Output is for a person; a closed pipe must not stop the changes.
fn say(out: &mut dyn Write, text: &str) {
    let _ = writeln!(out, "{}", text.trim_end());
    let _ = out.flush();
}
