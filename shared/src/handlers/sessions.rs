//! The session API: `POST /sessions` creates a masked session.

use std::time::Instant;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use rand::RngCore;

use crate::app::AppState;
use crate::domain::session::{SessionRequest, SessionRequestForm, SessionRequestJson};
use crate::http::body::{self, BodyKind};
use crate::http::{auth, response, ApiError};
use crate::logging;
use crate::provision::{provision, CreatedSession, ProvisionError};

const ACCEPTED_BODIES: &str = "application/json or application/x-www-form-urlencoded";

/// Handles one request to the session API.
pub async fn handle(state: &AppState, req: Request) -> Response<Body> {
    let started = Instant::now();
    let mut outcome = Outcome::default();
    let response = match route(state, &req, &mut outcome).await {
        Ok(response) => response,
        Err(err) => err.into_response(),
    };
    logging::request_done(
        "/sessions",
        response.status().as_u16(),
        started,
        outcome.twilio_requests,
        outcome.session.as_deref(),
    );
    response
}

/// What the request log line reports beyond the status.
#[derive(Default)]
struct Outcome {
    twilio_requests: usize,
    session: Option<String>,
}

async fn route(
    state: &AppState,
    req: &Request,
    outcome: &mut Outcome,
) -> Result<Response<Body>, ApiError> {
    let path = req.uri().path().trim_end_matches('/');
    if path != "/sessions" {
        return Err(ApiError::NotFound(format!("no route {path}")));
    }
    if req.method() != Method::POST {
        return Err(ApiError::MethodNotAllowed { allow: "POST" });
    }
    create(state, req, outcome).await
}

async fn create(
    state: &AppState,
    req: &Request,
    outcome: &mut Outcome,
) -> Result<Response<Body>, ApiError> {
    let config = state.config.current().await?;
    auth::require_operator(req, &config.operator)?;
    let bytes = body::bytes(req)?;
    let request: SessionRequest = match body::kind(req, ACCEPTED_BODIES)? {
        BodyKind::Json => body::json::<SessionRequestJson>(bytes)?.into(),
        BodyKind::Form => body::form::<SessionRequestForm>(bytes)?.try_into()?,
    };
    let session = request.validate(&config.pool, &config.session)?;

    let twilio = state.twilio.session(&config.twilio, state.budget);
    let result = provision(&twilio, &config.pool, &session, &request_id()).await;
    outcome.twilio_requests = twilio.request_count();
    let created: CreatedSession = result.map_err(|e| match e {
        ProvisionError::PoolExhausted { address } => ApiError::PoolExhausted { address },
        ProvisionError::UniqueNameTaken => ApiError::Conflict {
            code: "unique_name_taken",
            message: "uniqueName is already used by another conversation".into(),
        },
        ProvisionError::Twilio(e) => e.into(),
    })?;
    outcome.session = Some(created.conversation.sid.clone());
    Ok(response::json(StatusCode::CREATED, &created))
}

/// A random id marking the conversation as this request's.
fn request_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}
