//! Someone called or texted a pool number on which they have no open
//! session. In callback mode the operator's backend is asked what to do:
//! what it is told, and what its answer may say.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::address::{split_channel, PhoneNumber};
use super::pool::Pool;

/// The reply to a sender with no session goes to the same sender and
/// number at most this often: two auto-responders must not text each
/// other forever.
pub const REPLY_AT_MOST_EVERY: std::time::Duration = std::time::Duration::from_secs(60 * 60);

/// What the backend is told (POSTed as JSON, signed like events).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Knock<'a> {
    /// `call` or `message`.
    #[serde(rename = "type")]
    pub kind: KnockKind,
    /// Who called or texted (their own number: the backend is the operator's).
    pub from: &'a str,
    /// The pool number they reached.
    pub to: &'a str,
    /// The text, for a message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<&'a str>,
    /// Twilio's call or message sid: the same on Twilio's retries.
    pub sid: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KnockKind {
    Call,
    Message,
}

/// What happens to the call or text.
#[derive(Debug, Clone, PartialEq)]
pub enum Disposition {
    /// Said or texted back: this text, or the configured one.
    Message(Option<String>),
    /// Passed to this number (a call shows the pool number as caller id).
    Forward(PhoneNumber),
    /// A call is rejected; a text gets no answer.
    Reject,
    /// A session made now, with the caller on the number they reached;
    /// the value is a `POST /sessions` body.
    CreateSession(Value),
}

/// The backend's answer, as JSON.
#[derive(Debug, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
enum AnswerJson {
    Message {
        #[serde(default)]
        message: Option<String>,
    },
    Forward {
        to: String,
    },
    Reject {},
    CreateSession {
        session: Value,
    },
}

/// The longest text a backend may have said or sent back (Twilio's
/// `<Say>` takes 4,096 characters; an SMS body 1,600).
const MAX_MESSAGE_CHARS: usize = 1_600;

/// Reads the backend's answer. Why it is unusable is said without
/// repeating what it contained.
pub fn read_answer(body: &[u8], pools: &[&Pool]) -> Result<Disposition, String> {
    let answer: AnswerJson = serde_json::from_slice(body).map_err(|e| {
        // serde's message names fields and types, never the values.
        format!("not a usable answer: {}", e.classify_name())
    })?;
    Ok(match answer {
        AnswerJson::Message { message } => {
            if let Some(text) = &message {
                if text.trim().is_empty() || text.chars().count() > MAX_MESSAGE_CHARS {
                    return Err(format!(
                        "`message` must be 1 to {MAX_MESSAGE_CHARS} characters"
                    ));
                }
            }
            Disposition::Message(message)
        }
        AnswerJson::Forward { to } => {
            let number = PhoneNumber::parse(split_channel(&to).1)
                .map_err(|_| "`to` is not an E.164 phone number".to_owned())?;
            if pools.iter().any(|p| p.contains(&number)) {
                return Err("`to` is a pool number; forwarding there would loop".into());
            }
            Disposition::Forward(number)
        }
        AnswerJson::Reject {} => Disposition::Reject,
        AnswerJson::CreateSession { session } => {
            if !session.is_object() {
                return Err("`session` must be a JSON object (a POST /sessions body)".into());
            }
            Disposition::CreateSession(session)
        }
    })
}

/// serde_json's error category, which never contains the input.
trait Classify {
    fn classify_name(&self) -> &'static str;
}

impl Classify for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "unreadable",
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => "not JSON",
            serde_json::error::Category::Data => "JSON without a known `action` and its fields",
        }
    }
}

/// The same id on Twilio's retries of the same call or text: names the
/// callback (its idempotency id) and the session it makes.
pub fn callback_id(sid: &str) -> String {
    use sha2::{Digest, Sha256};
    format!("oos_{}", hex::encode(&Sha256::digest(sid.as_bytes())[..16]))
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

    fn pool() -> Pool {
        Pool::new(["+15550001111"]).unwrap()
    }

    fn read(text: &str) -> Result<Disposition, String> {
        read_answer(text.as_bytes(), &[&pool()])
    }

    #[test]
    fn every_action_reads() {
        assert_eq!(
            read(r#"{"action":"message"}"#),
            Ok(Disposition::Message(None))
        );
        assert_eq!(
            read(r#"{"action":"message","message":"Closed today"}"#),
            Ok(Disposition::Message(Some("Closed today".into())))
        );
        assert_eq!(
            read(r#"{"action":"forward","to":"+15557654321"}"#),
            Ok(Disposition::Forward(
                PhoneNumber::parse("+15557654321").unwrap()
            ))
        );
        assert_eq!(read(r#"{"action":"reject"}"#), Ok(Disposition::Reject));
        let created =
            read(r#"{"action":"create_session","session":{"addresses":["+15557654321"]}}"#);
        assert!(
            matches!(created, Ok(Disposition::CreateSession(v)) if v["addresses"][0] == "+15557654321")
        );
    }

    #[test]
    fn unusable_answers_say_why_without_their_content() {
        for (text, why) in [
            ("", "not JSON"),
            ("<html>", "not JSON"),
            (r#"{"action":"dance"}"#, "known `action`"),
            (r#"{"action":"forward"}"#, "known `action`"),
            (
                r#"{"action":"reject","secret":"+15551234567"}"#,
                "known `action`",
            ),
            (r#"{"action":"forward","to":"not a number"}"#, "E.164"),
            (r#"{"action":"forward","to":"+15550001111"}"#, "loop"),
            (r#"{"action":"create_session","session":[]}"#, "JSON object"),
            (r#"{"action":"message","message":"  "}"#, "1 to 1600"),
        ] {
            let err = read(text).expect_err(text);
            assert!(err.contains(why), "{text}: {err}");
            assert!(!err.contains("+1555"), "{text}: {err}");
        }
    }

    #[test]
    fn the_knock_says_what_happened() {
        let knock = Knock {
            kind: KnockKind::Message,
            from: "+15557654321",
            to: "+15550001111",
            body: Some("hi"),
            sid: "SM1",
        };
        let json = serde_json::to_value(&knock).unwrap();
        assert_eq!(json["type"], "message");
        assert_eq!(json["body"], "hi");
        let call = Knock {
            kind: KnockKind::Call,
            body: None,
            ..knock
        };
        let json = serde_json::to_value(&call).unwrap();
        assert_eq!(json["type"], "call");
        assert!(json.get("body").is_none());
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever a backend answers, reading it never panics, and a
        /// refusal never repeats a number from it.
        #[test]
        fn any_answer_is_read_or_refused_without_echo(
            bytes in proptest::collection::vec(any::<u8>(), 0..256),
            action in prop::sample::select(vec!["message", "forward", "reject", "create_session", "x"]),
            field in "[a-z_]{1,10}",
            digits in "[0-9]{7,12}",
        ) {
            let pool = Pool::new(["+15550001111"]).unwrap();
            let _ = read_answer(&bytes, &[&pool]);
            let json = format!(r#"{{"action":"{action}","{field}":"+{digits}","to":"x{digits}"}}"#);
            if let Err(why) = read_answer(json.as_bytes(), &[&pool]) {
                prop_assert!(!why.contains(&digits), "{}", why);
            }
        }
    }
}
