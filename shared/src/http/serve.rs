//! The one wrapper every function's requests go through: it times the
//! request, carries the Lambda request id, adds the headers every answer
//! needs, and ends with the request's one log line and its one metrics
//! document ([`crate::metrics`]).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};

use crate::config::Function;
use crate::metrics::{self, Answered, Count, Recorder, Sink};

/// What a request did, for its log line and metrics. Handlers fill it in
/// as they go.
#[derive(Debug)]
pub struct Invocation {
    request_id: String,
    started: Instant,
    route: Mutex<&'static str>,
    session: Mutex<Option<String>>,
    index_requests: AtomicUsize,
    metrics: Recorder,
}

impl Invocation {
    pub fn new(request_id: impl Into<String>, route: &'static str) -> Self {
        Invocation {
            request_id: request_id.into(),
            started: Instant::now(),
            route: Mutex::new(route),
            session: Mutex::new(None),
            index_requests: AtomicUsize::new(0),
            metrics: Recorder::default(),
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

    /// The request's metrics; the Twilio client (requests, retries
    /// included), the session service and the handlers count into it.
    pub fn metrics(&self) -> &Recorder {
        &self.metrics
    }

    /// Counts session index requests; the index adds to it.
    pub fn index_requests(&self) -> &AtomicUsize {
        &self.index_requests
    }

    /// The request's metrics document, then its log line.
    fn finish(&self, status: StatusCode, function: Function, sink: &Sink) {
        let latency = self.started.elapsed();
        if status == StatusCode::UNAUTHORIZED {
            // Every 401 is the operator's basic auth refusing a request.
            self.metrics.count(Count::Unauthorized);
        }
        sink.write(self.metrics.document(&Answered {
            function: metrics::function_name(function.binary()),
            request_id: &self.request_id,
            status: status.as_u16(),
            latency,
        }));
        let route = *self.route.lock().unwrap_or_else(|e| e.into_inner());
        let session = self
            .session
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        tracing::info!(
            request_id = %self.request_id,
            route,
            status = status.as_u16(),
            duration_ms = latency.as_millis() as u64,
            twilio_requests = self.metrics.twilio_requests(),
            index_requests = self.index_requests.load(Ordering::Relaxed),
            session = session.as_deref(),
            "request"
        );
    }
}

/// Runs one request of `function` through `handler`, logs how it ended and
/// writes its metrics to `sink`.
pub async fn serve(
    req: Request,
    sink: &Sink,
    function: Function,
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
    invocation.finish(response.status(), function, sink);
    response
}
