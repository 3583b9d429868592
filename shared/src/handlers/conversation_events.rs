//! `POST /conversation-events`: Twilio's Conversations post-event webhook.
//! A closed conversation is deleted (unless configured to keep it), so it
//! stops holding pool numbers and personal data.

use std::time::Instant;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};

use crate::app::AppState;
use crate::config::ClosedConversations;
use crate::domain::session::is_sid;
use crate::http::response;
use crate::http::webhook::{verified_params, WebhookParams};
use crate::logging;

pub async fn handle(state: &AppState, req: Request) -> Response<Body> {
    let started = Instant::now();
    let mut twilio_requests = 0;
    let mut session = None;
    let status = answer(state, &req, &mut twilio_requests, &mut session).await;
    logging::request_done(
        "/conversation-events",
        status.as_u16(),
        started,
        twilio_requests,
        session.as_deref(),
    );
    response::text(status, status.canonical_reason().unwrap_or_default())
}

/// Whether the event says the conversation is now closed.
fn closes_conversation(params: &WebhookParams) -> bool {
    match params.get("EventType") {
        Some("onConversationStateUpdated") => params.get("StateTo") == Some("closed"),
        Some("onConversationUpdated") => params.get("State") == Some("closed"),
        _ => false,
    }
}

async fn answer(
    state: &AppState,
    req: &Request,
    twilio_requests: &mut usize,
    session: &mut Option<String>,
) -> StatusCode {
    if req.method() != Method::POST {
        return StatusCode::METHOD_NOT_ALLOWED;
    }
    let config = match state.config.current().await {
        Ok(config) => config,
        Err(err) => {
            tracing::error!(error = %err, "cannot handle events without configuration");
            return StatusCode::SERVICE_UNAVAILABLE;
        }
    };
    let params = match verified_params(req, &config) {
        Ok(params) => params,
        Err(err) => {
            tracing::warn!(error = %err, "refused a conversation event that Twilio did not sign");
            return StatusCode::FORBIDDEN;
        }
    };
    if !closes_conversation(&params) {
        return StatusCode::OK;
    }
    let Some(sid) = params.get("ConversationSid").filter(|s| is_sid(s, "CH")) else {
        return StatusCode::BAD_REQUEST;
    };
    *session = Some(sid.to_owned());
    if config.closed_conversations == ClosedConversations::Keep {
        return StatusCode::OK;
    }
    let twilio = state.twilio.session(&config.twilio, state.budget);
    let result = twilio.delete_conversation(sid).await;
    *twilio_requests = twilio.request_count();
    match result {
        Ok(()) => StatusCode::OK,
        Err(err) => {
            tracing::error!(session = sid, error = %err, "could not delete a closed conversation");
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}
