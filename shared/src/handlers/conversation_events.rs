//! `POST /conversation-events`: Twilio's Conversations post-event webhook.
//! A closed session is deleted (unless configured to keep it) and its index
//! entries removed, so it stops holding pool numbers and personal data.
//!
//! The webhook is account- or service-wide: it also reports other apps'
//! conversations, which are left alone (200, nothing done).

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};

use crate::app::AppState;
use crate::config::ClosedConversations;
use crate::domain::sid::{Sid, SidKind};
use crate::http::webhook::{verified_params, WebhookParams};
use crate::http::{response, serve, Invocation};
use crate::twilio::ConversationState;

pub async fn handle(state: &AppState, req: Request) -> Response<Body> {
    serve(req, "/conversation-events", async |req, invocation| {
        let status = answer(state, &req, invocation).await;
        response::text(status, status.canonical_reason().unwrap_or_default())
    })
    .await
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

async fn answer(state: &AppState, req: &Request, invocation: &Invocation) -> StatusCode {
    if req.method() != Method::POST {
        return StatusCode::METHOD_NOT_ALLOWED;
    }
    // Without configuration (the store logged why), Twilio is told to retry.
    let Ok(config) = state.config.current().await else {
        return StatusCode::SERVICE_UNAVAILABLE;
    };
    let Ok(credentials) = config.twilio() else {
        return StatusCode::SERVICE_UNAVAILABLE;
    };
    let params = match verified_params(req, credentials, config.public_base_url.as_ref()) {
        Ok(params) => params,
        Err(err) => {
            tracing::warn!(error = %err, "refused a conversation event that Twilio did not sign");
            return StatusCode::FORBIDDEN;
        }
    };
    if !closes_conversation(&params) {
        return StatusCode::OK;
    }
    let Some(sid) = params
        .get("ConversationSid")
        .filter(|s| Sid::parse(s, SidKind::Conversation).is_some())
    else {
        return StatusCode::BAD_REQUEST;
    };
    invocation.set_session(sid);
    let twilio = state
        .twilio
        .session(credentials, state.budget, invocation.twilio_requests());
    let sessions = state.sessions(&twilio, &config, invocation);
    let keep = config.closed_conversations == ClosedConversations::Keep;
    // Twilio's Reason: API, TIMER or EVENT.
    let reason = params
        .get("Reason")
        .unwrap_or("closed")
        .to_ascii_lowercase();
    match sessions.after_closed(sid, keep, &reason).await {
        Ok(_) => StatusCode::OK,
        Err(err) => {
            tracing::error!(session = sid, error = %err, "could not clean up a closed session");
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}
