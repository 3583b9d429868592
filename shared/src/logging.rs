//! Structured logs: JSON when Lambda asks for it (`AWS_LAMBDA_LOG_FORMAT=JSON`),
//! one line per request. Phone numbers go through [`crate::privacy`].

use std::time::Instant;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls do nothing.
pub fn init() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .map(|l| l.to_ascii_lowercase())
        .unwrap_or_else(|_| "info".into());
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(false);
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init()
    } else {
        builder.try_init()
    };
}

/// The one log line each request ends with.
pub fn request_done(
    route: &str,
    status: u16,
    started: Instant,
    twilio_requests: usize,
    session: Option<&str>,
) {
    tracing::info!(
        route,
        status,
        duration_ms = started.elapsed().as_millis() as u64,
        twilio_requests,
        session,
        "request"
    );
}
