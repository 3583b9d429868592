//! The operator's page: `GET /` shows the number pool (how many open sessions
//! each number carries) and a form that creates sessions through the session
//! API (and looks them up and closes them). `GET /pool` answers the pool's
//! usage as JSON.
//!
//! Same operator basic auth as `/sessions`: the 401 challenge makes the
//! browser prompt, and the page's own `fetch()` calls to the API (same origin)
//! then carry the credentials the browser remembered.

pub mod page;

use std::sync::LazyLock;

use base64::Engine;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use sha2::{Digest, Sha256};

use crate::app::AppState;
use crate::config::Function;
use crate::http::route::{Route, Router};
use crate::http::{auth, response, serve, ApiError, Invocation};
use crate::session::lookup::pool_usage;
use page::{PageView, Prefill, SCRIPT, STYLE};

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

const POOL_PATH: &str = "/pool";

/// What a route of the page's function shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    Page,
    Pool,
}

pub static ROUTES: &[Route<Shown>] = &[
    Route::new("GET", "/", Shown::Page),
    Route::new("GET", POOL_PATH, Shown::Pool),
];

fn router() -> &'static Router<Shown> {
    static ROUTER: LazyLock<Router<Shown>> = LazyLock::new(|| Router::new(ROUTES));
    &ROUTER
}

/// Handles one request to the page's function.
pub async fn handle(state: &AppState, req: Request) -> Response<Body> {
    serve(
        req,
        &state.metrics,
        Function::LandingPage,
        "/",
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
    let shown = router().find(req.method(), req.uri().path())?.route.name;
    let config = state.config.current().await?;
    auth::require_operator(req, config.operator()?)?;
    // Counting needs only the index; this function holds no Twilio token.
    let usage = match &state.index {
        Some(index) => {
            let index = index.for_invocation(invocation.index_requests());
            pool_usage(&config, Some(&index)).await?
        }
        None => pool_usage(&config, None).await?,
    };
    if shown == Shown::Pool {
        invocation.set_route(POOL_PATH);
        return Ok(response::json(
            StatusCode::OK,
            &serde_json::json!({ "pool": usage, "counted": state.index.is_some() }),
        ));
    }
    let prefill = Prefill::from_query(req.uri().query());
    let markup = page::render(&PageView {
        pool: &usage,
        prefill: &prefill,
    });
    Ok(response::html(
        StatusCode::OK,
        markup.into_string(),
        content_security_policy(),
    ))
}
