//! Event callbacks: what happened to sessions and calls, POSTed as signed
//! JSON to the operator's receiver (`events/url`), after the answer is sent
//! (see [`crate::deferred`]), so a slow or failing receiver never delays a
//! call or a create.
//!
//! Signature: `X-Masked-Comms-Signature: v1=<hex>`, the HMAC-SHA256 keyed
//! with `events/signing-secret` of `{X-Masked-Comms-Timestamp}.{body}`.
//! Events are delivered at least once: an id names each fact, so a receiver
//! drops what it has seen.

use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::config::EventReceiver;

pub const SIGNATURE_HEADER: &str = "x-masked-comms-signature";
pub const TIMESTAMP_HEADER: &str = "x-masked-comms-timestamp";
pub const EVENT_ID_HEADER: &str = "x-masked-comms-event-id";
pub const EVENT_TYPE_HEADER: &str = "x-masked-comms-event";

/// One attempt's limit: a receiver slower than this is retried.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
/// Waits between attempts (with jitter), as long as the budget lasts.
const BACKOFF: [Duration; 4] = [
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
];

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "session.created")]
    SessionCreated,
    #[serde(rename = "session.updated")]
    SessionUpdated,
    #[serde(rename = "session.closed")]
    SessionClosed,
    #[serde(rename = "participant.added")]
    ParticipantAdded,
    #[serde(rename = "participant.removed")]
    ParticipantRemoved,
    #[serde(rename = "call.started")]
    CallStarted,
    #[serde(rename = "call.ended")]
    CallEnded,
    #[serde(rename = "message.sent")]
    MessageSent,
    #[serde(rename = "message.added")]
    MessageAdded,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::SessionCreated => "session.created",
            EventType::SessionUpdated => "session.updated",
            EventType::SessionClosed => "session.closed",
            EventType::ParticipantAdded => "participant.added",
            EventType::ParticipantRemoved => "participant.removed",
            EventType::CallStarted => "call.started",
            EventType::CallEnded => "call.ended",
            EventType::MessageSent => "message.sent",
            EventType::MessageAdded => "message.added",
        }
    }
}

/// An event as the receiver gets it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The same for every delivery of the same fact.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: EventType,
    /// Unix seconds.
    pub created: u64,
    pub session: String,
    pub data: Value,
}

impl Event {
    /// An event about `session`; `fact` names what happened uniquely (a
    /// participant's or call's sid, say) so repeats share the id. `None`
    /// makes every event distinct (each update is its own fact).
    pub fn new(
        kind: EventType,
        session: &str,
        fact: Option<&str>,
        created: u64,
        data: Value,
    ) -> Self {
        let unique = match fact {
            Some(fact) => format!("{}:{session}:{fact}", kind.as_str()),
            None => format!(
                "{}:{session}:{:032x}",
                kind.as_str(),
                rand::random::<u128>()
            ),
        };
        let digest = Sha256::digest(unique.as_bytes());
        Event {
            id: format!("ev_{}", hex::encode(&digest[..16])),
            kind,
            created,
            session: session.to_owned(),
            data,
        }
    }
}

/// The signature header's value for `body` sent at `timestamp`.
pub fn sign(secret: &str, timestamp: u64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// How a delivery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    Yes,
    /// The receiver answered 4xx: it will not take this event, ever.
    Refused(u16),
    /// Not delivered before the budget ran out: worth trying later.
    NotYet(String),
}

/// Sends events to the receiver, with retries inside a deadline.
#[derive(Debug, Clone)]
pub struct EventSender {
    http: reqwest::Client,
}

impl EventSender {
    pub fn new() -> Result<Self, reqwest::Error> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("masked-comms/", env!("CARGO_PKG_VERSION")));
        if let Some(roots) = crate::trust_roots::TrustRoots::system() {
            builder = roots.apply(builder);
        }
        Ok(EventSender {
            http: builder.build()?,
        })
    }

    /// Delivers `event`, retrying connection failures, timeouts, 429 and 5xx
    /// with backoff until `deadline`.
    pub async fn deliver(
        &self,
        receiver: &EventReceiver,
        event: &Event,
        deadline: Instant,
    ) -> Delivered {
        let body = serde_json::to_vec(event).expect("events serialise");
        let mut waits = BACKOFF.iter();
        loop {
            let last_problem = match self.attempt(receiver, event, &body, deadline).await {
                Ok(status) if status.is_success() => return Delivered::Yes,
                Ok(status)
                    if status.is_client_error()
                        && status.as_u16() != 408
                        && status.as_u16() != 429 =>
                {
                    return Delivered::Refused(status.as_u16())
                }
                Ok(status) => format!("HTTP {status}"),
                Err(problem) => problem,
            };
            let Some(wait) = waits.next() else {
                return Delivered::NotYet(last_problem);
            };
            let wait = wait.mul_f64(0.5 + rand::random::<f64>() / 2.0);
            if Instant::now() + wait >= deadline {
                return Delivered::NotYet(last_problem);
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// One signed POST to the operator's backend (the out-of-session
    /// callback, the intercept), answered within `timeout`: its 2xx body,
    /// read no further than `max_bytes`. No retry: someone is waiting.
    pub async fn ask(
        &self,
        question: &Question<'_>,
        timeout: Duration,
        max_bytes: usize,
    ) -> Result<Vec<u8>, AskError> {
        let asked = async {
            let timestamp = crate::domain::instant::unix_now();
            let mut answer = self
                .http
                .post(question.url.clone())
                .timeout(timeout)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(EVENT_ID_HEADER, question.id)
                .header(EVENT_TYPE_HEADER, question.event)
                .header(TIMESTAMP_HEADER, timestamp.to_string())
                .header(
                    SIGNATURE_HEADER,
                    sign(question.secret, timestamp, question.body),
                )
                .body(question.body.to_vec())
                .send()
                .await
                .map_err(|e| AskError::of(&e))?;
            if !answer.status().is_success() {
                return Err(AskError::Status(answer.status().as_u16()));
            }
            if answer
                .content_length()
                .is_some_and(|n| n > max_bytes as u64)
            {
                return Err(AskError::TooLarge);
            }
            // Read chunk by chunk: an answer without a length stops being
            // read (and held) once it passes the limit.
            let mut bytes = Vec::new();
            while let Some(chunk) = answer.chunk().await.map_err(|e| AskError::of(&e))? {
                if bytes.len() + chunk.len() > max_bytes {
                    return Err(AskError::TooLarge);
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(bytes)
        };
        // reqwest's timeout covers the body too; this one also bounds a
        // connection that never finishes opening.
        tokio::time::timeout(timeout, asked)
            .await
            .unwrap_or(Err(AskError::TimedOut))
    }

    async fn attempt(
        &self,
        receiver: &EventReceiver,
        event: &Event,
        body: &[u8],
        deadline: Instant,
    ) -> Result<reqwest::StatusCode, String> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err("no time left".into());
        }
        let timestamp = crate::domain::instant::unix_now();
        let answer = self
            .http
            .post(receiver.url.clone())
            .timeout(left.min(ATTEMPT_TIMEOUT))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(EVENT_ID_HEADER, &event.id)
            .header(EVENT_TYPE_HEADER, event.kind.as_str())
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(
                SIGNATURE_HEADER,
                sign(receiver.signing_secret.expose(), timestamp, body),
            )
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| failure(&e))?;
        Ok(answer.status())
    }
}

/// The most an out-of-session callback's answer may be.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// A signed question to the operator's backend.
#[derive(Debug, Clone, Copy)]
pub struct Question<'a> {
    pub url: &'a url::Url,
    /// The events' signing secret.
    pub secret: &'a str,
    /// `X-Masked-Comms-Event`.
    pub event: &'a str,
    /// `X-Masked-Comms-Event-Id`: the same on a retry of the same fact.
    pub id: &'a str,
    pub body: &'a [u8],
}

/// Why the backend gave no answer to read. Says what went wrong by kind:
/// the URL is the operator's own, and reqwest's text would repeat it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AskError {
    #[error("timed out")]
    TimedOut,
    #[error("could not connect")]
    Unreachable,
    #[error("the connection failed")]
    Failed,
    #[error("HTTP {0}")]
    Status(u16),
    #[error("the answer is too large")]
    TooLarge,
}

impl AskError {
    fn of(e: &reqwest::Error) -> Self {
        if e.is_timeout() {
            AskError::TimedOut
        } else if e.is_connect() {
            AskError::Unreachable
        } else {
            AskError::Failed
        }
    }
}

/// What went wrong with an event delivery, by kind.
fn failure(e: &reqwest::Error) -> String {
    AskError::of(e).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Timestamp 1, body "x": the HMAC of "1.x", as computed by
        // `printf '1.x' | openssl dgst -sha256 -hmac Jefe`.
        assert_eq!(
            sign("Jefe", 1, b"x"),
            "v1=2f7ccbd0f043456ad29514b2d24a8aa345ec6673a5db1b44e91c8ac99d1841e3"
        );
    }

    #[test]
    fn the_same_fact_keeps_its_id_and_updates_do_not() {
        let a = Event::new(EventType::CallStarted, "CH1", Some("CA1"), 1, Value::Null);
        let b = Event::new(EventType::CallStarted, "CH1", Some("CA1"), 2, Value::Null);
        assert_eq!(a.id, b.id);
        let c = Event::new(EventType::CallEnded, "CH1", Some("CA1"), 1, Value::Null);
        assert_ne!(a.id, c.id);
        let u1 = Event::new(EventType::SessionUpdated, "CH1", None, 1, Value::Null);
        let u2 = Event::new(EventType::SessionUpdated, "CH1", None, 1, Value::Null);
        assert_ne!(u1.id, u2.id);
        assert_eq!(serde_json::to_value(&a).unwrap()["type"], "call.started");
    }
}
