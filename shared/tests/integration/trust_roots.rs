//! Every HTTPS client trusts the roots of one bundle and no others, and the
//! Twilio client's connections opened during init are the ones the first
//! request uses: real TLS handshakes on loopback, through
//! `twilio_emulator::tls::TlsFront`.

use masked_comms::handlers::conversation_events;
use masked_comms::trust_roots::TrustRoots;
use masked_comms::twilio::TwilioHttp;
use twilio_emulator::tls::{TlsFront, TEST_CA_PEM};
use twilio_emulator::{Emulator, EmulatorConfig};

use crate::support::*;

fn test_roots() -> TrustRoots {
    let roots = TrustRoots::from_pem(TEST_CA_PEM.as_bytes());
    assert_eq!(roots.len(), 1);
    roots
}

#[tokio::test]
async fn the_twilio_client_reuses_the_connections_opened_during_init() {
    let mut h = Harness::start().await;
    let front = TlsFront::start(&h.emulator.base_url()).await.unwrap();
    h.state.twilio =
        TwilioHttp::with_roots(settings(&front.base_url()), Some(&test_roots())).unwrap();
    let before = h.emulator.connections_accepted();

    assert_eq!(
        h.state.twilio.preconnect(2).await,
        2,
        "both connections open"
    );
    assert_eq!(h.emulator.connections_accepted(), before + 2);

    // A session Twilio closed: the webhook reads it and deletes it, one
    // request after the other, over the connections opened above.
    let sid = seed_closed(&h);
    let requests_before = h.requests_made();
    let params = [
        ("EventType", "onConversationStateUpdated"),
        ("ConversationSid", sid.as_str()),
        ("StateFrom", "active"),
        ("StateTo", "closed"),
    ];
    let req = signed_form(h.emulator.auth_token(), "/conversation-events", &params);
    let response = conversation_events::handle(&h.state, req).await;
    assert_eq!(status(&response), 200, "{}", body_text(&response));
    assert!(h.emulator.conversation(&sid).is_none(), "deleted over TLS");
    assert!(h.requests_made() > requests_before);
    assert_eq!(
        h.emulator.connections_accepted(),
        before + 2,
        "no new connection: the requests went over those opened first"
    );
}

#[tokio::test]
async fn a_client_without_the_bundle_refuses_the_server() {
    let emulator = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let front = TlsFront::start(&emulator.base_url()).await.unwrap();
    // The machine's own roots (reqwest's loading, then ours): neither has the test CA.
    for roots in [None, TrustRoots::system()] {
        let http = TwilioHttp::with_roots(settings(&front.base_url()), roots).unwrap();
        assert_eq!(http.preconnect(1).await, 0, "the handshake fails");
    }
    assert_eq!(
        emulator.connections_accepted(),
        0,
        "nothing reached the emulator"
    );
}

#[tokio::test]
async fn the_aws_sdk_trusts_the_bundle_and_nothing_else() {
    let front = TlsFront::start(moto_url()).await.unwrap();
    let client = |http: Option<aws_sdk_dynamodb::config::SharedHttpClient>| {
        let mut config = aws_sdk_dynamodb::Config::builder()
            .behavior_version_latest()
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .endpoint_url(front.base_url())
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "testing", "testing", None, None, "tests",
            ));
        if let Some(http) = http {
            config = config.http_client(http);
        }
        aws_sdk_dynamodb::Client::from_conf(config.build())
    };
    let trusted = client(Some(test_roots().aws_http_client()));
    trusted
        .list_tables()
        .send()
        .await
        .expect("moto answers over TLS with the test CA as the only root");

    let system = TrustRoots::system().map(TrustRoots::aws_http_client);
    for http in [None, system] {
        let err = client(http)
            .list_tables()
            .send()
            .await
            .expect_err("the test CA is not among the machine's roots");
        let text = format!("{:?}", err);
        assert!(
            text.contains("certificate") || text.contains("Certificate"),
            "a certificate error, not another failure: {text}"
        );
    }
}
