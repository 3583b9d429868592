//! `POST /conversation-events`: Twilio's Conversations post-event webhook.
//! A session Twilio closed (its timer) is cleaned up as an API close is:
//! deleted (unless configured to keep it), its index entries, call log and
//! recordings removed, so it stops holding pool numbers and personal data.
//! (A REST close fires no webhook: the API cleans up itself.)
//!
//! The webhook is account- or service-wide: it also reports other apps'
//! conversations, which are left alone (200, nothing done).
//!
//! As a pre-event webhook (`onMessageAdd`) it refuses (403) a message in a
//! voice-only session, which Twilio then does not publish or relay; then,
//! when an intercept is configured, the operator's backend decides: block
//! (403), rewrite (200 with the new `body`) or allow (200, empty).

use std::sync::LazyLock;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};

use crate::app::AppState;
use crate::config::{Config, Function};
use crate::domain::added_message::AddedMessage;
use crate::domain::intercept::{Kind, Party, Question, Verdict};
use crate::domain::sid::{Sid, SidKind};
use crate::http::route::{Route, Router};
use crate::http::webhook::{verified_params, WebhookParams};
use crate::http::{response, serve, Invocation};
use crate::intercept;
use crate::session::message_gate::MessageGate;
use crate::session::Sessions;
use crate::twilio::ConversationState;

/// Where Twilio sends this webhook (`make twilio-setup` points it here).
pub const PATH: &str = "/conversation-events";

/// The seed app's path for this webhook, still answered.
pub const SEED_PATH: &str = "/conversations-post-event";

pub static ROUTES: &[Route<()>] = &[
    Route::new("POST", PATH, ()),
    Route::new("POST", SEED_PATH, ()),
];

fn router() -> &'static Router<()> {
    static ROUTER: LazyLock<Router<()>> = LazyLock::new(|| Router::new(ROUTES));
    &ROUTER
}

pub async fn handle(state: &AppState, req: Request) -> Response<Body> {
    let miss = router().find(req.method(), req.uri().path()).err();
    serve(
        req,
        &state.metrics,
        Function::ConversationEvents,
        PATH,
        async |req, invocation| {
            if let Some(miss) = miss {
                return miss.into_text_response();
            }
            match answer(state, &req, invocation).await {
                // A pre-event's 200 must be empty (or JSON that changes the message).
                Answer::Proceed => response::empty(StatusCode::OK),
                // Twilio publishes the message with this body instead.
                Answer::Rewrite(body) => {
                    response::json(StatusCode::OK, &serde_json::json!({ "body": body }))
                }
                Answer::Status(status) => {
                    response::text(status, status.canonical_reason().unwrap_or_default())
                }
            }
        },
    )
    .await
}

enum Answer {
    /// A pre-event let through.
    Proceed,
    /// A pre-event let through with the intercept's body.
    Rewrite(String),
    Status(StatusCode),
}

impl From<StatusCode> for Answer {
    fn from(status: StatusCode) -> Self {
        Answer::Status(status)
    }
}

/// Whether the event says the conversation is now closed.
fn closes_conversation(params: &WebhookParams) -> bool {
    let state =
        |text: Option<&str>| text.map(ConversationState::parse) == Some(ConversationState::Closed);
    match params.get("EventType") {
        Some("onConversationStateUpdated") => state(params.get("StateTo")),
        Some("onConversationUpdated") => state(params.get("State")),
        _ => false,
    }
}

async fn answer(state: &AppState, req: &Request, invocation: &Invocation) -> Answer {
    if req.method() != Method::POST {
        return StatusCode::METHOD_NOT_ALLOWED.into();
    }
    // Without configuration (the store logged why), Twilio is told to retry.
    let Ok(config) = state.config.current().await else {
        return StatusCode::SERVICE_UNAVAILABLE.into();
    };
    let Ok(credentials) = config.twilio() else {
        return StatusCode::SERVICE_UNAVAILABLE.into();
    };
    let params = match verified_params(req, credentials, config.public_base_url.as_ref()) {
        Ok(params) => params,
        Err(err) => {
            tracing::warn!(error = %err, "refused a conversation event that Twilio did not sign");
            return StatusCode::FORBIDDEN.into();
        }
    };
    let adds_message = params.get("EventType") == Some("onMessageAdd");
    // onMessageAdded: logged and told as `message.added` (session::messages).
    let added = (params.get("EventType") == Some("onMessageAdded"))
        .then(|| AddedMessage::from_event(|name| params.get(name)))
        .flatten();
    if !adds_message && added.is_none() && !closes_conversation(&params) {
        return StatusCode::OK.into();
    }
    let Some(sid) = params
        .get("ConversationSid")
        .filter(|s| Sid::parse(s, SidKind::Conversation).is_some())
    else {
        return StatusCode::BAD_REQUEST.into();
    };
    invocation.set_session(sid);
    let twilio = state
        .twilio
        .session(credentials, state.budget, invocation.metrics());
    let sessions = state.sessions(&twilio, &config, invocation);
    if let Some(added) = &added {
        sessions.message_added(sid, added).await;
        return StatusCode::OK.into();
    }
    if adds_message {
        return message_add(&sessions, &config, &params, sid, invocation).await;
    }
    // Twilio's Reason: API, TIMER or EVENT.
    let reason = params
        .get("Reason")
        .unwrap_or("closed")
        .to_ascii_lowercase();
    match sessions.after_closed(sid, &reason).await {
        Ok(_) => StatusCode::OK.into(),
        Err(err) => {
            tracing::error!(session = sid, error = %err, "could not clean up a closed session");
            StatusCode::SERVICE_UNAVAILABLE.into()
        }
    }
}

/// The `onMessageAdd` pre-event: the voice-only rule, then the intercept.
async fn message_add(
    sessions: &Sessions<'_>,
    config: &Config,
    params: &WebhookParams,
    sid: &str,
    invocation: &Invocation,
) -> Answer {
    let roster = match sessions.message_gate(sid).await {
        Ok(MessageGate::NotOurs) => return Answer::Proceed,
        // Voice-only: Twilio publishes nothing a pre-event refuses.
        Ok(MessageGate::Session {
            takes_messages: false,
            ..
        }) => return StatusCode::FORBIDDEN.into(),
        Ok(MessageGate::Session { roster, .. }) => roster,
        Err(err) => {
            // Twilio publishes a message whose pre-event fails to answer
            // in time, but not one refused with 5xx: let it through.
            tracing::warn!(session = sid, error = %err, "could not read a session's capabilities; letting the message through");
            return Answer::Proceed;
        }
    };
    if config.intercept.is_none() {
        return Answer::Proceed;
    }
    let roster = match roster {
        Some(roster) => roster,
        None => match sessions.roster_from_participants(sid).await {
            Ok(roster) => roster,
            Err(err) => {
                tracing::warn!(session = sid, error = %err, "could not read a session's participants for the intercept");
                Vec::new()
            }
        },
    };
    let author = params.get("Author").unwrap_or_default();
    let body = params.get("Body").unwrap_or_default();
    let media = params
        .get("Media")
        .and_then(|m| serde_json::from_str::<serde_json::Value>(m).ok());
    let question = Question {
        kind: Kind::Message,
        session: sid,
        from: roster
            .iter()
            .find(|e| e.address == author)
            .map(Party::from)
            .unwrap_or(Party {
                participant: author,
                proxy: None,
            }),
        to: roster
            .iter()
            .filter(|e| e.address != author)
            .map(Party::from)
            .collect(),
        body: Some(body),
        media,
    };
    let id = format!("im_{:032x}", rand::random::<u128>());
    match intercept::ask(
        config,
        sessions.deferred(),
        invocation.metrics(),
        &question,
        &id,
    )
    .await
    {
        None | Some(Verdict::Allow) => Answer::Proceed,
        Some(Verdict::Rewrite(body)) => Answer::Rewrite(body),
        Some(Verdict::Block { .. }) => StatusCode::FORBIDDEN.into(),
    }
}
