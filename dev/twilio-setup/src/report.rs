//! What `twilio-setup` prints: the plan, why it is refused, what was
//! changed. Phone numbers are always redacted (country code and last two
//! digits, with the number's `PN` sid to find it in the console); URLs and
//! sids are not secrets and are printed whole, so an operator can restore
//! whatever was replaced.

use std::fmt::Write;

use super::plan::{Change, NumberPlan, Override, Plan, Refusal, Setting, WebhookNote};
use super::{Outcome, SetupError};
use masked_comms::privacy::{redact, redact_numbers};
use masked_comms::twilio::TwilioError;

/// The plan: each pool number and the webhook configuration, current
/// against wanted.
pub fn plan(plan: &Plan) -> String {
    let mut out = String::new();
    let owned = plan.numbers.len();
    let _ = writeln!(out, "Pool numbers ({owned} owned by the account):");
    for number in &plan.numbers {
        number_lines(&mut out, number);
    }
    for refusal in &plan.refusals {
        if let Refusal::NotOwned(number) = refusal {
            let _ = writeln!(out, "  {}  not a number of this account", redact(number));
        }
    }
    let _ = writeln!(
        out,
        "Conversations webhooks (the account's, /v1/Configuration/Webhooks):"
    );
    if plan.webhooks.changes.is_empty() {
        let _ = writeln!(out, "  up to date");
    }
    for change in &plan.webhooks.changes {
        change_line(&mut out, "  ", change);
    }
    for note in &plan.webhooks.notes {
        let _ = writeln!(out, "  note: {}", webhook_note(note));
    }
    out
}

fn number_lines(out: &mut String, number: &NumberPlan) {
    let name = format!("{} ({})", redact(&number.number), number.sid);
    if number.changes.is_empty() {
        let _ = writeln!(out, "  {name}  up to date");
    } else {
        let _ = writeln!(out, "  {name}");
        for change in &number.changes {
            change_line(out, "    ", change);
        }
    }
    for found in &number.overrides {
        let _ = writeln!(out, "    warning: {}", override_warning(found));
    }
}

fn change_line(out: &mut String, indent: &str, change: &Change) {
    let shown = |value: &Option<String>| value.clone().unwrap_or_else(|| "(none)".into());
    let _ = writeln!(
        out,
        "{indent}{:<15} {} -> {}",
        change.setting.name(),
        shown(&change.from),
        shown(&change.to)
    );
}

fn override_warning(found: &Override) -> String {
    match found {
        Override::VoiceApplication(sid) => format!(
            "VoiceApplicationSid {sid} is set: Twilio sends this number's calls to that \
             TwiML App, not to VoiceUrl. In the console (Phone Numbers > the number > Voice \
             Configuration) choose Webhook, or send VoiceApplicationSid= (empty) to the number."
        ),
        Override::Trunk(sid) => format!(
            "TrunkSid {sid} is set: this number's calls go to that SIP trunk, not to \
             VoiceUrl. Remove the number from the trunk (Elastic SIP Trunking > the trunk > \
             Numbers), or send TrunkSid= (empty) to the number."
        ),
        Override::AutoCreatingAddress(sid) => format!(
            "Conversations Address Configuration {sid} auto-creates a conversation for this \
             number's texts: texts from someone with no session open a new conversation and \
             never reach SmsUrl (no out-of-session answer). Turn auto-creation off \
             (Conversations > Manage > Addresses) or delete the configuration."
        ),
        Override::SmsApplication(sid) => format!(
            "SmsApplicationSid {sid} is set: Twilio sends this number's texts there (a TwiML \
             App, or a Messaging Service when it starts MG), not to SmsUrl, so texts outside \
             a session get no answer. Choose Webhook in the number's Messaging Configuration, \
             or remove it from the Messaging Service (or set the service to defer to the \
             sender's webhook)."
        ),
    }
}

fn webhook_note(note: &WebhookNote) -> String {
    match note {
        WebhookNote::ForeignPreWebhookKept(url) => format!(
            "another app's PreWebhookUrl {url} stays; it shares the filter list and the \
             method with ours"
        ),
        WebhookNote::PreEventRemoved => format!(
            "the {} pre-event (refusing messages in voice-only sessions) is removed; pass \
             --refuse-messages-in-voice-only to keep it",
            super::plan::PRE_EVENT
        ),
        WebhookNote::ServiceWebhooks { service, pre, post } => format!(
            "warning: the Conversations service {service} (where the stack's conversations \
             are made) has webhooks of its own (PreWebhookUrl {}, PostWebhookUrl {}): Twilio \
             sends its conversations' events there and none to the account's, so closed \
             sessions are not cleaned up and no onMessageAdd pre-event reaches the stack \
             (voice-only texts, the intercept). Clear them (POST \
             /v1/Services/{service}/Configuration/Webhooks with empty URLs) or point them here",
            pre.as_deref().unwrap_or("(none)"),
            post.as_deref().unwrap_or("(none)")
        ),
        WebhookNote::PreEventForIntercept => format!(
            "the {} pre-event is set because the intercept is configured (intercept/url): \
             each text in a session waits for your backend to allow, block or rewrite it",
            super::plan::PRE_EVENT
        ),
        WebhookNote::TakingOver => "--replace-webhooks: another app's configuration is \
                                    replaced; its values are shown on the left to restore it"
            .into(),
    }
}

/// Why the plan cannot be applied, and what to do about each.
pub fn refusals(plan: &Plan, account_sid: &str) -> String {
    let mut out = String::from("Refused; nothing was changed:\n");
    for refusal in &plan.refusals {
        let text = match refusal {
            Refusal::NotOwned(number) => format!(
                "{} is not a number of account {account_sid}: buy or port it into this \
                 account, or take it out of the pool configuration",
                redact(number)
            ),
            Refusal::ForeignWebhook { setting, url } => {
                let earlier = url.ends_with(masked_comms::handlers::conversation_events::PATH);
                format!(
                    "{setting} points elsewhere: {url} ({}). Whatever is there would stop \
                     getting the account's Conversations events: pass --replace-webhooks if it \
                     is yours to replace, or give this stack its own account or subaccount",
                    if earlier {
                        "another deployment of masked-comms, by its path"
                    } else {
                        "another app"
                    }
                )
            }
            Refusal::FlexTarget => "the account's Conversations events go to Flex (Target=flex). \
                                    Pass --replace-webhooks to send them to this stack instead"
                .into(),
            Refusal::SharedMethod { url, method } => format!(
                "another app's {} {url} is called with {method}; ours needs POST and the \
                 method is shared. Pass --replace-webhooks to replace that app's \
                 configuration",
                Setting::PreWebhookUrl
            ),
        };
        let _ = writeln!(out, "  - {text}");
    }
    out
}

/// The last line: what happened.
pub fn outcome(outcome: &Outcome) -> String {
    match outcome {
        Outcome::NothingToChange => {
            "Nothing to change: Twilio already sends everything to this stack.".into()
        }
        Outcome::DryRun { writes } => format!(
            "Dry run: {writes} update{} planned, nothing changed. Run without --dry-run to \
             apply.",
            plural(*writes)
        ),
        Outcome::Applied { writes } => {
            format!("Done: {writes} update{} applied.", plural(*writes))
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// A line for one applied update.
pub fn changed_number(number: &NumberPlan) -> String {
    let settings: Vec<&str> = number.changes.iter().map(|c| c.setting.name()).collect();
    format!(
        "changed {} ({}): {}",
        redact(&number.number),
        number.sid,
        settings.join(", ")
    )
}

pub fn changed_webhooks(changes: &[Change]) -> String {
    let settings: Vec<&str> = changes.iter().map(|c| c.setting.name()).collect();
    format!(
        "changed the Conversations webhooks: {}",
        settings.join(", ")
    )
}

/// An error for the operator: Twilio's code and message (numbers in it
/// redacted), and what it usually means.
pub fn error(err: &SetupError) -> String {
    match err {
        SetupError::Refused => "refused (see above)".into(),
        SetupError::Twilio {
            doing,
            error,
            applied,
        } => {
            let done = match applied {
                0 => String::new(),
                n => format!(
                    " ({n} update{} applied before it; run again to finish)",
                    plural(*n)
                ),
            };
            format!("could not {doing}: {}{done}", twilio_error(error))
        }
    }
}

fn twilio_error(error: &TwilioError) -> String {
    match error {
        TwilioError::Refused {
            status,
            code,
            message,
        } => {
            let code = code.map_or_else(
                || "no error code".to_owned(),
                |c| format!("error {c} (https://www.twilio.com/docs/errors/{c})"),
            );
            let hint = match status {
                401 => " (check twilio/account-sid and twilio/auth-token)",
                403 => " (the credentials may not manage this resource)",
                _ => "",
            };
            format!(
                "Twilio answered HTTP {status}, {code}: {}{hint}",
                redact_numbers(message)
            )
        }
        other => redact_numbers(&other.to_string()),
    }
}
