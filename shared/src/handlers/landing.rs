//! The operator's page: `GET /` shows the number pool and a form that creates
//! sessions through the session API (and looks them up and closes them).
//!
//! Same operator basic auth as `/sessions`: the 401 challenge makes the
//! browser prompt, and the page's own `fetch()` calls to the API (same origin)
//! then carry the credentials the browser remembered.

pub mod page;

use std::sync::LazyLock;
use std::time::Instant;

use base64::Engine;
use lambda_http::http::{header, HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, Response};
use sha2::{Digest, Sha256};

use crate::app::AppState;
use crate::http::{auth, ApiError};
use crate::logging;
use page::{PageView, Prefill, SCRIPT, STYLE};

/// Whether the page offers lookup (`GET /sessions?address=`) and close
/// (`DELETE /sessions/{sid}`).
const LIFECYCLE_ENABLED: bool = true;

/// Inline script and style are allowed by their hashes only.
static CONTENT_SECURITY_POLICY: LazyLock<String> = LazyLock::new(|| {
    format!(
        "default-src 'none'; script-src '{}'; style-src '{}'; connect-src 'self'; \
         img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        csp_hash(SCRIPT),
        csp_hash(STYLE)
    )
});

/// A CSP source expression for an inline element's exact text.
pub fn csp_hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// The policy the page is served with.
pub fn content_security_policy() -> &'static str {
    &CONTENT_SECURITY_POLICY
}

/// Handles one request to the page's function.
pub async fn handle(state: &AppState, req: Request) -> Response<Body> {
    let started = Instant::now();
    let response = match route(state, &req).await {
        Ok(response) => response,
        Err(err) => err.into_response(),
    };
    logging::request_done("/", response.status().as_u16(), started, 0, None);
    response
}

async fn route(state: &AppState, req: &Request) -> Result<Response<Body>, ApiError> {
    let path = req.uri().path().trim_end_matches('/');
    if !path.is_empty() {
        return Err(ApiError::NotFound(format!("no route {path}")));
    }
    if req.method() != Method::GET {
        return Err(ApiError::MethodNotAllowed { allow: "GET" });
    }
    let config = state.config.current().await?;
    auth::require_operator(req, &config.operator)?;

    let pool: Vec<&str> = config.pool.numbers().iter().map(|n| n.as_str()).collect();
    let prefill = Prefill::from_query(req.uri().query());
    let markup = page::render(&PageView {
        pool: &pool,
        prefill: &prefill,
        lifecycle_enabled: LIFECYCLE_ENABLED,
    });
    Ok(html(markup.into_string()))
}

fn html(body: String) -> Response<Body> {
    let mut response = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store")
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::REFERRER_POLICY, "no-referrer")
        .header(header::X_FRAME_OPTIONS, "DENY")
        .body(Body::Text(body))
        .expect("static response parts are valid");
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(content_security_policy()),
    );
    response
}
