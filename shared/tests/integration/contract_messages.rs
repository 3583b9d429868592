//! The backend's messages (`Twilio::send_message`) held to Twilio's OpenAPI
//! description, as the other requests are in `contract.rs`: a text with
//! media, and a WhatsApp template, each accepted by Prism with every
//! parameter name declared, and each of Twilio's example answers parsed.

use std::time::Duration;

use masked_comms::domain::outbound_message::{OutboundMessage, Template};

use crate::contract::{accepted, Contract};

const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
const ALICE: &str = "+14155550101";
const PROXY: &str = "+14155550000";
const WHATSAPP_CAROL: &str = "whatsapp:+14155550103";
const WHATSAPP_PROXY: &str = "whatsapp:+14155550000";

#[tokio::test]
#[ignore = "needs Prism on Twilio's OpenAPI description: run contract/run.sh"]
async fn message_requests_match_the_description() {
    let contract = Contract::start().await;
    let twilio = contract.http.session(
        &contract.credentials,
        Duration::from_secs(60),
        &contract.requests,
    );
    let proxy = &contract.api;
    let text = OutboundMessage {
        to: None,
        body: Some("Your courier is 2 minutes away".into()),
        media_urls: vec![
            "https://example.com/map.png".into(),
            "https://example.com/courier.jpg".into(),
        ],
        template: None,
    };
    let template = OutboundMessage {
        to: None,
        body: None,
        media_urls: Vec::new(),
        template: Some(Template {
            content_sid: "HX0123456789abcdef0123456789abcdef".into(),
            variables: Some(r#"{"1":"Ada"}"#.into()),
        }),
    };
    let examples = contract.api_spec.examples(
        "post",
        "/2010-04-01/Accounts/{AccountSid}/Messages.json",
        201,
    );
    assert!(!examples.is_empty(), "the description has examples");
    for (name, example) in examples {
        proxy.set_example(Some(&name));
        let sent = accepted(
            twilio.send_message(PROXY, ALICE, &text).await,
            proxy,
            &format!("send a text (example {name})"),
        );
        assert_eq!(sent.sid, example["sid"].as_str().unwrap());
        let media = proxy
            .last()
            .form
            .iter()
            .filter(|(k, _)| k.starts_with("MediaUrl"))
            .count();
        assert_eq!(media, 2, "each URL a MediaUrl");
        accepted(
            twilio
                .send_message(WHATSAPP_PROXY, WHATSAPP_CAROL, &template)
                .await,
            proxy,
            &format!("send a template (example {name})"),
        );
    }
    assert_eq!(
        proxy.last().path,
        format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json")
    );
    let count = contract.assert_all_accepted();
    assert!(count >= 2, "only {count} requests were checked");
}
