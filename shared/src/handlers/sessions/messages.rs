//! `POST /sessions/{sid}/messages`: a message from the operator's backend to
//! one participant (`to`) or to all, each from their own proxy.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;

use crate::domain::outbound_message::{MessageJson, OutboundMessage};
use crate::http::body::{self, BodyKind};
use crate::http::{response, ApiError};
use crate::session::{SessionError, Sessions};

/// The outer error is the request's own (its body), the inner one the
/// service's.
pub(super) async fn send(
    sessions: &Sessions<'_>,
    req: &Request,
    sid: &str,
) -> Result<Result<Response<Body>, SessionError>, ApiError> {
    let bytes = body::bytes(req)?;
    match body::kind(req, "application/json")? {
        BodyKind::Json => {}
        BodyKind::Form => {
            return Err(ApiError::UnsupportedMediaType {
                accepted: "application/json",
            })
        }
    }
    let message = OutboundMessage::try_from(body::json::<MessageJson>(bytes)?)?;
    Ok(sessions.send_message(sid, &message).await.map(|sent| {
        response::json(
            StatusCode::CREATED,
            &json!({
                "session": sid,
                "messages": sent,
            }),
        )
    }))
}
