//! A stateful local stand-in for the parts of Twilio that masked-comms uses: the
//! Conversations API (conversations, participants, participant conversations, messages,
//! webhook configuration), API 2010 (calls, recordings, incoming phone numbers), and
//! Twilio's webhooks toward us (inbound calls and texts, call status, dial action and
//! recording callbacks, Conversations pre- and post-events).
//!
//! Never deployed. Integration tests start it in-process on an ephemeral port
//! ([`Emulator::start`]); local runs start the `twilio-emulator` binary and steer it through
//! the control API under `/_emulator/`.
//!
//! One server answers both Twilio hosts' paths, so point both the Conversations base URL
//! and the REST API base URL at [`Emulator::base_url`].
//!
//! Besides Twilio's rules, the emulator records every Twilio request (with timing and the
//! TCP connection it came on), can add latency, rate-limit conversation creates, and
//! inject faults (error statuses, hangs, connection resets) per operation.
//!
//! What it plays toward us, and how to drive it (Rust, or the control API):
//!
//! | simulate | Rust | control API |
//! |---|---|---|
//! | an inbound call | [`Emulator::place_call`] | `POST /_emulator/calls/place` |
//! | the rest of a call, with its callbacks | [`Emulator::complete_call`] | `POST /_emulator/calls/complete` |
//! | an inbound text | [`Emulator::send_message`] | `POST /_emulator/messages` |
//! | a timer closing a conversation | [`Emulator::close_conversation`] | `POST /_emulator/conversations/{sid}/close` |
//! | owning one more number | [`Emulator::add_phone_number`] | `POST /_emulator/numbers` |
//!
//! Snapshots for assertions: [`Emulator::conversations`] (with messages),
//! [`Emulator::calls`], [`Emulator::inbound_calls`], [`Emulator::recordings`],
//! [`Emulator::phone_numbers`], [`Emulator::inbound_texts`], [`Emulator::text_deliveries`],
//! [`Emulator::conversations_webhooks`], [`Emulator::webhook_deliveries`] and
//! [`Emulator::requests`] (also under `/_emulator/`).
//!
//! Where webhooks go: an inbound call to the number's own `VoiceUrl` (else the configured
//! `voice_url`); Conversations post-events to the configured `PostWebhookUrl` when its
//! `Filters` include them (the service's configuration winning over the account's), and
//! state updates also to the emulator's own `events_url`; an unbound text to the number's
//! `SmsUrl`. As on Twilio, a REST change fires no Conversations webhook (the events URL
//! included) unless its request carries `X-Twilio-Webhook-Enabled: true`.

mod addresses;
mod calls;
mod clock;
mod control;
mod conversations_webhooks;
pub mod errors;
mod faults;
mod holds;
mod http;
mod messaging;
mod net;
mod numbers;
mod outbound_messages;
mod paging;
mod params;
mod recording;
mod resources;
mod server;
mod state;
pub mod tls;
mod twiml;
mod webhooks;

use std::{
    net::{Ipv4Addr, SocketAddr},
    sync::{atomic::Ordering, Arc},
    time::Duration,
};

use axum::Router;
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};

pub use crate::{
    calls::{CallSnapshot, CompletedCall, InboundCallSnapshot, RecordingSnapshot},
    conversations_webhooks::{ConversationsWebhooksSnapshot, WebhookConfigurationSnapshot},
    errors::TwilioError,
    faults::{Fault, Operation},
    holds::Hold,
    messaging::{DeliverySnapshot, InboundTextSnapshot, MessageSnapshot, TextOutcome},
    numbers::PhoneNumberSnapshot,
    outbound_messages::SentMessageSnapshot,
    recording::{sequential_round_trips, RecordedRequest},
    state::{ConversationSnapshot, ConversationState, ParticipantSnapshot},
    webhooks::{compute_signature, HttpMethod, WebhookDelivery, WebhookOutcome},
};
use crate::{
    net::{ConnInfo, CountingListener},
    server::{lock, Shared},
};

/// A sample AccountSid used when none is configured.
pub const SAMPLE_ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
/// A sample auth token used when none is configured.
pub const SAMPLE_AUTH_TOKEN: &str = "emulatortoken0123456789abcdef0000";

#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    pub account_sid: String,
    pub auth_token: String,
    /// Added to every Twilio request before it is processed.
    pub latency: Duration,
    /// Maximum conversation creates per second; excess gets 429 code 20429, `Retry-After: 1`.
    pub conversation_creates_per_second: Option<u32>,
    /// Where inbound calls are POSTed ([`Emulator::place_call`]) when the number called
    /// has no voice URL of its own.
    pub voice_url: Option<String>,
    /// Where `onConversationStateUpdated` events are POSTed, whatever Twilio's webhook
    /// configuration says (see [`Emulator::close_conversation`]).
    pub events_url: Option<String>,
    /// How long a configured Conversations pre- or post-event webhook may take to answer
    /// (Twilio: 5 s). A pre-event without an answer in time lets the action through.
    pub conversations_webhook_timeout: Duration,
    /// The phone numbers the emulator owns (E.164), served as IncomingPhoneNumbers with
    /// nothing configured. More can be added later ([`Emulator::add_phone_number`]).
    pub numbers: Vec<String>,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            account_sid: SAMPLE_ACCOUNT_SID.to_owned(),
            auth_token: SAMPLE_AUTH_TOKEN.to_owned(),
            latency: Duration::ZERO,
            conversation_creates_per_second: None,
            voice_url: None,
            events_url: None,
            conversations_webhook_timeout: Duration::from_secs(5),
            numbers: Vec::new(),
        }
    }
}

/// State to create directly with [`Emulator::seed_conversation`]. Bindings are
/// (address, proxy_address) pairs and go through the same rules as the API.
#[derive(Debug, Clone)]
pub struct ConversationSeed {
    pub unique_name: Option<String>,
    pub friendly_name: Option<String>,
    pub attributes: Option<String>,
    pub messaging_service_sid: Option<String>,
    pub state: ConversationState,
    pub bindings: Vec<(String, String)>,
}

impl Default for ConversationSeed {
    fn default() -> Self {
        Self {
            unique_name: None,
            friendly_name: None,
            attributes: None,
            messaging_service_sid: None,
            state: ConversationState::Active,
            bindings: Vec::new(),
        }
    }
}

/// A running emulator. Dropping it stops the server (hung requests are released).
pub struct Emulator {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    server: Option<JoinHandle<()>>,
}

impl Emulator {
    /// Starts on 127.0.0.1 with an ephemeral port.
    pub async fn start(config: EmulatorConfig) -> std::io::Result<Emulator> {
        Self::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), config).await
    }

    pub async fn start_on(addr: SocketAddr, config: EmulatorConfig) -> std::io::Result<Emulator> {
        let numbers = server::initial_numbers(&config.numbers)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        // A wildcard bind is still reached through loopback.
        let host = if local.ip().is_unspecified() {
            SocketAddr::from((Ipv4Addr::LOCALHOST, local.port()))
        } else {
            local
        };
        let (stop, stopped) = watch::channel(false);
        let shared = Arc::new(Shared::new(
            config,
            numbers,
            format!("http://{host}"),
            stopped.clone(),
        ));
        let app = Router::new()
            .nest("/_emulator", control::router())
            .fallback(http::dispatch)
            .with_state(Arc::clone(&shared));
        let listener = CountingListener::new(listener, Arc::clone(&shared.connections));
        let server = tokio::spawn(async move {
            let mut stopped = stopped;
            let signal = async move {
                // Also returns when the sender is gone.
                let _ = stopped.wait_for(|s| *s).await;
            };
            let service = app.into_make_service_with_connect_info::<ConnInfo>();
            if let Err(e) = axum::serve(listener, service)
                .with_graceful_shutdown(signal)
                .await
            {
                tracing::warn!("emulator server stopped with an error: {e}");
            }
        });
        tracing::info!(base_url = %shared.ctx.base_url, "twilio emulator listening");
        Ok(Emulator {
            shared,
            stop,
            server: Some(server),
        })
    }

    /// Stops the server and waits (up to 5 s) for open connections to finish.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
        }
    }

    /// `http://127.0.0.1:PORT`; serves both `/v1/...` and `/2010-04-01/...`.
    pub fn base_url(&self) -> String {
        self.shared.ctx.base_url.clone()
    }

    pub fn account_sid(&self) -> &str {
        &self.shared.ctx.account_sid
    }

    pub fn auth_token(&self) -> &str {
        &self.shared.auth_token
    }

    /// The `IS...` sid reported as every conversation's `chat_service_sid`.
    pub fn chat_service_sid(&self) -> &str {
        &self.shared.ctx.chat_service_sid
    }

    /// The `MG...` sid used when a create gives no `MessagingServiceSid`.
    pub fn default_messaging_service_sid(&self) -> &str {
        &self.shared.default_messaging_service_sid
    }

    /// Every Twilio request so far, in the order they finished.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    pub fn clear_requests(&self) {
        lock(&self.shared.requests).clear();
    }

    /// TCP connections accepted since start (control API connections included).
    pub fn connections_accepted(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// All conversations (closed ones too), oldest first.
    pub fn conversations(&self) -> Vec<ConversationSnapshot> {
        lock(&self.shared.state).snapshot()
    }

    /// One conversation by sid or unique name.
    pub fn conversation(&self, sid_or_unique_name: &str) -> Option<ConversationSnapshot> {
        let state = lock(&self.shared.state);
        state
            .find(sid_or_unique_name)
            .map(|i| ConversationSnapshot::from(&state.conversations[i]))
    }

    /// Calls created through the Calls API, oldest first.
    pub fn calls(&self) -> Vec<CallSnapshot> {
        lock(&self.shared.state)
            .calls
            .iter()
            .map(CallSnapshot::from)
            .collect()
    }

    /// The numbers the emulator owns, in the order they were added.
    pub fn phone_numbers(&self) -> Vec<PhoneNumberSnapshot> {
        lock(&self.shared.state)
            .numbers
            .iter()
            .map(PhoneNumberSnapshot::from)
            .collect()
    }

    /// Makes the emulator own one more number (E.164), with nothing configured; it then
    /// shows up in `IncomingPhoneNumbers`. Refuses a number it already owns.
    pub fn add_phone_number(&self, number: &str) -> Result<PhoneNumberSnapshot, String> {
        self.shared
            .add_phone_number(number, numbers::NumberUpdate::default())
    }

    /// Makes the emulator own one more number, configured at once with IncomingPhoneNumber
    /// update parameters (`VoiceUrl`, `VoiceApplicationSid`, `TrunkSid`, ...), validated as
    /// the API validates them. Nothing is recorded: it is the account as found.
    pub fn add_configured_phone_number(
        &self,
        number: &str,
        settings: &[(&str, &str)],
    ) -> Result<PhoneNumberSnapshot, String> {
        let form: Vec<(String, String)> = settings
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let update = numbers::NumberUpdate::from_form(&form).map_err(|e| e.message)?;
        self.shared.add_phone_number(number, update)
    }

    /// The Conversations webhook configurations (the account's and the chat service's), as
    /// the Configuration Webhooks API last set them.
    pub fn conversations_webhooks(&self) -> ConversationsWebhooksSnapshot {
        (&lock(&self.shared.state).conversations_webhooks).into()
    }

    pub fn set_latency(&self, latency: Duration) {
        *lock(&self.shared.latency) = latency;
    }

    pub fn set_conversation_rate_limit(&self, per_second: Option<u32>) {
        lock(&self.shared.rate).set(per_second);
    }

    /// The next `times` requests of `operation` get `fault` instead of being processed.
    /// Rules for the same operation apply in the order they were injected.
    pub fn inject(&self, operation: Operation, fault: Fault, times: usize) {
        lock(&self.shared.faults).inject(operation, fault, times);
    }

    /// The next `times` requests of `operation` wait (after the latency, before any
    /// fault) until the returned [`Hold`] is released or dropped: a test's way to force
    /// the order of concurrent requests.
    pub fn hold(&self, operation: Operation, times: usize) -> Hold {
        self.shared.holds.hold(operation, times)
    }

    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    pub fn set_webhooks(&self, voice_url: Option<String>, events_url: Option<String>) {
        let mut targets = lock(&self.shared.webhooks);
        targets.voice_url = voice_url;
        targets.events_url = events_url;
    }

    /// Simulates an inbound call from `from` to our number `to`: sends Twilio's signed
    /// voice webhook and returns what came back (the TwiML). It goes to the number's own
    /// `VoiceUrl` (with its `VoiceMethod`) when the emulator owns `to` and the number has
    /// one that Twilio would use, else to the global `voice_url`.
    ///
    /// The call stays in progress, with our answer, until [`Emulator::complete_call`]
    /// ends it; [`Emulator::inbound_calls`] lists it (its sid is also the `CallSid` of the
    /// delivery in [`Emulator::webhook_deliveries`]).
    pub async fn place_call(&self, from: &str, to: &str) -> Result<WebhookOutcome, String> {
        self.shared
            .place_call(from, to)
            .await
            .map(|(_, outcome)| outcome)
    }

    /// Ends a call after `duration` of talk and plays the rest of it as Twilio would,
    /// sending the signed callbacks it asked for, in order (see [`CompletedCall`]):
    ///
    /// - an inbound call ([`Emulator::place_call`]) follows the TwiML we answered: for a
    ///   `<Dial><Number statusCallback=...>` the child leg's status events (a new child
    ///   `CA...`, `ParentCallSid`, `Direction=outbound-dial`), for `<Dial action=...>` the
    ///   action request (`DialCallStatus`, `DialCallSid`, `DialCallDuration`), for
    ///   `<Dial record="record-...">` a recording (`RE...`, kept until deleted) and its
    ///   `recordingStatusCallback`; then the called number's own `StatusCallback` hears
    ///   `completed`. A `<Conference>` dial has no child leg.
    /// - a call created through the Calls API reports the `StatusCallbackEvent`s it asked
    ///   for (default `completed`), plays its inline `Twiml`'s `<Dial>` the same way, and
    ///   with `Record=true` leaves a recording and calls `RecordingStatusCallback`.
    ///
    /// The child leg always answers. Errors for an unknown call or one already ended.
    pub async fn complete_call(
        &self,
        call_sid: &str,
        duration: Duration,
    ) -> Result<CompletedCall, String> {
        self.shared
            .complete_call(Some(call_sid), duration.as_secs())
            .await
    }

    /// Inbound calls placed so far, oldest first.
    pub fn inbound_calls(&self) -> Vec<InboundCallSnapshot> {
        lock(&self.shared.state)
            .inbound_calls
            .iter()
            .map(InboundCallSnapshot::from)
            .collect()
    }

    /// Recordings that exist (made by ending calls, not yet deleted), oldest first.
    pub fn recordings(&self) -> Vec<RecordingSnapshot> {
        lock(&self.shared.state)
            .recordings
            .iter()
            .map(RecordingSnapshot::from)
            .collect()
    }

    /// Simulates a text from `from` arriving at our number `to` (SMS, or WhatsApp when
    /// both carry `whatsapp:`), routed as Twilio routes it:
    ///
    /// - when (from, to) is bound in a non-closed conversation, Conversations takes it: a
    ///   configured `onMessageAdd` pre-event is asked first (4xx/5xx rejects it; 2xx lets
    ///   it through, with the `body`/`author`/`attributes` of a JSON answer; no answer in
    ///   [`EmulatorConfig::conversations_webhook_timeout`] lets it through unchanged),
    ///   then the message is added, delivered to every other non-chat participant, and
    ///   `onMessageAdded` is sent to a configured post-event webhook;
    /// - otherwise the number's own `SmsUrl` gets Twilio's messaging webhook, and each
    ///   `<Message>` of its TwiML answer is sent back to the sender, or to its `to` from
    ///   its `from` (dropped when `from` is not one of the emulator's numbers: 21606);
    /// - otherwise the text is dropped.
    ///
    /// Returns which of these happened; [`Emulator::inbound_texts`] keeps the record and
    /// [`Emulator::text_deliveries`] the texts sent out. Errors for addresses that are not
    /// E.164 or mix SMS and WhatsApp.
    pub async fn send_message(
        &self,
        from: &str,
        to: &str,
        body: &str,
    ) -> Result<TextOutcome, String> {
        self.shared.send_message(from, to, body).await
    }

    /// Messages created through the Messages resource (`Messages.json`), oldest first.
    pub fn sent_messages(&self) -> Vec<SentMessageSnapshot> {
        lock(&self.shared.state).sent_messages.clone()
    }

    /// Inbound texts so far and what became of each, oldest first.
    pub fn inbound_texts(&self) -> Vec<InboundTextSnapshot> {
        lock(&self.shared.state).texts.clone()
    }

    /// Texts sent out on our behalf (conversation deliveries and `SmsUrl` replies),
    /// oldest first.
    pub fn text_deliveries(&self) -> Vec<DeliverySnapshot> {
        lock(&self.shared.state).outbound_texts.clone()
    }

    /// Closes a conversation (freeing its pairs) as Twilio's timer would, and POSTs the
    /// signed `onConversationStateUpdated` event to `events_url`. Errors without changing
    /// anything when no `events_url` is set, the sid is unknown, or it is already closed;
    /// if only the POST fails, the conversation stays closed.
    pub async fn close_conversation(&self, sid: &str) -> Result<WebhookOutcome, String> {
        self.shared.close_conversation(sid).await
    }

    /// Every webhook POST sent so far (including the asynchronous ones that API closes
    /// trigger), oldest first.
    pub fn webhook_deliveries(&self) -> Vec<WebhookDelivery> {
        lock(&self.shared.deliveries).clone()
    }

    /// Creates a conversation directly (no HTTP, no faults, no recording), e.g. a closed
    /// conversation that once held a binding. Returns its sid.
    pub fn seed_conversation(&self, seed: ConversationSeed) -> Result<String, String> {
        self.shared.seed_conversation(seed)
    }

    /// Creates a recording directly (no HTTP, no faults, no callback), as a call's end
    /// would leave one, e.g. for a recording callback a test sends itself. Returns its
    /// sid; it exists until deleted (`DELETE .../Recordings/{sid}.json`).
    pub fn seed_recording(&self, call_sid: &str) -> String {
        let sid = crate::state::new_sid("RE");
        lock(&self.shared.state)
            .recordings
            .push(crate::calls::Recording {
                sid: sid.clone(),
                call_sid: call_sid.to_owned(),
                channels: 2,
                source: "DialVerb",
                duration: 1,
                started: crate::clock::now_unix(),
            });
        sid
    }

    /// Clears all state, records, faults and deliveries; restores the configured latency,
    /// rate limit and webhook URLs.
    pub fn reset(&self) {
        self.shared.reset();
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}
