//! The plan's rules, on hand-made account states.

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
            ("Filters", "onMessageAdded"),
            ("PostWebhookUrl", EVENTS),
        ]
    );
    assert_eq!(plan.writes(), 3);
}

#[test]
fn a_wired_account_has_nothing_to_change() {
    let plan = plan(
        ours(&[
            "onConversationUpdated",
            "onMessageAdded",
            "onConversationStateUpdated",
        ]),
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
            ("Filters", "onMessageAdded"),
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
            "onConversationUpdated",
            "onMessageAdded"
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
        "onMessageAdded",
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
            ("Filters", "onMessageAdded"),
            ("PreWebhookUrl", ""),
        ]
    );
}

#[test]
fn filters_someone_added_for_our_url_are_kept() {
    let plan = plan(ours(&["onDeliveryUpdated"]), Choices::default());
    assert_eq!(
        plan.webhooks.filters,
        [
            "onDeliveryUpdated",
            "onConversationStateUpdated",
            "onConversationUpdated",
            "onMessageAdded"
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
