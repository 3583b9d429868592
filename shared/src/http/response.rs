//! Building responses: JSON for the API, TwiML for Twilio, HTML for the page.
//! [`super::serve`] adds the headers every answer carries.

use lambda_http::http::{header, StatusCode};
use lambda_http::{Body, Response};
use serde::Serialize;

pub fn json(status: StatusCode, value: &impl Serialize) -> Response<Body> {
    let body = serde_json::to_string(value).expect("response values always serialise");
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::Text(body))
        .expect("static response parts are valid")
}

pub fn text(status: StatusCode, text: &str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::Text(text.to_owned()))
        .expect("static response parts are valid")
}

pub fn empty(status: StatusCode) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::Empty)
        .expect("static response parts are valid")
}

/// TwiML for Twilio: always 200, whatever it says.
pub fn twiml(xml: String) -> Response<Body> {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/xml")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::Text(xml))
        .expect("static response parts are valid")
}

/// A page for the operator's browser, under `policy` (a Content-Security-Policy).
pub fn html(status: StatusCode, body: String, policy: &'static str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store")
        .header(header::REFERRER_POLICY, "no-referrer")
        .header(header::X_FRAME_OPTIONS, "DENY")
        .header(header::CONTENT_SECURITY_POLICY, policy)
        .body(Body::Text(body))
        .expect("static response parts are valid")
}
