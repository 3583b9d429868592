//! The control API under `/_emulator/` (no auth): what the binary's users and out-of-process
//! tests use instead of the `Emulator` methods.
//!
//! - `GET /info`; `GET`/`DELETE /requests`; `POST /reset`
//! - `GET /conversations`; `POST /conversations/{sid}/close`
//! - `GET /calls` (Calls API calls); `POST /calls/place` `{from, to}` (the new call's sid in
//!   `X-Call-Sid`); `GET /calls/inbound`; `POST /calls/complete` `{call_sid?, duration}`;
//!   `GET /recordings`
//! - `GET /numbers`; `POST /numbers` `{phone_number, voice_url?, sms_url?}`
//! - `POST /messages` `{from, to, body}` (answers the outcome); `GET /messages` (inbound
//!   texts and their outcomes); `GET /deliveries` (texts sent out)
//! - `POST`/`DELETE /faults`; `POST /latency`; `POST /rate-limit`; `GET`/`POST /webhooks`
//! - `GET /conversations-webhooks`: the Conversations webhook configurations (the account's,
//!   its `target`, and the chat service's) as the Configuration Webhooks API set them

use std::{sync::Arc, time::Duration};

use axum::{
    extract::{Path, State},
    http::{HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use serde::Deserialize;
use serde_json::json;

use crate::{
    calls::{CallSnapshot, InboundCallSnapshot, RecordingSnapshot},
    conversations_webhooks::ConversationsWebhooksSnapshot,
    faults::{Fault, Operation},
    numbers::{NumberUpdate, PhoneNumberSnapshot},
    recording::RequestView,
    server::{lock, Shared},
    webhooks::WebhookOutcome,
};

pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/info", get(info))
        .route("/requests", get(requests).delete(clear_requests))
        .route("/conversations", get(conversations))
        .route("/conversations/{sid}/close", post(close_conversation))
        .route("/calls", get(calls))
        .route("/calls/place", post(place_call))
        .route("/calls/inbound", get(inbound_calls))
        .route("/calls/complete", post(complete_call))
        .route("/recordings", get(recordings))
        .route("/faults", post(add_fault).delete(clear_faults))
        .route("/latency", post(set_latency))
        .route("/rate-limit", post(set_rate_limit))
        .route("/webhooks", get(webhooks).post(set_webhooks))
        .route("/conversations-webhooks", get(conversations_webhooks))
        .route("/numbers", get(numbers).post(add_number))
        .route("/messages", get(messages).post(send_message))
        .route("/deliveries", get(deliveries))
        .route("/reset", post(reset))
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

fn outcome(result: Result<WebhookOutcome, String>) -> Response {
    match result {
        Ok(outcome) => Json(outcome).into_response(),
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}

async fn info(State(shared): State<Arc<Shared>>) -> Response {
    Json(json!({
        "base_url": shared.ctx.base_url,
        "account_sid": shared.ctx.account_sid,
        "chat_service_sid": shared.ctx.chat_service_sid,
        "messaging_service_sid": shared.default_messaging_service_sid,
        "connections_accepted": shared.connections.load(std::sync::atomic::Ordering::SeqCst),
    }))
    .into_response()
}

async fn requests(State(shared): State<Arc<Shared>>) -> Response {
    let requests = lock(&shared.requests);
    let views: Vec<RequestView<'_>> = requests
        .iter()
        .map(|r| RequestView::new(r, shared.epoch))
        .collect();
    Json(views).into_response()
}

async fn clear_requests(State(shared): State<Arc<Shared>>) -> StatusCode {
    lock(&shared.requests).clear();
    StatusCode::NO_CONTENT
}

async fn conversations(State(shared): State<Arc<Shared>>) -> Response {
    Json(lock(&shared.state).snapshot()).into_response()
}

async fn calls(State(shared): State<Arc<Shared>>) -> Response {
    let calls: Vec<CallSnapshot> = lock(&shared.state)
        .calls
        .iter()
        .map(CallSnapshot::from)
        .collect();
    Json(calls).into_response()
}

#[derive(Deserialize)]
struct FaultBody {
    operation: Operation,
    fault: Fault,
    #[serde(default = "one")]
    times: usize,
}

fn one() -> usize {
    1
}

async fn add_fault(State(shared): State<Arc<Shared>>, Json(body): Json<FaultBody>) -> StatusCode {
    lock(&shared.faults).inject(body.operation, body.fault, body.times);
    StatusCode::NO_CONTENT
}

async fn clear_faults(State(shared): State<Arc<Shared>>) -> StatusCode {
    lock(&shared.faults).clear();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct LatencyBody {
    ms: u64,
}

async fn set_latency(
    State(shared): State<Arc<Shared>>,
    Json(body): Json<LatencyBody>,
) -> StatusCode {
    *lock(&shared.latency) = Duration::from_millis(body.ms);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct RateLimitBody {
    conversation_creates_per_second: Option<u32>,
}

async fn set_rate_limit(
    State(shared): State<Arc<Shared>>,
    Json(body): Json<RateLimitBody>,
) -> StatusCode {
    lock(&shared.rate).set(body.conversation_creates_per_second);
    StatusCode::NO_CONTENT
}

async fn webhooks(State(shared): State<Arc<Shared>>) -> Response {
    let targets = lock(&shared.webhooks).clone();
    let deliveries = lock(&shared.deliveries).clone();
    Json(json!({
        "voice_url": targets.voice_url,
        "events_url": targets.events_url,
        "deliveries": deliveries,
    }))
    .into_response()
}

async fn conversations_webhooks(State(shared): State<Arc<Shared>>) -> Response {
    let snapshot: ConversationsWebhooksSnapshot =
        (&lock(&shared.state).conversations_webhooks).into();
    Json(snapshot).into_response()
}

#[derive(Deserialize)]
struct WebhooksBody {
    voice_url: Option<String>,
    events_url: Option<String>,
}

async fn set_webhooks(
    State(shared): State<Arc<Shared>>,
    Json(body): Json<WebhooksBody>,
) -> StatusCode {
    let mut targets = lock(&shared.webhooks);
    targets.voice_url = body.voice_url;
    targets.events_url = body.events_url;
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct PlaceCallBody {
    from: String,
    to: String,
}

/// Answers what our webhook answered, as before; the call's sid is in `X-Call-Sid`.
async fn place_call(
    State(shared): State<Arc<Shared>>,
    Json(body): Json<PlaceCallBody>,
) -> Response {
    match shared.place_call(&body.from, &body.to).await {
        Ok((sid, outcome)) => {
            let mut response = Json(outcome).into_response();
            if let Ok(value) = HeaderValue::from_str(&sid) {
                response.headers_mut().insert(CALL_SID_HEADER, value);
            }
            response
        }
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}

/// The header naming the call `/calls/place` placed.
pub(crate) const CALL_SID_HEADER: &str = "x-call-sid";

async fn inbound_calls(State(shared): State<Arc<Shared>>) -> Response {
    let calls: Vec<InboundCallSnapshot> = lock(&shared.state)
        .inbound_calls
        .iter()
        .map(InboundCallSnapshot::from)
        .collect();
    Json(calls).into_response()
}

#[derive(Deserialize)]
struct CompleteCallBody {
    /// The call to end; without it, the latest call still going.
    call_sid: Option<String>,
    /// Seconds of talk.
    duration: u64,
}

async fn complete_call(
    State(shared): State<Arc<Shared>>,
    Json(body): Json<CompleteCallBody>,
) -> Response {
    match shared
        .complete_call(body.call_sid.as_deref(), body.duration)
        .await
    {
        Ok(completed) => Json(completed).into_response(),
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}

async fn recordings(State(shared): State<Arc<Shared>>) -> Response {
    let recordings: Vec<RecordingSnapshot> = lock(&shared.state)
        .recordings
        .iter()
        .map(RecordingSnapshot::from)
        .collect();
    Json(recordings).into_response()
}

async fn close_conversation(
    State(shared): State<Arc<Shared>>,
    Path(sid): Path<String>,
) -> Response {
    outcome(shared.close_conversation(&sid).await)
}

async fn reset(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.reset();
    StatusCode::NO_CONTENT
}

async fn numbers(State(shared): State<Arc<Shared>>) -> Response {
    let numbers: Vec<PhoneNumberSnapshot> = lock(&shared.state)
        .numbers
        .iter()
        .map(PhoneNumberSnapshot::from)
        .collect();
    Json(numbers).into_response()
}

#[derive(Deserialize)]
struct NumberBody {
    phone_number: String,
    /// Optional `VoiceUrl` / `SmsUrl` to configure at once, as the API would.
    voice_url: Option<String>,
    sms_url: Option<String>,
}

async fn add_number(State(shared): State<Arc<Shared>>, Json(body): Json<NumberBody>) -> Response {
    let form: Vec<(String, String)> = [("VoiceUrl", body.voice_url), ("SmsUrl", body.sms_url)]
        .into_iter()
        .filter_map(|(name, value)| value.map(|v| (name.to_owned(), v)))
        .collect();
    let update = match NumberUpdate::from_form(&form) {
        Ok(update) => update,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.message),
    };
    match shared.add_phone_number(&body.phone_number, update) {
        Ok(number) => (StatusCode::CREATED, Json(number)).into_response(),
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}

async fn messages(State(shared): State<Arc<Shared>>) -> Response {
    Json(lock(&shared.state).texts.clone()).into_response()
}

#[derive(Deserialize)]
struct MessageBody {
    from: String,
    to: String,
    body: String,
}

/// Answers the `TextOutcome` (`{"outcome": "added" | "rejected" | "sent_to_sms_url" |
/// "dropped", ...}`).
async fn send_message(
    State(shared): State<Arc<Shared>>,
    Json(body): Json<MessageBody>,
) -> Response {
    match shared.send_message(&body.from, &body.to, &body.body).await {
        Ok(outcome) => Json(outcome).into_response(),
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}

async fn deliveries(State(shared): State<Arc<Shared>>) -> Response {
    Json(lock(&shared.state).outbound_texts.clone()).into_response()
}
