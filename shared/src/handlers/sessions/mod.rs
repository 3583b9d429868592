//! The session API, behind operator basic auth:
//! `POST /sessions` creates, `GET /sessions?address=` lists a participant's
//! sessions, `GET /sessions/{sid}` reads one, `DELETE /sessions/{sid}` closes one,
//! `POST /sessions/{sid}/messages` sends a message into one ([`messages`]).

mod messages;

use std::sync::LazyLock;
use std::time::Duration;

use futures_util::future::join;
use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::{Body, Request, Response};
use rand::RngCore;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::app::AppState;
use crate::config::{Config, Function};
use crate::domain::address::Address;
use crate::domain::session::{validate_participant, NewSession, SessionRequest, UpdateRequest};
use crate::domain::sid::{Sid, SidKind};
use crate::http::body::{self, BodyKind};
use crate::http::route::{Route, Router};
use crate::http::{auth, origin, response, serve, ApiError, Invocation};
use crate::index::cursor_belongs_to;
use crate::session::lookup::{Cursor, Listing};
use crate::session::{CreateRequest, Created, Session, SessionError, Sessions};

pub use crate::session::request;

use request::{ParticipantRequest, SessionRequestForm, SessionRequestJson, UpdateJson};

const ACCEPTED_BODIES: &str = "application/json or application/x-www-form-urlencoded";
const JSON_BODIES: &str = "application/json or application/merge-patch+json";
const IDEMPOTENCY_KEY: &str = "idempotency-key";
const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;
const DEFAULT_PAGE_SIZE: usize = 20;
const MAX_PAGE_SIZE: usize = 50;

/// The session API's routes, by what each does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Create,
    List,
    /// A route below `/sessions/{sid}`.
    Session(OnSession),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnSession {
    Read,
    Update,
    Close,
    AddParticipant,
    RemoveParticipant,
    Interactions,
    SendMessage,
}

pub static ROUTES: &[Route<Api>] = &[
    Route::new("GET", "/sessions", Api::List),
    Route::new("POST", "/sessions", Api::Create),
    Route::new("GET", "/sessions/{sid}", Api::Session(OnSession::Read)),
    Route::new("PATCH", "/sessions/{sid}", Api::Session(OnSession::Update)),
    Route::new("DELETE", "/sessions/{sid}", Api::Session(OnSession::Close)),
    Route::new(
        "POST",
        "/sessions/{sid}/participants",
        Api::Session(OnSession::AddParticipant),
    ),
    Route::new(
        "DELETE",
        "/sessions/{sid}/participants/{participantSid}",
        Api::Session(OnSession::RemoveParticipant),
    ),
    Route::new(
        "GET",
        "/sessions/{sid}/interactions",
        Api::Session(OnSession::Interactions),
    ),
    Route::new(
        "POST",
        "/sessions/{sid}/messages",
        Api::Session(OnSession::SendMessage),
    ),
];

fn router() -> &'static Router<Api> {
    static ROUTER: LazyLock<Router<Api>> = LazyLock::new(|| Router::new(ROUTES));
    &ROUTER
}

/// Handles one request to the session API.
pub async fn handle(state: &AppState, req: Request) -> Response<Body> {
    serve(
        req,
        &state.metrics,
        Function::Sessions,
        "/sessions",
        async |req, invocation| {
            route(state, &req, invocation)
                .await
                .unwrap_or_else(ApiError::into_response)
        },
    )
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
    let found = router().find(req.method(), req.uri().path())?;
    let twilio = state.twilio_for(&config, invocation)?;
    let sessions = state.sessions(&twilio, &config, invocation);
    invocation.set_route(found.route.path);
    match found.route.name {
        Api::Create => create(&sessions, &config, req, state.create_window, invocation).await,
        Api::List => list(&sessions, req).await,
        Api::Session(on) => {
            let sid = session_sid(found.param("sid"))?;
            invocation.set_session(sid);
            on_session(
                on,
                &sessions,
                &config,
                req,
                sid,
                found.param("participantSid"),
            )
            .await
        }
    }
}

/// A route below `/sessions/{sid}`; `participant` is the path's
/// `{participantSid}`, where it has one.
async fn on_session(
    on: OnSession,
    sessions: &Sessions<'_>,
    config: &Config,
    req: &Request,
    sid: &str,
    participant: &str,
) -> Result<Response<Body>, ApiError> {
    let no_session = |e: SessionError| match e {
        SessionError::NotFound => ApiError::NotFound(format!("no session {sid}")),
        other => other.into(),
    };
    match on {
        OnSession::Read => read(sessions, sid).await.map_err(no_session),
        OnSession::Close => sessions
            .close(sid)
            .await
            .map(|()| response::empty(StatusCode::NO_CONTENT))
            .map_err(no_session),
        OnSession::Update => update(sessions, req, sid).await?.map_err(no_session),
        OnSession::AddParticipant => add_participant(sessions, config, req, sid)
            .await?
            .map_err(no_session),
        OnSession::RemoveParticipant => sessions
            .remove_participant(sid, participant_sid(participant)?)
            .await
            .map(|()| response::empty(StatusCode::NO_CONTENT))
            .map_err(no_session),
        OnSession::Interactions => interactions(sessions, req, sid).await,
        OnSession::SendMessage => messages::send(sessions, req, sid)
            .await?
            .map_err(no_session),
    }
}

fn participant_sid(text: &str) -> Result<&str, ApiError> {
    if Sid::parse(text, SidKind::Participant).is_some() {
        Ok(text)
    } else {
        Err(ApiError::invalid(
            "participantSid",
            "must be MB followed by 32 hex digits",
        ))
    }
}

/// `PATCH /sessions/{sid}`: the outer error is the request's own (its
/// body), the inner one the service's.
async fn update(
    sessions: &Sessions<'_>,
    req: &Request,
    sid: &str,
) -> Result<Result<Response<Body>, SessionError>, ApiError> {
    let bytes = body::bytes(req)?;
    if !body::is_json_patch(req) {
        return Err(ApiError::UnsupportedMediaType {
            accepted: JSON_BODIES,
        });
    }
    let update = UpdateRequest::from(body::json::<UpdateJson>(bytes)?).validate()?;
    Ok(sessions
        .update(sid, update)
        .await
        .map(|session| response::json(StatusCode::OK, &session)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PageQuery {
    page_size: Option<String>,
    next: Option<String>,
}

/// `GET /sessions/{sid}/interactions`: the session's calls, newest first.
async fn interactions(
    sessions: &Sessions<'_>,
    req: &Request,
    sid: &str,
) -> Result<Response<Body>, ApiError> {
    let query: PageQuery =
        serde_html_form::from_str(req.uri().query().unwrap_or("")).map_err(|e| {
            ApiError::invalid(
                "query",
                format!("is not valid: {}", body::data_problem(&e.to_string())),
            )
        })?;
    let page_size = page_size(query.page_size)?;
    let page = sessions
        .interactions(sid, page_size, query.next.as_deref())
        .await
        .map_err(|e| match e {
            SessionError::NotFound => ApiError::NotFound(format!("no session {sid}")),
            other => other.into(),
        })?;
    Ok(response::json(
        StatusCode::OK,
        &json!({ "interactions": page.0, "next": page.1 }),
    ))
}

fn page_size(text: Option<String>) -> Result<usize, ApiError> {
    match text {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
            .ok_or_else(|| {
                ApiError::invalid(
                    "pageSize",
                    format!("must be a number from 1 to {MAX_PAGE_SIZE}"),
                )
            }),
    }
}

/// `POST /sessions/{sid}/participants`.
async fn add_participant(
    sessions: &Sessions<'_>,
    config: &Config,
    req: &Request,
    sid: &str,
) -> Result<Result<Response<Body>, SessionError>, ApiError> {
    let bytes = body::bytes(req)?;
    let request: ParticipantRequest = match body::kind(req, ACCEPTED_BODIES)? {
        BodyKind::Json => body::json(bytes)?,
        BodyKind::Form => body::form(bytes)?,
    };
    let address = request
        .address
        .ok_or_else(|| ApiError::invalid("address", "is required: the participant to add"))?;
    let participant = validate_participant(&address, &config.pools())?;
    Ok(sessions
        .add_participant(sid, &participant)
        .await
        .map(|added| response::json(StatusCode::CREATED, &added)))
}

fn session_sid(text: &str) -> Result<&str, ApiError> {
    if Sid::parse(text, SidKind::Conversation).is_some() {
        Ok(text)
    } else {
        Err(ApiError::invalid(
            "sid",
            "must be CH followed by 32 hex digits",
        ))
    }
}

async fn create(
    sessions: &Sessions<'_>,
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

    let (session, replayed) = match sessions.create(&session, &identity).await? {
        Created::New(s) => (s, false),
        Created::Replayed(s) => (s, true),
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
            started: crate::domain::instant::unix_now(),
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
        started: crate::domain::instant::unix_now(),
        may_still_run,
    })
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
        "capabilities": session.capabilities,
        "record": session.record,
    });
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

async fn read(sessions: &Sessions<'_>, sid: &str) -> Result<Response<Body>, SessionError> {
    // Both at once; the conversation's answer decides first, so a session
    // that does not exist is 404 whichever request Twilio answered first.
    let (conversation, participants) = join(
        sessions.fetch_session(sid),
        sessions.twilio().participants(sid),
    )
    .await;
    let conversation = conversation?;
    let participants = participants?;
    Ok(response::json(
        StatusCode::OK,
        &Session::new(conversation, participants),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ListQuery {
    address: Option<String>,
    state: Option<String>,
    page_size: Option<String>,
    next: Option<String>,
}

async fn list(sessions: &Sessions<'_>, req: &Request) -> Result<Response<Body>, ApiError> {
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
    let address = address.to_string();
    let listing = match query.state.as_deref() {
        None | Some("open") => Listing::Open,
        Some("all") => Listing::All,
        Some(_) => {
            return Err(ApiError::invalid(
                "state",
                "must be `open` (default) or `all`",
            ))
        }
    };
    let page_size = page_size(query.page_size)?;
    let from_index = sessions.index().is_some() && listing == Listing::Open;
    let cursor = match query.next {
        None => None,
        Some(text) => Some(
            decode_cursor(&text, &address, from_index)
                .ok_or_else(|| ApiError::invalid("next", "is not a cursor this API issued"))?,
        ),
    };
    let page = sessions.list(&address, listing, page_size, cursor).await?;
    let next = page.next.map(|cursor| match cursor {
        Cursor::Index(text) => format!("i{text}"),
        Cursor::Offset(offset) => encode_offset(offset),
    });
    Ok(response::json(
        StatusCode::OK,
        &json!({ "sessions": page.sessions, "next": next }),
    ))
}

/// Cursors are opaque to clients: the index's position (prefixed `i`), or
/// an offset into Twilio's list, encoded.
fn encode_offset(offset: usize) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("o{offset}"))
}

fn decode_cursor(text: &str, address: &str, from_index: bool) -> Option<Cursor> {
    use base64::Engine;
    if from_index {
        let position = text.strip_prefix('i')?;
        return cursor_belongs_to(position, address).then(|| Cursor::Index(position.to_owned()));
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()?;
    std::str::from_utf8(&bytes)
        .ok()?
        .strip_prefix('o')?
        .parse()
        .ok()
        .map(Cursor::Offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_cursors_round_trip_and_reject_foreign_text() {
        assert_eq!(
            decode_cursor(&encode_offset(40), "+14155550101", false),
            Some(Cursor::Offset(40))
        );
        for bad in ["", "40", "!!", "bzQw=", &base64_of("x40")] {
            assert_eq!(decode_cursor(bad, "+14155550101", false), None, "{bad}");
        }
        assert_eq!(
            decode_cursor(&encode_offset(40), "+14155550101", true),
            None
        );
    }

    fn base64_of(text: &str) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
    }
}
