//! Programmable Messaging's Messages resource: what it accepts, what it refuses (with
//! Twilio's codes), and what tests see afterwards.

use crate::common::{is_sid, start_with};
use twilio_emulator::EmulatorConfig;

const ALICE: &str = "+14155550101";
const PROXY: &str = "+14155550000";

#[tokio::test]
async fn a_message_from_an_account_number_is_queued_and_recorded() {
    let (emulator, client) = start_with(EmulatorConfig {
        numbers: vec![PROXY.into()],
        ..EmulatorConfig::default()
    })
    .await;
    let path = format!("/2010-04-01/Accounts/{}/Messages.json", client.account_sid);
    let reply = client
        .post(
            &path,
            &[
                ("To", ALICE),
                ("From", PROXY),
                ("Body", "courier is near"),
                ("MediaUrl", "https://example.com/a.png"),
                ("MediaUrl", "https://example.com/b.png"),
            ],
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let body = reply.json();
    assert!(is_sid(&body["sid"], "SM"));
    assert_eq!(body["status"], "queued");
    assert_eq!(body["num_media"], "2");
    assert_eq!(body["from"], PROXY);
    let sent = emulator.sent_messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].sid, body["sid"].as_str().unwrap());
    assert_eq!(sent[0].to, ALICE);
    assert_eq!(sent[0].media_urls.len(), 2);
}

#[tokio::test]
async fn refusals_carry_twilios_codes_and_send_nothing() {
    let (emulator, client) = start_with(EmulatorConfig {
        numbers: vec![PROXY.into()],
        ..EmulatorConfig::default()
    })
    .await;
    let path = format!("/2010-04-01/Accounts/{}/Messages.json", client.account_sid);
    let long = "x".repeat(1601);
    let cases: Vec<(Vec<(&str, &str)>, u64)> = vec![
        (vec![("To", ALICE), ("From", PROXY)], 21602),
        (
            vec![("To", ALICE), ("From", "+15550000000"), ("Body", "x")],
            21606,
        ),
        (vec![("To", ALICE), ("From", PROXY), ("Body", &long)], 21617),
        (
            vec![("To", ALICE), ("From", PROXY), ("ContentSid", "HXnothex")],
            21655,
        ),
        (
            vec![
                ("To", "whatsapp:+14155550101"),
                ("From", PROXY),
                ("Body", "x"),
            ],
            21910,
        ),
    ];
    for (form, code) in cases {
        client.post(&path, &form).await.assert_error(400, code);
    }
    assert!(emulator.sent_messages().is_empty());
    // Another account's path is not found.
    client
        .post(
            "/2010-04-01/Accounts/AC00000000000000000000000000000000/Messages.json",
            &[("To", ALICE), ("From", PROXY), ("Body", "x")],
        )
        .await
        .assert_error(404, 20404);
}
