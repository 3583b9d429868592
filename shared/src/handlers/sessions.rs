//! The session API, behind operator basic auth:
//! `POST /sessions` creates, `GET /sessions?address=` lists a participant's
//! sessions, `GET /sessions/{sid}` reads one, `DELETE /sessions/{sid}` closes one.

use std::time::Duration;

use futures_util::future::try_join;
use lambda_http::http::{HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, Response};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::app::AppState;
use crate::config::Config;
use crate::domain::address::{split_channel, Address};
use crate::domain::roster::{user_attributes, SessionRecord};
use crate::domain::session::{
    is_sid, NewSession, SessionRequest, SessionRequestForm, SessionRequestJson,
};
use crate::http::body::{self, BodyKind};
use crate::http::{auth, origin, response, serve, ApiError, Invocation};
use crate::provision::{provision, CreateRequest, ProvisionError, Provisioned, Session};
use crate::twilio::{
    code, Conversation, ConversationParams, ParticipantConversation, Twilio, TwilioError,
};

const ACCEPTED_BODIES: &str = "application/json or application/x-www-form-urlencoded";
const IDEMPOTENCY_KEY: &str = "idempotency-key";
const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;
const DEFAULT_PAGE_SIZE: usize = 20;
const MAX_PAGE_SIZE: usize = 50;

/// Handles one request to the session API.
pub async fn handle(state: &AppState, req: Request) -> Response<Body> {
    serve(req, "/sessions", async |req, invocation| {
        route(state, &req, invocation)
            .await
            .unwrap_or_else(ApiError::into_response)
    })
    .await
}

async fn route(
    state: &AppState,
    req: &Request,
    invocation: &Invocation,
) -> Result<Response<Body>, ApiError> {
    let config = state.config.current().await?;
    // Before the password is even looked at: another site's page must not
    // be able to use the operator's remembered login.
    origin::refuse_cross_site(req, config.public_base_url.as_ref())?;
    auth::require_operator(req, config.operator()?)?;
    let segments: Vec<&str> = req.uri().path().trim_matches('/').split('/').collect();
    let twilio = state
        .twilio
        .session(config.twilio()?, state.budget, invocation.twilio_requests());
    match (req.method(), segments.as_slice()) {
        (&Method::POST, ["sessions"]) => {
            create(&twilio, &config, req, state.create_window, invocation).await
        }
        (&Method::GET, ["sessions"]) => list(&twilio, req).await,
        (_, ["sessions"]) => Err(ApiError::MethodNotAllowed { allow: "GET, POST" }),
        (method, ["sessions", sid]) => {
            invocation.set_route("/sessions/{sid}");
            let sid = session_sid(sid)?;
            invocation.set_session(sid);
            match *method {
                Method::GET => read(&twilio, sid).await,
                Method::DELETE => close(&twilio, sid).await,
                _ => Err(ApiError::MethodNotAllowed {
                    allow: "GET, DELETE",
                }),
            }
        }
        _ => Err(ApiError::NotFound("no such route".into())),
    }
}

fn session_sid(text: &str) -> Result<&str, ApiError> {
    if is_sid(text, "CH") {
        Ok(text)
    } else {
        Err(ApiError::invalid(
            "sid",
            "must be CH followed by 32 hex digits",
        ))
    }
}

async fn create(
    twilio: &Twilio<'_>,
    config: &Config,
    req: &Request,
    create_window: Duration,
    invocation: &Invocation,
) -> Result<Response<Body>, ApiError> {
    let bytes = body::bytes(req)?;
    let request: SessionRequest = match body::kind(req, ACCEPTED_BODIES)? {
        BodyKind::Json => body::json::<SessionRequestJson>(bytes)?.into(),
        BodyKind::Form => body::form::<SessionRequestForm>(bytes)?.try_into()?,
    };
    let session = request.validate(&config.pools(), &config.session)?;
    let identity = create_request(req, &session, create_window)?;

    let provisioned = provision(twilio, config, &session, &identity)
        .await
        .map_err(|e| match e {
            ProvisionError::PoolExhausted { address } => ApiError::PoolExhausted { address },
            ProvisionError::UniqueNameTaken => ApiError::Conflict {
                code: "unique_name_taken",
                message: "uniqueName is already used by another conversation".into(),
            },
            ProvisionError::IdempotencyConflict => ApiError::Conflict {
                code: "idempotency_conflict",
                message: "this Idempotency-Key was used with a different request body".into(),
            },
            ProvisionError::IdempotencyInProgress { retry_after } => ApiError::InProgress {
                retry_after_secs: retry_after.as_secs().max(1),
            },
            ProvisionError::Twilio(e) => e.into(),
            ProvisionError::Configuration(e) => e.into(),
        })?;
    let (session, replayed) = match provisioned {
        Provisioned::Created(s) => (s, false),
        Provisioned::Replayed(s) => (s, true),
    };
    invocation.set_session(&session.conversation.sid);
    let mut response = response::json(StatusCode::CREATED, &session);
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// The request's identity: a fresh nonce, or, with an `Idempotency-Key`, a
/// unique name derived from the key and a fingerprint of the request.
fn create_request(
    req: &Request,
    session: &NewSession,
    may_still_run: Duration,
) -> Result<CreateRequest, ApiError> {
    let Some(key) = req.headers().get(IDEMPOTENCY_KEY) else {
        let mut nonce = [0u8; 16];
        rand::rng().fill_bytes(&mut nonce);
        return Ok(CreateRequest {
            id: hex::encode(nonce),
            idempotent_name: None,
            started: unix_now(),
            may_still_run,
        });
    };
    let key = key
        .to_str()
        .ok()
        .filter(|k| {
            !k.is_empty()
                && k.len() <= MAX_IDEMPOTENCY_KEY_CHARS
                && k.bytes().all(|b| b.is_ascii_graphic())
        })
        .ok_or_else(|| {
            ApiError::invalid(
                "Idempotency-Key",
                format!("must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} visible ASCII characters"),
            )
        })?;
    if session.unique_name.is_some() {
        return Err(ApiError::invalid(
            "uniqueName",
            "cannot be combined with Idempotency-Key, which sets the unique name",
        ));
    }
    let name = hex::encode(&Sha256::digest(key.as_bytes())[..16]);
    Ok(CreateRequest {
        id: fingerprint(session),
        idempotent_name: Some(format!("mc-idem-{name}")),
        started: unix_now(),
        may_still_run,
    })
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A digest of everything the request asks for, to tell a retry from a
/// different request that reuses the key.
fn fingerprint(session: &NewSession) -> String {
    let canonical = json!({
        "addresses": session.participants.iter().map(Address::to_string).collect::<Vec<_>>(),
        "friendlyName": session.friendly_name,
        "attributes": session.attributes,
        "messagingServiceSid": session.messaging_service_sid,
        "timers": [
            session.timers.inactive.as_ref().map(|t| t.as_str()),
            session.timers.closed.as_ref().map(|t| t.as_str()),
        ],
    });
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

async fn read(twilio: &Twilio<'_>, sid: &str) -> Result<Response<Body>, ApiError> {
    let (conversation, participants) =
        try_join(twilio.fetch_conversation(sid), twilio.participants(sid))
            .await
            .map_err(|e| not_found_or(e, sid))?;
    if !is_ours(&conversation) {
        return Err(no_session(sid));
    }
    Ok(response::json(
        StatusCode::OK,
        &Session {
            conversation,
            participants,
        },
    ))
}

async fn close(twilio: &Twilio<'_>, sid: &str) -> Result<Response<Body>, ApiError> {
    let conversation = twilio
        .fetch_conversation(sid)
        .await
        .map_err(|e| not_found_or(e, sid))?;
    if !is_ours(&conversation) {
        return Err(no_session(sid));
    }
    let closing = ConversationParams {
        state: Some("closed"),
        ..Default::default()
    };
    match twilio.update_conversation(sid, &closing).await {
        Ok(_) => Ok(response::empty(StatusCode::NO_CONTENT)),
        // Closed is final, so closing twice is the same as closing once.
        Err(e) if e.is_code(code::CONVERSATION_CLOSED) => {
            Ok(response::empty(StatusCode::NO_CONTENT))
        }
        Err(e) => Err(not_found_or(e, sid)),
    }
}

fn not_found_or(err: TwilioError, sid: &str) -> ApiError {
    if err.is_not_found() {
        no_session(sid)
    } else {
        err.into()
    }
}

fn no_session(sid: &str) -> ApiError {
    ApiError::NotFound(format!("no session {sid}"))
}

/// Whether masked-comms made this conversation: other apps in the same
/// Twilio account have conversations too, and those are not sessions.
fn is_ours(conversation: &Conversation) -> bool {
    SessionRecord::read(&conversation.attributes).is_some()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ListQuery {
    address: Option<String>,
    state: Option<String>,
    page_size: Option<String>,
    next: Option<String>,
}

/// A session in a participant's list, from what `ParticipantConversations`
/// returns (the roster supplies the other participants without more requests).
#[derive(Debug, Serialize)]
struct SessionSummary<'a> {
    sid: &'a str,
    unique_name: Option<&'a str>,
    friendly_name: Option<&'a str>,
    state: &'a crate::twilio::ConversationState,
    attributes: String,
    timers: &'a Option<Value>,
    date_created: Option<&'a str>,
    date_updated: Option<&'a str>,
    participants: Vec<Value>,
}

async fn list(twilio: &Twilio<'_>, req: &Request) -> Result<Response<Body>, ApiError> {
    let query: ListQuery =
        serde_html_form::from_str(req.uri().query().unwrap_or("")).map_err(|e| {
            ApiError::invalid(
                "query",
                format!("is not valid: {}", body::data_problem(&e.to_string())),
            )
        })?;
    let address = query.address.ok_or_else(|| {
        ApiError::invalid(
            "address",
            "is required: the participant whose sessions to list",
        )
    })?;
    let address =
        Address::parse(&address).map_err(|e| ApiError::invalid("address", e.to_string()))?;
    let include_closed = match query.state.as_deref() {
        None | Some("open") => false,
        Some("all") => true,
        Some(_) => {
            return Err(ApiError::invalid(
                "state",
                "must be `open` (default) or `all`",
            ))
        }
    };
    let page_size = match query.page_size {
        None => DEFAULT_PAGE_SIZE,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
            .ok_or_else(|| {
                ApiError::invalid(
                    "pageSize",
                    format!("must be a number from 1 to {MAX_PAGE_SIZE}"),
                )
            })?,
    };
    let offset = match query.next {
        None => 0,
        Some(cursor) => decode_cursor(&cursor)
            .ok_or_else(|| ApiError::invalid("next", "is not a cursor this API issued"))?,
    };

    let mut conversations = twilio
        .participant_conversations(&address.to_string())
        .await?;
    // Only sessions: the address may be in other apps' conversations too.
    conversations.retain(|c| {
        (include_closed || c.conversation_state.holds_bindings())
            && c.conversation_attributes
                .as_deref()
                .and_then(SessionRecord::read)
                .is_some()
    });
    // Newest first; the sid breaks ties so pages are stable.
    conversations.sort_by(|a, b| {
        b.conversation_date_created
            .cmp(&a.conversation_date_created)
            .then_with(|| a.conversation_sid.cmp(&b.conversation_sid))
    });
    let page: Vec<SessionSummary> = conversations
        .iter()
        .skip(offset)
        .take(page_size)
        .map(summary)
        .collect();
    let end = offset + page.len();
    let next = (end < conversations.len()).then(|| encode_cursor(end));
    Ok(response::json(
        StatusCode::OK,
        &json!({ "sessions": page, "next": next }),
    ))
}

fn summary(c: &ParticipantConversation) -> SessionSummary<'_> {
    let attributes = c.conversation_attributes.as_deref().unwrap_or("{}");
    let binding = |address: &str, proxy: &str| {
        json!({ "messaging_binding": {
            "type": split_channel(address).0.as_str(),
            "address": address,
            "proxy_address": proxy,
        }})
    };
    let participants = match SessionRecord::read(attributes).and_then(|r| r.roster) {
        Some(roster) => roster
            .iter()
            .map(|e| binding(&e.address, &e.proxy))
            .collect(),
        None => c
            .participant_messaging_binding
            .iter()
            .filter_map(|b| Some(binding(b.address.as_deref()?, b.proxy_address.as_deref()?)))
            .collect(),
    };
    SessionSummary {
        sid: &c.conversation_sid,
        unique_name: c.conversation_unique_name.as_deref(),
        friendly_name: c.conversation_friendly_name.as_deref(),
        state: &c.conversation_state,
        attributes: Value::Object(user_attributes(attributes)).to_string(),
        timers: &c.conversation_timers,
        date_created: c.conversation_date_created.as_deref(),
        date_updated: c.conversation_date_updated.as_deref(),
        participants,
    }
}

/// Cursors are opaque to clients: an offset, encoded.
fn encode_cursor(offset: usize) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("o{offset}"))
}

fn decode_cursor(cursor: &str) -> Option<usize> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()?;
    std::str::from_utf8(&bytes)
        .ok()?
        .strip_prefix('o')?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_foreign_text() {
        assert_eq!(decode_cursor(&encode_cursor(40)), Some(40));
        for bad in ["", "40", "!!", "bzQw=", &base64_of("x40")] {
            assert_eq!(decode_cursor(bad), None, "{bad}");
        }
    }

    fn base64_of(text: &str) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
    }
}
