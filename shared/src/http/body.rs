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

pub fn json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::invalid("body", "is empty; send a JSON object"));
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::invalid("body", json_problem(&e)))
}

pub fn form<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_html_form::from_bytes(bytes)
        .map_err(|e| ApiError::invalid("body", format!("is not a valid form: {e}")))
}

/// serde_json's message without the offending value, which may be a number.
fn json_problem(err: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let text = err.to_string();
    match err.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            format!(
                "is not valid JSON (line {}, column {})",
                err.line(),
                err.column()
            )
        }
        Category::Data => {
            // Keep serde's "unknown field `x`, expected one of …" and "missing
            // field" messages; replace type errors, which quote values.
            if text.starts_with("unknown field") || text.starts_with("missing field") {
                text.split(" at line").next().unwrap_or(&text).to_owned()
            } else {
                match text.find(", expected") {
                    Some(at) => format!(
                        "has a value of the wrong type{}",
                        text[at..].split(" at line").next().unwrap_or("")
                    ),
                    None => "has a value of the wrong type".to_owned(),
                }
            }
        }
    }
}
