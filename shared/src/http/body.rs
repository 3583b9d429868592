//! Request bodies: size limit, content type, JSON or form.

use lambda_http::http::header;
use lambda_http::{Body, Request};
use serde::de::DeserializeOwned;

use super::ApiError;

/// Bodies larger than this are refused before parsing.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The media types a body can arrive in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Json,
    Form,
}

pub fn bytes(req: &Request) -> Result<&[u8], ApiError> {
    let bytes: &[u8] = match req.body() {
        Body::Empty => &[],
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    };
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        });
    }
    Ok(bytes)
}

/// The body's kind from `Content-Type`, ignoring parameters like charset.
pub fn kind(req: &Request, accepted: &'static str) -> Result<BodyKind, ApiError> {
    let media_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    match media_type.as_deref() {
        Some("application/json") => Ok(BodyKind::Json),
        Some("application/x-www-form-urlencoded") => Ok(BodyKind::Form),
        _ => Err(ApiError::UnsupportedMediaType { accepted }),
    }
}

/// Whether the body is a JSON merge patch (RFC 7396) or plain JSON, the two
/// kinds `PATCH` takes.
pub fn is_json_patch(req: &Request) -> bool {
    let media_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    matches!(
        media_type.as_deref(),
        Some("application/json" | "application/merge-patch+json")
    )
}

pub fn json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::invalid("body", "is empty; send a JSON object"));
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::invalid("body", json_problem(&e)))
}

pub fn form<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_html_form::from_bytes(bytes).map_err(|e| {
        ApiError::invalid(
            "body",
            format!("is not a valid form: {}", data_problem(&e.to_string())),
        )
    })
}

/// serde_json's message without the offending value, which may be a number.
fn json_problem(err: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match err.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            format!(
                "is not valid JSON (line {}, column {})",
                err.line(),
                err.column()
            )
        }
        Category::Data => data_problem(&err.to_string()),
    }
}

/// A serde data error, worded for the client without repeating its input:
/// names of fields we declare are kept, anything the client wrote is not.
pub fn data_problem(text: &str) -> String {
    let text = text.split(" at line").next().unwrap_or(text);
    let expected = text.find(", expected").map(|at| &text[at..]).unwrap_or("");
    if text.starts_with("unknown field") {
        format!("has an unknown field{expected}")
    } else if text.starts_with("missing field") || text.starts_with("duplicate field") {
        // These name our own fields only.
        text.to_owned()
    } else if expected.is_empty() {
        "has a value of the wrong type".to_owned()
    } else {
        format!("has a value of the wrong type{expected}")
    }
}
