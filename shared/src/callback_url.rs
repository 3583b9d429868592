//! URLs the functions call out to (the event receiver, the out-of-session
//! backend): https, or plain http to this machine only when the function
//! runs locally. On Lambda, loopback is the Runtime API, so a loopback URL
//! there would post events and callbacks into the function's own runtime.

use crate::config::is_loopback_http;

/// Set to `1` by `make dev` and the test harnesses (never by
/// template.yaml): the function runs on this machine, beside the emulator
/// and receivers that loopback URLs point at. Read from the process
/// environment when configuration loads, never from SSM.
pub const LOCAL_FLAG: &str = "MASKED_COMMS_LOCAL";

/// Whether this process says it runs locally ([`LOCAL_FLAG`] is `1`).
pub fn runs_locally() -> bool {
    std::env::var(LOCAL_FLAG).is_ok_and(|v| v.trim() == "1")
}

/// `text` as a URL to call out to; the problem, in words, when it is not.
pub fn parse(text: &str, local: bool) -> Result<url::Url, &'static str> {
    let url = url::Url::parse(text).map_err(|_| "must be an absolute https URL")?;
    match url.scheme() {
        "https" if url.host().is_some() => Ok(url),
        "http" if is_loopback_http(&url) && local => Ok(url),
        "http" if is_loopback_http(&url) => Err(
            "must be an https URL: plain http to this machine only when the function runs locally (MASKED_COMMS_LOCAL=1)",
        ),
        _ => Err("must be an https URL"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_anywhere_and_loopback_http_only_locally() {
        for local in [false, true] {
            assert!(parse("https://backend.example.com/events", local).is_ok());
            assert!(parse("https://127.0.0.1:8443/events", local).is_ok());
            assert!(parse("http://backend.example.com/events", local).is_err());
            assert!(parse("ftp://backend.example.com/events", local).is_err());
            assert!(parse("not a url", local).is_err());
        }
        for loopback in [
            "http://127.0.0.1:9001/events",
            "http://localhost:9001/events",
            "http://[::1]:9001/events",
        ] {
            let refused = parse(loopback, false).unwrap_err();
            assert!(refused.contains("MASKED_COMMS_LOCAL"), "{refused}");
            assert!(parse(loopback, true).is_ok(), "{loopback}");
        }
    }
}
