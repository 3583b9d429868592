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

/// The post-events the conversation-events function acts on (a closed
/// session is cleaned up).
pub const POST_EVENTS: [&str; 2] = ["onConversationStateUpdated", "onConversationUpdated"];
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
mod tests {
    use super::*;
    use crate::base_url::BaseUrl;

    const BASE: &str = "https://masked.example.com";
    const EVENTS: &str = "https://masked.example.com/conversation-events";
    const OTHER: &str = "https://other-app.example.com/hooks";

    fn targets() -> Targets {
        BaseUrl::parse(BASE).unwrap().targets()
    }

    fn number(n: u8) -> IncomingPhoneNumber {
        IncomingPhoneNumber {
            sid: format!("PN0123456789abcdef0123456789abcd{n:02}"),
            phone_number: format!("+1415555010{n}"),
            voice_url: None,
            voice_method: Some("POST".into()),
            sms_url: None,
            sms_method: Some("POST".into()),
            voice_application_sid: None,
            trunk_sid: None,
            sms_application_sid: None,
        }
    }

    fn wired(n: u8) -> IncomingPhoneNumber {
        IncomingPhoneNumber {
            voice_url: Some(format!("{BASE}/inbound-call")),
            sms_url: Some(format!("{BASE}/inbound-message")),
            ..number(n)
        }
    }

    fn owned(numbers: Vec<IncomingPhoneNumber>) -> Vec<(String, Option<IncomingPhoneNumber>)> {
        numbers
            .into_iter()
            .map(|n| (n.phone_number.clone(), Some(n)))
            .collect()
    }

    fn ours(filters: &[&str]) -> WebhookConfiguration {
        WebhookConfiguration {
            method: Some("POST".into()),
            filters: filters.iter().map(|f| f.to_string()).collect(),
            post_webhook_url: Some(EVENTS.into()),
            target: Some("webhook".into()),
            ..Default::default()
        }
    }

    fn plan(webhooks: WebhookConfiguration, choices: Choices) -> Plan {
        let current = Current {
            numbers: owned(vec![wired(1)]),
            webhooks,
            service_webhooks: None,
            address_configurations: Vec::new(),
        };
        Plan::new(&current, &targets(), choices)
    }

    fn settings(changes: &[Change]) -> Vec<&'static str> {
        changes.iter().map(|c| c.setting.name()).collect()
    }

    #[test]
    fn a_fresh_account_gets_every_url_and_only_what_differs() {
        let mut get_voice = number(2);
        get_voice.voice_method = Some("GET".into());
        let current = Current {
            numbers: owned(vec![number(1), get_voice]),
            webhooks: WebhookConfiguration::default(),
            service_webhooks: None,
            address_configurations: Vec::new(),
        };
        let plan = Plan::new(&current, &targets(), Choices::default());
        assert!(!plan.is_refused());
        assert_eq!(plan.numbers.len(), 2);
        assert_eq!(settings(&plan.numbers[0].changes), ["VoiceUrl", "SmsUrl"]);
        assert_eq!(
            settings(&plan.numbers[1].changes),
            ["VoiceUrl", "VoiceMethod", "SmsUrl"]
        );
        assert_eq!(
            plan.numbers[1].update().form(),
            [
                ("VoiceUrl", "https://masked.example.com/inbound-call"),
                ("VoiceMethod", "POST"),
                ("SmsUrl", "https://masked.example.com/inbound-message"),
            ]
        );
        assert_eq!(
            settings(&plan.webhooks.changes),
            ["Method", "Filters", "PostWebhookUrl"]
        );
        assert_eq!(
            plan.webhooks.update().form(),
            [
                ("Method", "POST"),
                ("Filters", "onConversationStateUpdated"),
                ("Filters", "onConversationUpdated"),
                ("PostWebhookUrl", EVENTS),
            ]
        );
        assert_eq!(plan.writes(), 3);
    }

    #[test]
    fn a_wired_account_has_nothing_to_change() {
        let plan = plan(
            ours(&["onConversationUpdated", "onConversationStateUpdated"]),
            Choices::default(),
        );
        assert_eq!(plan.writes(), 0, "{plan:#?}");
        assert!(plan.webhooks.changes.is_empty() && plan.webhooks.notes.is_empty());
        // Twilio may spell the method in lower case.
        let mut lower = ours(&POST_EVENTS);
        lower.method = Some("post".into());
        assert_eq!(super::tests::plan(lower, Choices::default()).writes(), 0);
    }

    #[test]
    fn a_conversations_service_with_its_own_webhooks_is_named() {
        let own = WebhookConfiguration {
            post_webhook_url: Some("https://other.example/post".into()),
            ..Default::default()
        };
        let service = "IS0123456789abcdef0123456789abcdef".to_owned();
        let current = Current {
            numbers: owned(vec![wired(1)]),
            webhooks: ours(&POST_EVENTS),
            service_webhooks: Some((service.clone(), own)),
            address_configurations: Vec::new(),
        };
        let plan = Plan::new(&current, &targets(), Choices::default());
        assert_eq!(
            plan.webhooks.notes,
            [WebhookNote::ServiceWebhooks {
                service,
                pre: None,
                post: Some("https://other.example/post".into()),
            }]
        );
        // A service without URLs of its own defers to the account's.
        let current = Current {
            service_webhooks: Some(("IS1".into(), WebhookConfiguration::default())),
            ..current
        };
        assert!(Plan::new(&current, &targets(), Choices::default())
            .webhooks
            .notes
            .is_empty());
    }

    #[test]
    fn an_auto_creating_address_configuration_for_a_pool_number_is_named() {
        let address = |sid: &str, address: &str, enabled: bool| AddressConfiguration {
            sid: sid.into(),
            address: address.into(),
            auto_creation: masked_comms::twilio::AutoCreation { enabled },
        };
        let current = Current {
            numbers: owned(vec![wired(1), wired(2)]),
            webhooks: ours(&POST_EVENTS),
            service_webhooks: None,
            address_configurations: vec![
                address("IG1", &number(1).phone_number, true),
                address("IG2", &format!("whatsapp:{}", number(2).phone_number), true),
                address("IG3", &number(2).phone_number, false),
                address("IG4", "+14155550999", true),
            ],
        };
        let plan = Plan::new(&current, &targets(), Choices::default());
        assert_eq!(
            plan.numbers[0].overrides,
            [Override::AutoCreatingAddress("IG1".into())]
        );
        assert_eq!(
            plan.numbers[1].overrides,
            [Override::AutoCreatingAddress("IG2".into())]
        );
        assert_eq!(plan.writes(), 0, "a warning, not a change");
    }

    #[test]
    fn a_number_the_account_does_not_own_is_a_refusal() {
        let current = Current {
            numbers: vec![
                ("+14155550101".into(), Some(number(1))),
                ("+14155550199".into(), None),
            ],
            webhooks: ours(&POST_EVENTS),
            service_webhooks: None,
            address_configurations: Vec::new(),
        };
        let plan = Plan::new(&current, &targets(), Choices::default());
        assert_eq!(plan.refusals, [Refusal::NotOwned("+14155550199".into())]);
        assert!(!plan.refusals[0].replaceable());
        assert_eq!(plan.numbers.len(), 1);
    }

    #[test]
    fn applications_and_trunks_are_reported_and_the_urls_still_set() {
        let mut app = number(1);
        app.voice_application_sid = Some("AP0123456789abcdef0123456789abcdef".into());
        app.sms_application_sid = Some("MG0123456789abcdef0123456789abcdef".into());
        let mut trunk = wired(2);
        trunk.trunk_sid = Some("TK0123456789abcdef0123456789abcdef".into());
        let current = Current {
            numbers: owned(vec![app, trunk]),
            webhooks: ours(&POST_EVENTS),
            service_webhooks: None,
            address_configurations: Vec::new(),
        };
        let plan = Plan::new(&current, &targets(), Choices::default());
        assert!(!plan.is_refused());
        assert_eq!(
            plan.numbers[0].overrides,
            [
                Override::VoiceApplication("AP0123456789abcdef0123456789abcdef".into()),
                Override::SmsApplication("MG0123456789abcdef0123456789abcdef".into()),
            ]
        );
        assert_eq!(plan.numbers[0].changes.len(), 2);
        assert_eq!(
            plan.numbers[1].overrides,
            [Override::Trunk("TK0123456789abcdef0123456789abcdef".into())]
        );
        assert!(plan.numbers[1].changes.is_empty());
    }

    #[test]
    fn another_apps_post_webhook_is_replaced_only_when_asked() {
        let theirs = WebhookConfiguration {
            method: Some("GET".into()),
            filters: vec!["onMessageAdded".into(), "onMessageAdd".into()],
            pre_webhook_url: Some(format!("{OTHER}/pre")),
            post_webhook_url: Some(format!("{OTHER}/post")),
            target: Some("webhook".into()),
        };
        let refused = plan(theirs.clone(), Choices::default());
        assert_eq!(
            refused.refusals,
            [
                Refusal::ForeignWebhook {
                    setting: Setting::PostWebhookUrl,
                    url: format!("{OTHER}/post")
                },
                Refusal::SharedMethod {
                    url: format!("{OTHER}/pre"),
                    method: "GET".into()
                },
            ]
        );
        assert!(refused.refusals.iter().all(Refusal::replaceable));

        let replacing = plan(
            theirs,
            Choices {
                replace_webhooks: true,
                ..Default::default()
            },
        );
        assert!(!replacing.is_refused());
        assert_eq!(replacing.webhooks.notes, [WebhookNote::TakingOver]);
        // Their filters go with their URLs; what was there is shown.
        assert_eq!(replacing.webhooks.filters, POST_EVENTS);
        let pre = &replacing.webhooks.changes[2];
        assert_eq!(
            (pre.setting, pre.from.as_deref(), pre.to.as_deref()),
            (
                Setting::PreWebhookUrl,
                Some("https://other-app.example.com/hooks/pre"),
                None
            )
        );
        assert_eq!(
            replacing.webhooks.update().form(),
            [
                ("Method", "POST"),
                ("Filters", "onConversationStateUpdated"),
                ("Filters", "onConversationUpdated"),
                ("PreWebhookUrl", ""),
                ("PostWebhookUrl", EVENTS),
            ]
        );
    }

    #[test]
    fn another_apps_pre_webhook_stays_beside_ours_with_its_filters() {
        let theirs = WebhookConfiguration {
            method: Some("POST".into()),
            filters: vec!["onMessageAdd".into()],
            pre_webhook_url: Some(OTHER.into()),
            ..Default::default()
        };
        let plan = plan(theirs.clone(), Choices::default());
        assert!(!plan.is_refused());
        assert_eq!(
            plan.webhooks.notes,
            [WebhookNote::ForeignPreWebhookKept(OTHER.into())]
        );
        assert_eq!(
            plan.webhooks.filters,
            [
                "onMessageAdd",
                "onConversationStateUpdated",
                "onConversationUpdated"
            ]
        );
        assert_eq!(
            settings(&plan.webhooks.changes),
            ["Filters", "PostWebhookUrl"]
        );
        // Wanting the pre-event slot for ourselves is a refusal.
        let wanting = super::tests::plan(
            theirs,
            Choices {
                refuse_messages_in_voice_only: true,
                ..Default::default()
            },
        );
        assert_eq!(
            wanting.refusals,
            [Refusal::ForeignWebhook {
                setting: Setting::PreWebhookUrl,
                url: OTHER.into()
            }]
        );
    }

    #[test]
    fn the_pre_event_is_ours_only_while_asked_for() {
        let refuse = Choices {
            refuse_messages_in_voice_only: true,
            ..Default::default()
        };
        let adding = plan(ours(&POST_EVENTS), refuse);
        assert_eq!(
            settings(&adding.webhooks.changes),
            ["Filters", "PreWebhookUrl"]
        );
        assert_eq!(adding.webhooks.filters.last().unwrap(), PRE_EVENT);

        let mut with_pre = ours(&[
            "onMessageAdd",
            "onConversationStateUpdated",
            "onConversationUpdated",
        ]);
        with_pre.pre_webhook_url = Some(EVENTS.into());
        assert_eq!(plan(with_pre.clone(), refuse).writes(), 0);

        let removing = plan(with_pre, Choices::default());
        assert_eq!(removing.webhooks.notes, [WebhookNote::PreEventRemoved]);
        assert_eq!(removing.webhooks.filters, POST_EVENTS);
        assert_eq!(
            removing.webhooks.update().form(),
            [
                ("Filters", "onConversationStateUpdated"),
                ("Filters", "onConversationUpdated"),
                ("PreWebhookUrl", ""),
            ]
        );
    }

    #[test]
    fn filters_someone_added_for_our_url_are_kept() {
        let plan = plan(ours(&["onMessageAdded"]), Choices::default());
        assert_eq!(
            plan.webhooks.filters,
            [
                "onMessageAdded",
                "onConversationStateUpdated",
                "onConversationUpdated"
            ]
        );
        assert_eq!(settings(&plan.webhooks.changes), ["Filters"]);
    }

    #[test]
    fn events_routed_to_flex_are_taken_back_only_when_asked() {
        let mut flex = ours(&POST_EVENTS);
        flex.target = Some("flex".into());
        assert_eq!(
            plan(flex.clone(), Choices::default()).refusals,
            [Refusal::FlexTarget]
        );
        let taking = plan(
            flex,
            Choices {
                replace_webhooks: true,
                ..Default::default()
            },
        );
        assert_eq!(
            taking.webhooks.update().form(),
            [("Target", "webhook")],
            "{taking:#?}"
        );
    }
}
