//! The one wrapper every function's requests go through: it times the
//! request, carries the Lambda request id, adds the headers every answer
//! needs, and ends with the request's one log line.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use lambda_http::http::{header, HeaderValue};
use lambda_http::{Body, Request, RequestExt, Response};

/// What a request did, for its log line. Handlers fill it in as they go.
#[derive(Debug)]
pub struct Invocation {
    request_id: String,
    started: Instant,
    route: Mutex<&'static str>,
    session: Mutex<Option<String>>,
    twilio_requests: AtomicUsize,
    index_requests: AtomicUsize,
}

impl Invocation {
    pub fn new(request_id: impl Into<String>, route: &'static str) -> Self {
        Invocation {
            request_id: request_id.into(),
            started: Instant::now(),
            route: Mutex::new(route),
            session: Mutex::new(None),
            twilio_requests: AtomicUsize::new(0),
            index_requests: AtomicUsize::new(0),
        }
    }

    /// For requests made outside a Lambda invocation (tests, benchmarks).
    pub fn detached(route: &'static str) -> Self {
        Invocation::new("-", route)
    }

    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// Names the route more precisely once it is known (`/sessions/{sid}`).
    pub fn set_route(&self, route: &'static str) {
        *self.route.lock().unwrap_or_else(|e| e.into_inner()) = route;
    }

    /// The session the request concerned, for the log line.
    pub fn set_session(&self, sid: &str) {
        *self.session.lock().unwrap_or_else(|e| e.into_inner()) = Some(sid.to_owned());
    }

    /// Counts Twilio requests, retries included; the Twilio client adds to it.
    pub fn twilio_requests(&self) -> &AtomicUsize {
        &self.twilio_requests
    }

    /// Counts session index requests; the index adds to it.
    pub fn index_requests(&self) -> &AtomicUsize {
        &self.index_requests
    }

    fn finish(&self, status: u16) {
        let route = *self.route.lock().unwrap_or_else(|e| e.into_inner());
        let session = self
            .session
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        tracing::info!(
            request_id = %self.request_id,
            route,
            status,
            duration_ms = self.started.elapsed().as_millis() as u64,
            twilio_requests = self.twilio_requests.load(Ordering::Relaxed),
            index_requests = self.index_requests.load(Ordering::Relaxed),
            session = session.as_deref(),
            "request"
        );
    }
}

/// Runs one request through `handler` and logs how it ended.
pub async fn serve(
    req: Request,
    route: &'static str,
    handler: impl AsyncFnOnce(Request, &Invocation) -> Response<Body>,
) -> Response<Body> {
    let request_id = req
        .lambda_context_ref()
        .map(|context| context.request_id.clone())
        .unwrap_or_else(|| "-".to_owned());
    let invocation = Invocation::new(request_id, route);
    let mut response = handler(req, &invocation).await;
    // Browsers must take every answer as the type it says it is.
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    invocation.finish(response.status().as_u16());
    response
}
