//! A call or text to a pool number from someone with no open session on
//! it: the configured answer, or (callback mode) the operator's backend's,
//! and the session it may ask for (made by [`Sessions::open_for`]).
//!
//! [`Sessions::open_for`]: crate::session::Sessions::open_for

use std::time::Duration;

use crate::config::{Config, OutOfSession};
use crate::deferred::Deferred;
use crate::domain::out_of_session::{callback_id, read_answer, Disposition, Knock, KnockKind};
use crate::events::{Question, MAX_ANSWER_BYTES};
use crate::privacy::Redacted;

/// How long a caller waits for the backend: Twilio gives the whole webhook
/// 15 s, and a session may still have to be made after.
pub const CALLBACK_TIMEOUT: Duration = Duration::from_secs(3);
/// `X-Masked-Comms-Event` on the callback.
pub const CALLBACK_EVENT: &str = "out_of_session";

/// What to do with the call or text. Every failure of the backend (down,
/// slow, an answer that cannot be used) falls back to the message, and is
/// logged.
pub async fn decide(config: &Config, deferred: &Deferred, knock: &Knock<'_>) -> Disposition {
    match &config.out_of_session {
        OutOfSession::Message => Disposition::Message(None),
        OutOfSession::Forward(number) => Disposition::Forward(number.clone()),
        OutOfSession::Callback(url) => {
            let (Some(receiver), Some(sender)) = (&config.events, deferred.sender()) else {
                return Disposition::Message(None);
            };
            let body = serde_json::to_vec(knock).expect("a knock serialises");
            let id = callback_id(knock.sid);
            let question = Question {
                url,
                secret: receiver.signing_secret.expose(),
                event: CALLBACK_EVENT,
                id: &id,
                body: &body,
            };
            let asked = sender
                .ask(&question, CALLBACK_TIMEOUT, MAX_ANSWER_BYTES)
                .await
                .map_err(|e| e.to_string())
                .and_then(|answer| read_answer(&answer, &config.pools()));
            match asked {
                Ok(disposition) => disposition,
                Err(why) => {
                    tracing::warn!(%why, caller = %Redacted(knock.from), "the out-of-session callback gave no usable answer; answering with the message");
                    Disposition::Message(None)
                }
            }
        }
    }
}

/// What the backend is told of a call.
pub fn call_knock<'a>(from: &'a str, to: &'a str, call_sid: &'a str) -> Knock<'a> {
    Knock {
        kind: KnockKind::Call,
        from,
        to,
        body: None,
        sid: call_sid,
    }
}

/// What the backend is told of a text.
pub fn text_knock<'a>(
    from: &'a str,
    to: &'a str,
    body: &'a str,
    message_sid: &'a str,
) -> Knock<'a> {
    Knock {
        kind: KnockKind::Message,
        from,
        to,
        body: Some(body),
        sid: message_sid,
    }
}
