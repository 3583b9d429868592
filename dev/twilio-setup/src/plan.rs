//! The plan: what Twilio holds now against what the stack needs, as the
//! fewest settings to change, and what stands in the way. Pure: the caller
//! reads Twilio and applies the plan.

use std::collections::BTreeSet;
use std::fmt;

use super::base_url::Targets;
use masked_comms::twilio::{
    AddressConfiguration, IncomingPhoneNumber, NumberWebhooks, WebhookConfiguration,
    WebhookConfigurationUpdate,
};

/// The post-events the conversation-events function acts on: a closed
/// session is cleaned up; an added message is told and logged.
pub const POST_EVENTS: [&str; 3] = [
    "onConversationStateUpdated",
    "onConversationUpdated",
    "onMessageAdded",
];
/// The pre-event it answers: a message in a voice-only session is refused.
pub const PRE_EVENT: &str = "onMessageAdd";
/// Every webhook of ours takes a form POST.
const METHOD: &str = "POST";
/// The account configuration's target when its events go to URLs.
const TARGET_WEBHOOK: &str = "webhook";
const TARGET_FLEX: &str = "flex";

/// What the operator asked for beyond the wiring itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Choices {
    /// Also set the `onMessageAdd` pre-event, so that messages in voice-only
    /// sessions are refused. Every message of the account then waits for
    /// our answer, so it is off unless asked for (and removed when it was
    /// ours and is no longer asked for).
    pub refuse_messages_in_voice_only: bool,
    /// The stack's intercept is configured (`intercept/url`): the
    /// `onMessageAdd` pre-event must be set, or texts reach people without
    /// the operator's backend having its say.
    pub intercept: bool,
    /// Take the account's Conversations webhooks over from whatever another
    /// app set there.
    pub replace_webhooks: bool,
}

/// What Twilio holds now.
#[derive(Debug, Clone, Default)]
pub struct Current {
    /// Each pool number (E.164) with the account's resource for it; `None`
    /// when the account does not own it.
    pub numbers: Vec<(String, Option<IncomingPhoneNumber>)>,
    pub webhooks: WebhookConfiguration,
    /// The default Conversations service (where the stack's conversations
    /// are made) and its own webhook configuration.
    pub service_webhooks: Option<(String, WebhookConfiguration)>,
    /// The account's Conversations Address Configurations.
    pub address_configurations: Vec<AddressConfiguration>,
}

/// A setting the plan may change, by Twilio's parameter name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    VoiceUrl,
    VoiceMethod,
    SmsUrl,
    SmsMethod,
    Method,
    Filters,
    PreWebhookUrl,
    PostWebhookUrl,
    Target,
}

impl Setting {
    pub fn name(self) -> &'static str {
        match self {
            Setting::VoiceUrl => "VoiceUrl",
            Setting::VoiceMethod => "VoiceMethod",
            Setting::SmsUrl => "SmsUrl",
            Setting::SmsMethod => "SmsMethod",
            Setting::Method => "Method",
            Setting::Filters => "Filters",
            Setting::PreWebhookUrl => "PreWebhookUrl",
            Setting::PostWebhookUrl => "PostWebhookUrl",
            Setting::Target => "Target",
        }
    }
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One setting from its current value to the wanted one (`None`: unset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub setting: Setting,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// One pool number the account owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberPlan {
    pub number: String,
    pub sid: String,
    pub changes: Vec<Change>,
    /// What makes Twilio ignore the URLs even once they are set.
    pub overrides: Vec<Override>,
}

/// A number setting that takes calls or texts away from its URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Override {
    VoiceApplication(String),
    Trunk(String),
    SmsApplication(String),
    /// A Conversations Address Configuration (its sid) auto-creates a
    /// conversation for the number's unmatched texts: they never reach
    /// SmsUrl (out-of-session texts get no answer).
    AutoCreatingAddress(String),
}

/// The account's Conversations webhook configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhooksPlan {
    pub changes: Vec<Change>,
    /// The whole filter list once applied (an update replaces the list).
    pub filters: Vec<String>,
    pub notes: Vec<WebhookNote>,
}

/// Worth telling the operator about the webhook configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookNote {
    /// Another app's pre-event URL stays, beside our post-event URL (the
    /// filters and method are shared).
    ForeignPreWebhookKept(String),
    /// Our `onMessageAdd` pre-event goes: it was not asked for this time.
    PreEventRemoved,
    /// The default Conversations service has webhooks of its own: Twilio
    /// sends its conversations' events there and none to the account's, so
    /// the stack hears no closes and answers no pre-event.
    ServiceWebhooks {
        service: String,
        pre: Option<String>,
        post: Option<String>,
    },
    /// The `onMessageAdd` pre-event is set (or kept) because the intercept
    /// is configured: every text of the account waits for its answer.
    PreEventForIntercept,
    /// `--replace-webhooks` takes over another app's configuration; its
    /// values are the changes' `from`.
    TakingOver,
}

/// Why nothing may be changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A pool number the account does not own.
    NotOwned(String),
    /// Another app's URL is where ours must go.
    ForeignWebhook { setting: Setting, url: String },
    /// The account's Conversations events go to Flex.
    FlexTarget,
    /// Another app's pre-event URL, which we leave, takes another method
    /// than the POST ours needs (the method is shared).
    SharedMethod { url: String, method: String },
}

impl Refusal {
    /// Whether `--replace-webhooks` would lift it.
    pub fn replaceable(&self) -> bool {
        !matches!(self, Refusal::NotOwned(_))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub numbers: Vec<NumberPlan>,
    pub webhooks: WebhooksPlan,
    pub refusals: Vec<Refusal>,
}

impl Plan {
    pub fn new(current: &Current, targets: &Targets, choices: Choices) -> Plan {
        let mut refusals = Vec::new();
        let mut numbers = Vec::new();
        for (number, found) in &current.numbers {
            match found {
                Some(found) => {
                    let mut plan = plan_number(number, found, targets);
                    let whatsapp = format!("whatsapp:{number}");
                    plan.overrides.extend(
                        current
                            .address_configurations
                            .iter()
                            .filter(|a| a.auto_creation.enabled)
                            .filter(|a| a.address == *number || a.address == whatsapp)
                            .map(|a| Override::AutoCreatingAddress(a.sid.clone())),
                    );
                    numbers.push(plan);
                }
                None => refusals.push(Refusal::NotOwned(number.clone())),
            }
        }
        let (webhooks, webhook_refusals) = plan_webhooks(
            &current.webhooks,
            current.service_webhooks.as_ref(),
            &targets.events_url,
            choices,
        );
        refusals.extend(webhook_refusals);
        Plan {
            numbers,
            webhooks,
            refusals,
        }
    }

    /// Numbers with something to change.
    pub fn numbers_to_change(&self) -> impl Iterator<Item = &NumberPlan> {
        self.numbers.iter().filter(|n| !n.changes.is_empty())
    }

    /// The update requests applying the plan takes.
    pub fn writes(&self) -> usize {
        self.numbers_to_change().count() + usize::from(!self.webhooks.changes.is_empty())
    }

    pub fn is_refused(&self) -> bool {
        !self.refusals.is_empty()
    }
}

impl NumberPlan {
    /// The update request: the changed settings only.
    pub fn update(&self) -> NumberWebhooks<'_> {
        let mut update = NumberWebhooks::default();
        for change in &self.changes {
            let to = change.to.as_deref();
            match change.setting {
                Setting::VoiceUrl => update.voice_url = to,
                Setting::VoiceMethod => update.voice_method = to,
                Setting::SmsUrl => update.sms_url = to,
                Setting::SmsMethod => update.sms_method = to,
                _ => {}
            }
        }
        update
    }
}

impl WebhooksPlan {
    /// The update request: the changed settings only; an unset URL is sent
    /// empty, which clears it.
    pub fn update(&self) -> WebhookConfigurationUpdate<'_> {
        let mut update = WebhookConfigurationUpdate::default();
        for change in &self.changes {
            let to = change.to.as_deref().unwrap_or("");
            match change.setting {
                Setting::Method => update.method = Some(to),
                Setting::Filters => {
                    update.filters = Some(self.filters.iter().map(String::as_str).collect())
                }
                Setting::PreWebhookUrl => update.pre_webhook_url = Some(to),
                Setting::PostWebhookUrl => update.post_webhook_url = Some(to),
                Setting::Target => update.target = Some(to),
                _ => {}
            }
        }
        update
    }
}

fn is_post(method: Option<&str>) -> bool {
    method.is_some_and(|m| m.eq_ignore_ascii_case(METHOD))
}

fn plan_number(number: &str, found: &IncomingPhoneNumber, targets: &Targets) -> NumberPlan {
    let settings = [
        (
            Setting::VoiceUrl,
            &found.voice_url,
            targets.voice_url.as_str(),
        ),
        (Setting::VoiceMethod, &found.voice_method, METHOD),
        (Setting::SmsUrl, &found.sms_url, targets.sms_url.as_str()),
        (Setting::SmsMethod, &found.sms_method, METHOD),
    ];
    let changes = settings
        .into_iter()
        .filter(|(setting, now, wanted)| match setting {
            // Twilio takes a method in any case.
            Setting::VoiceMethod | Setting::SmsMethod => !is_post(now.as_deref()),
            _ => now.as_deref() != Some(*wanted),
        })
        .map(|(setting, now, wanted)| Change {
            setting,
            from: now.clone(),
            to: Some(wanted.to_owned()),
        })
        .collect();

    let overrides = [
        found
            .voice_application_sid
            .clone()
            .map(Override::VoiceApplication),
        found.trunk_sid.clone().map(Override::Trunk),
        found
            .sms_application_sid
            .clone()
            .map(Override::SmsApplication),
    ]
    .into_iter()
    .flatten()
    .collect();
    NumberPlan {
        number: number.to_owned(),
        sid: found.sid.clone(),
        changes,
        overrides,
    }
}

/// The configuration is the account's, one for every app: another app's URL
/// is replaced only when asked, and the filters other apps rely on stay
/// (unless their URLs are being replaced).
fn plan_webhooks(
    current: &WebhookConfiguration,
    service_webhooks: Option<&(String, WebhookConfiguration)>,
    events_url: &str,
    choices: Choices,
) -> (WebhooksPlan, Vec<Refusal>) {
    let foreign = |url: &Option<String>| url.clone().filter(|u| u != events_url);
    let foreign_post = foreign(&current.post_webhook_url);
    let foreign_pre = foreign(&current.pre_webhook_url);
    let ours_pre = current.pre_webhook_url.as_deref() == Some(events_url);
    let flex = current.target.as_deref() == Some(TARGET_FLEX);
    let want_pre = choices.refuse_messages_in_voice_only || choices.intercept;
    let replace = choices.replace_webhooks;

    let mut refusals = Vec::new();
    if !replace {
        if let Some(url) = &foreign_post {
            refusals.push(Refusal::ForeignWebhook {
                setting: Setting::PostWebhookUrl,
                url: url.clone(),
            });
        }
        let other_method = current.method.clone().filter(|m| !is_post(Some(m)));
        match (&foreign_pre, other_method) {
            (Some(url), _) if want_pre => refusals.push(Refusal::ForeignWebhook {
                setting: Setting::PreWebhookUrl,
                url: url.clone(),
            }),
            // Kept beside ours, it must not be moved to another method.
            (Some(url), Some(method)) => refusals.push(Refusal::SharedMethod {
                url: url.clone(),
                method,
            }),
            _ => {}
        }
        if flex {
            refusals.push(Refusal::FlexTarget);
        }
    }

    let taking_over = replace && (foreign_post.is_some() || foreign_pre.is_some() || flex);
    let pre = match (&foreign_pre, want_pre) {
        (_, true) => Some(events_url.to_owned()),
        (Some(theirs), false) if !replace => Some(theirs.clone()),
        _ => None,
    };
    let mut filters = if taking_over {
        Vec::new()
    } else {
        current.filters.clone()
    };
    if ours_pre && !want_pre {
        filters.retain(|f| f != PRE_EVENT);
    }
    let wanted_pre_events = want_pre.then_some(PRE_EVENT);
    for event in POST_EVENTS.into_iter().chain(wanted_pre_events) {
        if !filters.iter().any(|f| f == event) {
            filters.push(event.to_owned());
        }
    }

    let mut changes = Vec::new();
    if !is_post(current.method.as_deref()) {
        changes.push(Change {
            setting: Setting::Method,
            from: current.method.clone(),
            to: Some(METHOD.to_owned()),
        });
    }
    let as_set = |list: &[String]| list.iter().cloned().collect::<BTreeSet<_>>();
    if as_set(&current.filters) != as_set(&filters) {
        let joined = |list: &[String]| (!list.is_empty()).then(|| list.join(", "));
        changes.push(Change {
            setting: Setting::Filters,
            from: joined(&current.filters),
            to: joined(&filters),
        });
    }
    for (setting, now, wanted) in [
        (
            Setting::PreWebhookUrl,
            &current.pre_webhook_url,
            pre.clone(),
        ),
        (
            Setting::PostWebhookUrl,
            &current.post_webhook_url,
            Some(events_url.to_owned()),
        ),
    ] {
        if *now != wanted {
            changes.push(Change {
                setting,
                from: now.clone(),
                to: wanted,
            });
        }
    }
    if flex {
        changes.push(Change {
            setting: Setting::Target,
            from: current.target.clone(),
            to: Some(TARGET_WEBHOOK.to_owned()),
        });
    }

    let mut notes = Vec::new();
    if taking_over {
        notes.push(WebhookNote::TakingOver);
    }
    if let (Some(theirs), Some(kept)) = (&foreign_pre, &pre) {
        if theirs == kept {
            notes.push(WebhookNote::ForeignPreWebhookKept(theirs.clone()));
        }
    }
    if ours_pre && !want_pre {
        notes.push(WebhookNote::PreEventRemoved);
    }
    if choices.intercept {
        notes.push(WebhookNote::PreEventForIntercept);
    }
    if let Some((service, own)) = service_webhooks {
        if own.pre_webhook_url.is_some() || own.post_webhook_url.is_some() {
            notes.push(WebhookNote::ServiceWebhooks {
                service: service.clone(),
                pre: own.pre_webhook_url.clone(),
                post: own.post_webhook_url.clone(),
            });
        }
    }
    (
        WebhooksPlan {
            changes,
            filters,
            notes,
        },
        refusals,
    )
}

#[cfg(test)]
mod tests;
