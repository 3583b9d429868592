//! IncomingPhoneNumbers: the numbers the emulator owns, their configuration, and where
//! inbound calls to them go.

use crate::{
    common::{is_sid, start_with, Client},
    hooks::Hooks,
};
use serde_json::{json, Value};
use twilio_emulator::{Emulator, EmulatorConfig, HttpMethod, Operation};

const ALICE: &str = "+14155550101";
const OURS: [&str; 3] = ["+14155550000", "+14155550001", "+447700900123"];

async fn with_numbers() -> (Emulator, Client) {
    start_with(EmulatorConfig {
        numbers: OURS.iter().map(|n| n.to_string()).collect(),
        ..EmulatorConfig::default()
    })
    .await
}

fn numbers_path(emulator: &Emulator) -> String {
    format!(
        "/2010-04-01/Accounts/{}/IncomingPhoneNumbers.json",
        emulator.account_sid()
    )
}

fn listed(body: &Value) -> Vec<&str> {
    body["incoming_phone_numbers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["phone_number"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn owned_numbers_are_listed_filtered_paged_and_fetched() {
    let (emulator, client) = with_numbers().await;
    let path = numbers_path(&emulator);
    let all = client.get(&path).await;
    assert_eq!(all.status, 200, "{}", all.text);
    let all = all.json();
    assert_eq!(listed(&all), OURS);
    let first = &all["incoming_phone_numbers"][0];
    assert!(is_sid(&first["sid"], "PN"), "{first}");
    assert_eq!(first["friendly_name"], "(415) 555-0000");
    assert_eq!(first["account_sid"], emulator.account_sid());
    assert_eq!(first["voice_url"], Value::Null);
    assert_eq!(first["voice_method"], "POST");
    assert_eq!(
        first["uri"],
        format!(
            "/2010-04-01/Accounts/{}/IncomingPhoneNumbers/{}.json",
            emulator.account_sid(),
            first["sid"].as_str().unwrap()
        )
    );
    assert_eq!(all["page_size"], 50);
    assert_eq!(all["next_page_uri"], Value::Null);
    let snapshot: Vec<String> = emulator
        .phone_numbers()
        .into_iter()
        .map(|n| n.sid)
        .collect();
    let sids: Vec<&str> = all["incoming_phone_numbers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["sid"].as_str().unwrap())
        .collect();
    assert_eq!(snapshot, sids);

    // The filter Twilio documents: exact, partial, and `*` for one digit.
    let exact = client
        .get(&format!("{path}?PhoneNumber=%2B14155550001"))
        .await
        .json();
    assert_eq!(listed(&exact), [OURS[1]]);
    let partial = client
        .get(&format!("{path}?PhoneNumber=%2B1415"))
        .await
        .json();
    assert_eq!(listed(&partial), &OURS[..2]);
    let wildcard = client
        .get(&format!("{path}?PhoneNumber=%2B44770090012*"))
        .await
        .json();
    assert_eq!(listed(&wildcard), [OURS[2]]);
    let none = client
        .get(&format!("{path}?PhoneNumber=%2B15005550006"))
        .await
        .json();
    assert!(listed(&none).is_empty());

    // Paging with API 2010's relative URIs.
    let page = client.get(&format!("{path}?PageSize=2")).await.json();
    assert_eq!(listed(&page), &OURS[..2]);
    assert_eq!(
        (page["start"].clone(), page["end"].clone()),
        (json!(0), json!(1))
    );
    let next = page["next_page_uri"].as_str().expect("a second page");
    assert!(next.starts_with(&format!("{path}?")), "{next}");
    let rest = client.get(next).await.json();
    assert_eq!(listed(&rest), [OURS[2]]);
    assert_eq!(rest["page"], 1);
    assert_eq!(rest["next_page_uri"], Value::Null);

    let sid = sids[1];
    let one = client
        .get(&format!(
            "/2010-04-01/Accounts/{}/IncomingPhoneNumbers/{sid}.json",
            emulator.account_sid()
        ))
        .await;
    assert_eq!(one.status, 200, "{}", one.text);
    assert_eq!(one.json(), all["incoming_phone_numbers"][1]);
    client
        .get(&format!(
            "/2010-04-01/Accounts/{}/IncomingPhoneNumbers/PN00000000000000000000000000000000.json",
            emulator.account_sid()
        ))
        .await
        .assert_error(404, 20404);
    client
        .get("/2010-04-01/Accounts/AC00000000000000000000000000000000/IncomingPhoneNumbers.json")
        .await
        .assert_error(404, 20404);
    let ops: Vec<Operation> = emulator.requests().iter().map(|r| r.operation).collect();
    assert_eq!(ops.last(), Some(&Operation::ListIncomingPhoneNumbers));
    assert!(ops.contains(&Operation::FetchIncomingPhoneNumber));
}

#[tokio::test]
async fn an_update_configures_the_number_and_its_calls_follow() {
    let hooks = Hooks::start().await;
    let (emulator, client) = start_with(EmulatorConfig {
        numbers: OURS.iter().map(|n| n.to_string()).collect(),
        voice_url: Some(hooks.url("/global")),
        ..EmulatorConfig::default()
    })
    .await;
    let sid = emulator.phone_numbers()[0].sid.clone();
    let path = format!(
        "/2010-04-01/Accounts/{}/IncomingPhoneNumbers/{sid}.json",
        emulator.account_sid()
    );
    let own_voice = hooks.url("/own-voice");
    let updated = client
        .post(
            &path,
            &[
                ("VoiceUrl", &own_voice),
                ("VoiceMethod", "POST"),
                ("VoiceFallbackUrl", &hooks.url("/fallback")),
                ("StatusCallback", &hooks.url("/number-status")),
                ("SmsUrl", &hooks.url("/sms")),
                ("SmsMethod", "GET"),
                ("FriendlyName", "Pool 1"),
            ],
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    let body = updated.json();
    assert_eq!(body["voice_url"], own_voice.as_str());
    assert_eq!(body["sms_url"], hooks.url("/sms").as_str());
    assert_eq!(body["sms_method"], "GET");
    assert_eq!(body["friendly_name"], "Pool 1");
    assert_eq!(
        body["status_callback"],
        hooks.url("/number-status").as_str()
    );
    let snapshot = &emulator.phone_numbers()[0];
    assert_eq!(snapshot.voice_url.as_deref(), Some(own_voice.as_str()));
    assert_eq!(snapshot.sms_method, HttpMethod::Get);

    // A call to that number goes to its own URL; to another number, the global one.
    emulator.place_call(ALICE, OURS[0]).await.unwrap();
    assert_eq!(hooks.next().await.path, "/own-voice");
    emulator.place_call(ALICE, OURS[1]).await.unwrap();
    assert_eq!(hooks.next().await.path, "/global");
    emulator.place_call(ALICE, "+15005550006").await.unwrap();
    assert_eq!(hooks.next().await.path, "/global");

    // While an application (or a trunk) takes the number's calls, VoiceUrl is ignored.
    let app = client
        .post(
            &path,
            &[("VoiceApplicationSid", "AP0123456789abcdef0123456789abcdef")],
        )
        .await;
    assert_eq!(
        app.json()["voice_application_sid"],
        "AP0123456789abcdef0123456789abcdef"
    );
    emulator.place_call(ALICE, OURS[0]).await.unwrap();
    assert_eq!(hooks.next().await.path, "/global");
    client
        .post(
            &path,
            &[("VoiceApplicationSid", ""), ("VoiceMethod", "GET")],
        )
        .await;
    emulator.place_call(ALICE, OURS[0]).await.unwrap();
    let got = hooks.next().await;
    assert_eq!(got.method, "GET");
    assert!(got.path.starts_with("/own-voice?"), "{}", got.path);
    assert_eq!(got.get("To"), Some(OURS[0]));
    client
        .post(&path, &[("TrunkSid", "TK0123456789abcdef0123456789abcdef")])
        .await;
    emulator.place_call(ALICE, OURS[0]).await.unwrap();
    assert_eq!(hooks.next().await.path, "/global");

    // Twilio's codes for bad values; nothing changes.
    client
        .post(&path, &[("VoiceUrl", "not-a-url")])
        .await
        .assert_error(400, 21502);
    client
        .post(&path, &[("VoiceMethod", "PUT")])
        .await
        .assert_error(400, 21403);
    assert_eq!(
        emulator.phone_numbers()[0].voice_url.as_deref(),
        Some(own_voice.as_str())
    );
    client
        .post(
            &format!(
                "/2010-04-01/Accounts/{}/IncomingPhoneNumbers/PN00000000000000000000000000000000.json",
                emulator.account_sid()
            ),
            &[("VoiceUrl", &own_voice)],
        )
        .await
        .assert_error(404, 20404);
}

#[tokio::test]
async fn numbers_come_from_the_config_and_the_control_api_and_survive_reset() {
    let (emulator, client) = with_numbers().await;
    let initial = emulator.phone_numbers();
    let added = emulator.add_phone_number("+14155550002").unwrap();
    assert!(added.sid.starts_with("PN"));
    assert!(emulator.add_phone_number("+14155550002").is_err());
    assert!(emulator.add_phone_number("not a number").is_err());
    let via_control = client
        .control_post(
            "/numbers",
            &json!({"phone_number": "+14155550003", "sms_url": "https://hooks.example/sms"}),
        )
        .await;
    assert_eq!(via_control.status, 201, "{}", via_control.text);
    assert_eq!(via_control.json()["sms_url"], "https://hooks.example/sms");
    let refused = client
        .control_post("/numbers", &json!({"phone_number": OURS[0]}))
        .await;
    assert_eq!(refused.status, 400);
    let listed = client.control_get("/numbers").await;
    assert_eq!(listed.as_array().unwrap().len(), 5);
    let api = client.get(&numbers_path(&emulator)).await.json();
    assert_eq!(api["incoming_phone_numbers"].as_array().unwrap().len(), 5);

    emulator.reset();
    assert_eq!(emulator.phone_numbers(), initial);

    let bad = Emulator::start(EmulatorConfig {
        numbers: vec!["+14155550000".into(), "0800 123".into()],
        ..EmulatorConfig::default()
    })
    .await;
    assert!(bad.is_err());
}

#[tokio::test]
async fn a_number_can_be_owned_already_configured_as_an_account_has_it() {
    let (emulator, client) = with_numbers().await;
    let app = "AP0123456789abcdef0123456789abcdef";
    let owned = emulator
        .add_configured_phone_number(
            "+14155550009",
            &[
                ("VoiceUrl", "https://other-app.example/voice"),
                ("VoiceApplicationSid", app),
                ("SmsMethod", "GET"),
            ],
        )
        .unwrap();
    assert_eq!(
        owned.voice_url.as_deref(),
        Some("https://other-app.example/voice")
    );
    assert_eq!(owned.voice_application_sid.as_deref(), Some(app));
    assert_eq!(owned.sms_method, HttpMethod::Get);
    // The API's own rules, and its messages.
    let refused = emulator
        .add_configured_phone_number("+14155550008", &[("TrunkSid", app)])
        .unwrap_err();
    assert!(refused.contains("TrunkSid must be a TK sid"), "{refused}");
    assert!(emulator
        .add_configured_phone_number("+14155550007", &[("VoiceUrl", "not a url")])
        .is_err());
    assert_eq!(emulator.phone_numbers().len(), OURS.len() + 1);
    // Seeding is not a Twilio request; the API then shows the number as configured.
    assert_eq!(emulator.requests().len(), 0);
    let listed = client
        .get(&format!(
            "{}?PhoneNumber=%2B14155550009",
            numbers_path(&emulator)
        ))
        .await
        .json();
    assert_eq!(
        listed["incoming_phone_numbers"][0]["voice_application_sid"],
        app
    );
    assert_eq!(listed["incoming_phone_numbers"][0]["sms_method"], "GET");
}
