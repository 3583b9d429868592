//! A call or text to a pool number from someone with no open session on
//! it: the configured answer, or (callback mode) the operator's backend's,
//! and the session it may ask for.

use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::config::{Config, OutOfSession};
use crate::deferred::Deferred;
use crate::domain::address::{split_channel, Address, PhoneNumber};
use crate::domain::instant::unix_now;
use crate::domain::out_of_session::{read_answer, Disposition, Knock, KnockKind};
use crate::domain::session::SessionRequest;
use crate::handlers::sessions::request::SessionRequestJson;
use crate::privacy::Redacted;
use crate::session::{CreateRequest, Created, Session, SessionError, Sessions};

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
            let asked = sender
                .ask(
                    url,
                    receiver.signing_secret.expose(),
                    CALLBACK_EVENT,
                    &id,
                    &body,
                    CALLBACK_TIMEOUT,
                )
                .await
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

/// The same id on Twilio's retries of the same call or text.
fn callback_id(sid: &str) -> String {
    format!("oos_{}", hex::encode(&Sha256::digest(sid.as_bytes())[..16]))
}

impl Sessions<'_> {
    /// Makes the session the backend asked for, with the caller on the pool
    /// number they reached. Idempotent per call or text: Twilio's retry of
    /// the same webhook finds the session the first attempt made.
    pub async fn open_for(
        &self,
        knock: &Knock<'_>,
        body: serde_json::Value,
    ) -> Result<Session, SessionError> {
        let invalid = |field: &str, message: &str| {
            SessionError::Invalid(crate::domain::session::InvalidField::new(field, message))
        };
        let json: SessionRequestJson = serde_json::from_value(body)
            .map_err(|_| invalid("session", "is not a POST /sessions body"))?;
        let request: SessionRequest = json.into();
        let config = self.config();
        let mut session = request.validate(&config.pools(), &config.session)?;
        let caller =
            Address::parse(knock.from).map_err(|_| invalid("from", "is not an address"))?;
        let proxy = PhoneNumber::parse(split_channel(knock.to).1)
            .map_err(|_| invalid("to", "is not a phone number"))?;
        let pool = config.pool_for(caller.channel())?;
        session.pin(caller, proxy, pool, &config.pools())?;
        let name = callback_id(knock.sid);
        let request = CreateRequest {
            id: name.clone(),
            idempotent_name: Some(format!("mc-{name}")),
            started: unix_now(),
            may_still_run: crate::session::CREATE_MAY_RUN_FOR,
        };
        match self.create(&session, &request).await? {
            Created::New(session) | Created::Replayed(session) => Ok(session),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retry_of_the_same_call_has_the_same_callback_id() {
        assert_eq!(callback_id("CA1"), callback_id("CA1"));
        assert_ne!(callback_id("CA1"), callback_id("CA2"));
        assert!(callback_id("CA1").starts_with("oos_"));
    }
}
