//! `make twilio-setup` against the in-process emulator: what it reads, what it writes
//! (counted on the emulator's record of requests), what it refuses, and what it prints.

use std::collections::HashMap;
use std::time::Duration;

use masked_comms::config::{RawConfig, Secret, TwilioCredentials};
use masked_comms::twilio::TwilioHttp;
use twilio_emulator::{
    Emulator, EmulatorConfig, Fault, HttpMethod, Operation, PhoneNumberSnapshot, RecordedRequest,
};
use twilio_setup::base_url::BaseUrl;
use twilio_setup::plan::{Choices, POST_EVENTS, PRE_EVENT};
use twilio_setup::{wire, Outcome, SetupError, Wiring};

use masked_comms::twilio::TwilioSettings;

/// The pool the stack is configured with in these tests.
const POOL: [&str; 3] = ["+15005550001", "+15005550002", "+15005550003"];

/// Twilio settings pointed at the emulator, with short timeouts and retries.
fn settings(base_url: &str) -> TwilioSettings {
    TwilioSettings {
        conversations_url: base_url.to_owned(),
        api_url: base_url.to_owned(),
        connect_timeout: Duration::from_millis(500),
        attempt_timeout: Duration::from_millis(800),
        max_retries: 3,
        min_retry_delay: Duration::from_millis(5),
        max_retry_delay: Duration::from_millis(40),
    }
}

const BASE: &str = "https://masked.example.com";
const VOICE: &str = "https://masked.example.com/inbound-call";
const SMS: &str = "https://masked.example.com/inbound-message";
const EVENTS: &str = "https://masked.example.com/conversation-events";
const OTHER_APP: &str = "https://other-app.example.com/conversations";
/// Owned by the account, not in the pool, and configured by another app.
const OUTSIDE: &str = "+15005550099";
const OUTSIDE_VOICE: &str = "https://other-app.example.com/voice";

struct Account {
    emulator: Emulator,
    http: TwilioHttp,
    credentials: TwilioCredentials,
}

struct Run {
    result: Result<Outcome, SetupError>,
    output: String,
}

impl Account {
    /// The emulator owning `owned` and, configured by another app, [`OUTSIDE`].
    async fn owning(owned: &[&str]) -> Account {
        let emulator = Emulator::start(EmulatorConfig {
            numbers: owned.iter().map(|n| n.to_string()).collect(),
            ..EmulatorConfig::default()
        })
        .await
        .expect("emulator starts");
        emulator
            .add_configured_phone_number(OUTSIDE, &[("VoiceUrl", OUTSIDE_VOICE)])
            .unwrap();
        let http = TwilioHttp::new(settings(&emulator.base_url())).unwrap();
        let credentials = TwilioCredentials {
            account_sid: emulator.account_sid().to_owned(),
            auth_token: Secret::new(emulator.auth_token()),
        };
        Account {
            emulator,
            http,
            credentials,
        }
    }

    async fn run(&self, wiring: &Wiring) -> Run {
        let metrics = masked_comms::metrics::Recorder::default();
        let twilio = self
            .http
            .session(&self.credentials, Duration::from_secs(30), &metrics);
        let mut output = Vec::new();
        let result = wire(&twilio, wiring, &mut output).await;
        let output = String::from_utf8(output).unwrap();
        for number in POOL.iter().chain([&OUTSIDE]) {
            assert!(!output.contains(number), "a full number printed:\n{output}");
        }
        Run { result, output }
    }

    /// The Twilio requests since the last call, split into reads and writes.
    fn take_requests(&self) -> (Vec<RecordedRequest>, Vec<RecordedRequest>) {
        let requests = self.emulator.requests();
        self.emulator.clear_requests();
        requests.into_iter().partition(|r| r.method == "GET")
    }

    fn number(&self, number: &str) -> PhoneNumberSnapshot {
        self.emulator
            .phone_numbers()
            .into_iter()
            .find(|n| n.phone_number == number)
            .expect("owned")
    }

    /// Sets the account's webhook configuration as another app would, through the API.
    async fn configure_webhooks(&self, form: &[(&str, &str)]) {
        self.emulator_post("/v1/Configuration/Webhooks", form).await;
    }

    /// A form POST to the emulator's API at `path`, as another app would make.
    async fn emulator_post(&self, path: &str, form: &[(&str, &str)]) {
        let status = reqwest::Client::new()
            .post(format!("{}{path}", self.emulator.base_url()))
            .basic_auth(
                self.emulator.account_sid(),
                Some(self.emulator.auth_token()),
            )
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(form)
                    .finish(),
            )
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_success(), "{status}");
        self.emulator.clear_requests();
    }
}

fn wiring(choices: Choices, dry_run: bool) -> Wiring {
    Wiring {
        base_url: BaseUrl::parse(BASE).unwrap(),
        pool: POOL.iter().map(|n| n.to_string()).collect(),
        choices,
        dry_run,
    }
}

fn real() -> Wiring {
    wiring(Choices::default(), false)
}

fn assert_wired(account: &Account, number: &str) {
    let n = account.number(number);
    assert_eq!(n.voice_url.as_deref(), Some(VOICE), "{n:?}");
    assert_eq!(n.voice_method, HttpMethod::Post);
    assert_eq!(n.sms_url.as_deref(), Some(SMS), "{n:?}");
    assert_eq!(n.sms_method, HttpMethod::Post);
}

#[tokio::test]
async fn a_dry_run_reads_and_plans_everything_and_changes_nothing() {
    let account = Account::owning(&POOL).await;
    let numbers_before = account.emulator.phone_numbers();

    let run = account.run(&wiring(Choices::default(), true)).await;
    assert_eq!(run.result.unwrap(), Outcome::DryRun { writes: 4 });
    let (reads, writes) = account.take_requests();
    assert!(writes.is_empty(), "{writes:?}");
    assert_eq!(
        reads.len(),
        POOL.len() + 4,
        "one lookup per number; the account's webhooks, its Conversations defaults, the default service's webhooks and the address configurations"
    );
    assert_eq!(account.emulator.phone_numbers(), numbers_before);
    assert_eq!(
        account.emulator.conversations_webhooks().account,
        Default::default()
    );
    assert!(
        run.output
            .contains(&format!("VoiceUrl        (none) -> {VOICE}")),
        "{}",
        run.output
    );
    assert!(
        run.output
            .contains(&format!("PostWebhookUrl  (none) -> {EVENTS}")),
        "{}",
        run.output
    );
    assert!(run.output.contains("+1********01 (PN"), "{}", run.output);
    assert!(
        run.output
            .trim_end()
            .ends_with("Run without --dry-run to apply."),
        "{}",
        run.output
    );
}

#[tokio::test]
async fn a_real_run_wires_the_pool_and_the_webhooks_and_a_second_run_writes_nothing() {
    let account = Account::owning(&POOL).await;

    let first = account.run(&real()).await;
    assert_eq!(first.result.unwrap(), Outcome::Applied { writes: 4 });
    let (reads, writes) = account.take_requests();
    assert_eq!(reads.len(), POOL.len() + 4);
    // Each pool number looked up by its number, the + encoded (a bare + reads as a space).
    for number in POOL {
        let encoded = format!("PhoneNumber={}", number.replace('+', "%2B"));
        assert_eq!(
            reads.iter().filter(|r| r.query.contains(&encoded)).count(),
            1,
            "{reads:?}"
        );
    }
    let operations: Vec<Operation> = writes.iter().map(|w| w.operation).collect();
    assert_eq!(
        operations,
        [
            Operation::UpdateIncomingPhoneNumber,
            Operation::UpdateIncomingPhoneNumber,
            Operation::UpdateIncomingPhoneNumber,
            Operation::UpdateConfigurationWebhooks,
        ]
    );
    // Only what differed: the emulator's numbers start with POST methods.
    assert_eq!(writes[0].form.len(), 2, "{:?}", writes[0].form);
    for number in POOL {
        assert_wired(&account, number);
    }
    let hooks = account.emulator.conversations_webhooks();
    assert_eq!(hooks.account.post_webhook_url.as_deref(), Some(EVENTS));
    assert_eq!(hooks.account.pre_webhook_url, None);
    assert_eq!(
        hooks.account.filters,
        Some(POST_EVENTS.map(String::from).to_vec())
    );
    assert_eq!(hooks.target, "webhook");
    assert!(
        first.output.contains("Done: 4 updates applied."),
        "{}",
        first.output
    );
    assert_eq!(
        first.output.matches("changed ").count(),
        4,
        "{}",
        first.output
    );

    let second = account.run(&real()).await;
    assert_eq!(second.result.unwrap(), Outcome::NothingToChange);
    let (reads, writes) = account.take_requests();
    assert_eq!(
        (reads.len(), writes.len()),
        (POOL.len() + 4, 0),
        "{writes:?}"
    );
    assert!(
        second.output.contains("Nothing to change"),
        "{}",
        second.output
    );
    assert_eq!(second.output.matches("up to date").count(), POOL.len() + 1);
}

#[tokio::test]
async fn a_pool_number_the_account_does_not_own_refuses_everything_before_any_write() {
    let account = Account::owning(&POOL[..2]).await;

    let run = account.run(&real()).await;
    assert!(
        matches!(run.result, Err(SetupError::Refused)),
        "{:?}",
        run.result
    );
    let (reads, writes) = account.take_requests();
    assert!(writes.is_empty(), "{writes:?}");
    assert_eq!(reads.len(), POOL.len() + 4);
    assert!(account.number(POOL[0]).voice_url.is_none());
    assert!(
        run.output
            .contains("+1********03 is not a number of account"),
        "{}",
        run.output
    );
    assert!(
        run.output.contains("Refused; nothing was changed"),
        "{}",
        run.output
    );
}

#[tokio::test]
async fn numbers_outside_the_pool_are_never_read_or_written() {
    let account = Account::owning(&POOL).await;
    let outside_before = account.number(OUTSIDE);

    account.run(&real()).await.result.unwrap();
    let (reads, writes) = account.take_requests();
    let outside = &outside_before.sid;
    for request in reads.iter().chain(&writes) {
        assert!(!request.path.contains(outside), "{request:?}");
        // A lookup is by one pool number, never a listing of the account's numbers.
        if request.operation == Operation::ListIncomingPhoneNumbers {
            assert!(
                request.query.contains("PhoneNumber=%2B15005550"),
                "{request:?}"
            );
            assert!(!request.query.contains("5550099"), "{request:?}");
        }
    }
    assert_eq!(account.number(OUTSIDE), outside_before);
    assert_eq!(
        account.number(OUTSIDE).voice_url.as_deref(),
        Some(OUTSIDE_VOICE)
    );
}

#[tokio::test]
async fn another_apps_webhook_is_refused_unless_replacing_and_then_shown_to_restore() {
    let account = Account::owning(&POOL).await;
    account
        .configure_webhooks(&[("PostWebhookUrl", OTHER_APP), ("Filters", "onMessageAdded")])
        .await;

    let refused = account.run(&real()).await;
    assert!(matches!(refused.result, Err(SetupError::Refused)));
    let (_, writes) = account.take_requests();
    assert!(writes.is_empty(), "{writes:?}");
    assert!(
        refused.output.contains(&format!(
            "PostWebhookUrl points elsewhere: {OTHER_APP} (another app)"
        )),
        "{}",
        refused.output
    );
    assert!(
        refused.output.contains("--replace-webhooks"),
        "{}",
        refused.output
    );
    assert_eq!(account.number(POOL[0]).voice_url, None);
    assert_eq!(
        account
            .emulator
            .conversations_webhooks()
            .account
            .post_webhook_url
            .as_deref(),
        Some(OTHER_APP)
    );

    let replacing = account
        .run(&wiring(
            Choices {
                replace_webhooks: true,
                ..Default::default()
            },
            false,
        ))
        .await;
    assert_eq!(replacing.result.unwrap(), Outcome::Applied { writes: 4 });
    assert!(
        replacing
            .output
            .contains(&format!("PostWebhookUrl  {OTHER_APP} -> {EVENTS}")),
        "{}",
        replacing.output
    );
    let hooks = account.emulator.conversations_webhooks().account;
    assert_eq!(hooks.post_webhook_url.as_deref(), Some(EVENTS));
    // Its filters went with its URL.
    assert_eq!(hooks.filters, Some(POST_EVENTS.map(String::from).to_vec()));
}

#[tokio::test]
async fn another_apps_pre_event_url_stays_beside_ours() {
    let account = Account::owning(&POOL).await;
    account
        .configure_webhooks(&[("PreWebhookUrl", OTHER_APP), ("Filters", PRE_EVENT)])
        .await;

    let run = account.run(&real()).await;
    assert_eq!(run.result.unwrap(), Outcome::Applied { writes: 4 });
    let hooks = account.emulator.conversations_webhooks().account;
    assert_eq!(hooks.pre_webhook_url.as_deref(), Some(OTHER_APP));
    assert_eq!(hooks.post_webhook_url.as_deref(), Some(EVENTS));
    assert_eq!(
        hooks.filters,
        Some(
            std::iter::once(PRE_EVENT)
                .chain(POST_EVENTS)
                .map(str::to_owned)
                .collect()
        )
    );
    assert!(
        run.output.contains("another app's PreWebhookUrl"),
        "{}",
        run.output
    );
    assert_eq!(
        account.run(&real()).await.result.unwrap(),
        Outcome::NothingToChange
    );
}

#[tokio::test]
async fn the_pre_event_is_set_only_while_asked_for() {
    let account = Account::owning(&POOL).await;
    let refusing = wiring(
        Choices {
            refuse_messages_in_voice_only: true,
            ..Default::default()
        },
        false,
    );
    account.run(&refusing).await.result.unwrap();
    let hooks = account.emulator.conversations_webhooks().account;
    assert_eq!(hooks.pre_webhook_url.as_deref(), Some(EVENTS));
    assert!(hooks.filters.unwrap().contains(&PRE_EVENT.to_owned()));
    assert_eq!(
        account.run(&refusing).await.result.unwrap(),
        Outcome::NothingToChange
    );
    account.take_requests();

    let without = account.run(&real()).await;
    assert_eq!(without.result.unwrap(), Outcome::Applied { writes: 1 });
    let (_, writes) = account.take_requests();
    assert_eq!(
        writes[0].form,
        POST_EVENTS
            .iter()
            .map(|event| ("Filters".to_owned(), (*event).to_owned()))
            .chain([("PreWebhookUrl".to_owned(), String::new())])
            .collect::<Vec<_>>()
    );
    let hooks = account.emulator.conversations_webhooks().account;
    assert_eq!(hooks.pre_webhook_url, None);
    assert!(without
        .output
        .contains("pre-event (refusing messages in voice-only sessions) is removed"));
}

#[tokio::test]
async fn a_configured_intercept_sets_the_pre_event_and_the_plan_says_why() {
    let account = Account::owning(&POOL).await;
    let intercepting = wiring(
        Choices {
            intercept: true,
            ..Default::default()
        },
        false,
    );
    let run = account.run(&intercepting).await;
    run.result.unwrap();
    assert!(
        run.output
            .contains("onMessageAdd pre-event is set because the intercept is configured"),
        "{}",
        run.output
    );
    let hooks = account.emulator.conversations_webhooks().account;
    assert_eq!(hooks.pre_webhook_url.as_deref(), Some(EVENTS));
    assert!(hooks.filters.unwrap().contains(&PRE_EVENT.to_owned()));
    assert_eq!(
        account.run(&intercepting).await.result.unwrap(),
        Outcome::NothingToChange
    );
}

#[tokio::test]
async fn a_conversations_service_with_webhooks_of_its_own_is_named_as_what_keeps_events_away() {
    let account = Account::owning(&POOL).await;
    let service = account.emulator.chat_service_sid().to_owned();
    account
        .emulator_post(
            &format!("/v1/Services/{service}/Configuration/Webhooks"),
            &[("PostWebhookUrl", "https://other.example/post")],
        )
        .await;
    let run = account.run(&real()).await;
    run.result.unwrap();
    assert!(
        run.output.contains(&format!(
            "warning: the Conversations service {service} (where the stack's conversations are made) has webhooks of its own"
        )),
        "{}",
        run.output
    );
    assert!(
        run.output.contains("https://other.example/post"),
        "{}",
        run.output
    );
    // Only read: the service's configuration is the operator's to change.
    assert_eq!(
        account
            .emulator
            .conversations_webhooks()
            .service
            .post_webhook_url
            .as_deref(),
        Some("https://other.example/post")
    );
}

#[tokio::test]
async fn an_auto_creating_address_configuration_on_a_pool_number_is_a_warning() {
    let account = Account::owning(&POOL).await;
    account
        .emulator_post(
            "/v1/Configuration/Addresses",
            &[
                ("Type", "sms"),
                ("Address", POOL[1]),
                ("AutoCreation.Enabled", "true"),
            ],
        )
        .await;
    let run = account.run(&real()).await;
    assert_eq!(run.result.unwrap(), Outcome::Applied { writes: 4 });
    let warned: Vec<&str> = run
        .output
        .lines()
        .filter(|l| l.contains("auto-creates a conversation for this number's texts"))
        .collect();
    assert_eq!(warned.len(), 1, "{}", run.output);
    assert!(
        warned[0].contains("Address Configuration IG"),
        "{}",
        run.output
    );
    // The warning follows the number it is about, and names no full number.
    let before = &run.output[..run.output.find(warned[0]).unwrap()];
    assert!(before.contains("+1********02 (PN"), "{}", run.output);
    assert!(!run.output.contains(POOL[1]), "{}", run.output);
}

#[tokio::test]
async fn an_application_on_a_number_is_a_warning_and_the_urls_are_still_set() {
    let account = Account::owning(&POOL[1..]).await;
    let app = "AP0123456789abcdef0123456789abcdef";
    account
        .emulator
        .add_configured_phone_number(POOL[0], &[("VoiceApplicationSid", app)])
        .unwrap();

    let run = account.run(&real()).await;
    assert_eq!(run.result.unwrap(), Outcome::Applied { writes: 4 });
    assert!(
        run.output
            .contains(&format!("warning: VoiceApplicationSid {app} is set")),
        "{}",
        run.output
    );
    assert_eq!(run.output.matches("warning:").count(), 1, "{}", run.output);
    assert_wired(&account, POOL[0]);
    // Left for the operator to decide.
    assert_eq!(
        account.number(POOL[0]).voice_application_sid.as_deref(),
        Some(app)
    );
}

#[tokio::test]
async fn a_twilio_error_stops_the_run_with_its_code_and_a_rerun_finishes_the_rest() {
    let account = Account::owning(&POOL).await;
    account.emulator.inject(
        Operation::UpdateConfigurationWebhooks,
        Fault::Status {
            status: 400,
            retry_after: None,
        },
        1,
    );

    let failed = account.run(&real()).await;
    let err = failed.result.unwrap_err();
    let explained = err.explain();
    assert!(
        explained.contains("could not update the Conversations webhook configuration")
            && explained.contains("HTTP 400, error 20001")
            && explained.contains("3 updates applied before it; run again to finish"),
        "{explained}"
    );
    let (_, writes) = account.take_requests();
    assert_eq!(writes.len(), 4);

    let rerun = account.run(&real()).await;
    assert_eq!(rerun.result.unwrap(), Outcome::Applied { writes: 1 });
    let (_, writes) = account.take_requests();
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0].operation, Operation::UpdateConfigurationWebhooks);
}

#[tokio::test]
async fn wrong_credentials_are_refused_by_twilio_and_said_so() {
    let mut account = Account::owning(&POOL).await;
    account.credentials.auth_token = Secret::new("not-the-token");

    let run = account.run(&real()).await;
    let explained = run.result.unwrap_err().explain();
    assert!(
        explained.contains("could not look up the pool numbers")
            && explained.contains("HTTP 401, error 20003")
            && explained.contains("check twilio/account-sid and twilio/auth-token"),
        "{explained}"
    );
    assert!(!explained.contains("not-the-token"));
    let (_, writes) = account.take_requests();
    assert!(writes.is_empty());
}

#[test]
fn the_pool_is_both_pools_each_number_once() {
    let values: HashMap<String, String> = [
        ("twilio/account-sid", "AC0123456789abcdef0123456789abcdef"),
        ("twilio/auth-token", "token"),
        ("number-pool", "+15005550002,+15005550001"),
        ("whatsapp-pool", "+15005550002,+15005550009"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let config = RawConfig::from_ssm(values)
        .parse_for(masked_comms::config::Function::InboundCall)
        .unwrap();
    assert_eq!(
        Wiring::pool_of(&config),
        ["+15005550001", "+15005550002", "+15005550009"]
    );
}
