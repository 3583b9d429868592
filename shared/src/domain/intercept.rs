//! The intercept: before a text or call in a session is delivered, the
//! operator's backend may allow it, block it, or (a text) rewrite it.
//! What the backend is asked, how its answer is read, and what a failure
//! means; the asking itself is in `crate::intercept`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::roster::RosterEntry;

/// The most of an answer that is read: a rewritten text and a `say` at
/// their longest, JSON-escaped, fit well inside.
pub const MAX_ANSWER_BYTES: usize = 32 * 1024;
/// The longest rewritten text: a Conversations message body's limit.
pub const MAX_BODY_CHARS: usize = 1_600;
/// The longest text said to a blocked caller.
pub const MAX_SAY_CHARS: usize = 1_600;

/// What is about to be delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Message,
    Call,
}

/// One end of a text or call: the participant's own address and the
/// proxy number they use in this session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Party<'a> {
    pub participant: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy: Option<&'a str>,
}

impl<'a> From<&'a RosterEntry> for Party<'a> {
    fn from(entry: &'a RosterEntry) -> Self {
        Party {
            participant: &entry.address,
            proxy: Some(&entry.proxy),
        }
    }
}

/// What the backend is asked (POSTed as JSON, signed like events).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Question<'a> {
    #[serde(rename = "type")]
    pub kind: Kind,
    pub session: &'a str,
    pub from: Party<'a>,
    pub to: Vec<Party<'a>>,
    /// A text's body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<&'a str>,
    /// A text's media, as Twilio described them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media: Option<Value>,
}

/// What happens to the text or call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// A text goes out with this body instead.
    Rewrite(String),
    /// Not delivered; a caller hears `say`, else the configured text.
    Block {
        say: Option<String>,
    },
}

/// What a failure of the backend means (`intercept/on-error`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnError {
    #[default]
    Allow,
    Block,
}

impl OnError {
    pub fn verdict(self) -> Verdict {
        match self {
            OnError::Allow => Verdict::Allow,
            OnError::Block => Verdict::Block { say: None },
        }
    }
}

/// Why an answer could not be used, by kind (never what it contained).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BadAnswer {
    #[error("the answer is not JSON")]
    NotJson,
    #[error("the answer's `action` is missing or not `allow` or `block`")]
    UnknownAction,
    #[error("the answer's `body` must be 1 to {MAX_BODY_CHARS} characters")]
    BadBody,
    #[error("the answer's `say` must be 1 to {MAX_SAY_CHARS} characters")]
    BadSay,
}

#[derive(Debug, Deserialize)]
struct AnswerJson {
    action: Value,
    #[serde(default)]
    body: Option<Value>,
    #[serde(default)]
    say: Option<Value>,
}

/// A text field of the answer, within `max` characters.
fn text(field: Option<Value>, max: usize, problem: BadAnswer) -> Result<Option<String>, BadAnswer> {
    match field {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= max => Ok(Some(s)),
        Some(_) => Err(problem),
    }
}

/// Reads the backend's answer about a text (`original` is its body) or a
/// call (`original` is `None`). A call ignores `body`; a text ignores
/// `say`; a `body` equal to the text's is no rewrite.
pub fn read_answer(answer: &[u8], original: Option<&str>) -> Result<Verdict, BadAnswer> {
    let answer: AnswerJson = serde_json::from_slice(answer).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => BadAnswer::UnknownAction,
        _ => BadAnswer::NotJson,
    })?;
    match answer.action.as_str() {
        Some("allow") => match original {
            None => Ok(Verdict::Allow),
            Some(original) => match text(answer.body, MAX_BODY_CHARS, BadAnswer::BadBody)? {
                Some(body) if body != original => Ok(Verdict::Rewrite(body)),
                _ => Ok(Verdict::Allow),
            },
        },
        Some("block") => Ok(Verdict::Block {
            say: match original {
                None => text(answer.say, MAX_SAY_CHARS, BadAnswer::BadSay)?,
                Some(_) => None,
            },
        }),
        _ => Err(BadAnswer::UnknownAction),
    }
}

/// The backend's part in a verdict, for the log and the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Allowed,
    Blocked,
    Rewritten,
    /// No usable answer: `intercept/on-error` decided.
    Failed,
}

impl Outcome {
    pub fn of(verdict: &Verdict) -> Self {
        match verdict {
            Verdict::Allow => Outcome::Allowed,
            Verdict::Rewrite(_) => Outcome::Rewritten,
            Verdict::Block { .. } => Outcome::Blocked,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Blocked => "blocked",
            Outcome::Rewritten => "rewritten",
            Outcome::Failed => "failed",
        }
    }
}

/// The id of the question about a call: the same on Twilio's retries.
pub fn call_question_id(call_sid: &str) -> String {
    use sha2::{Digest, Sha256};
    format!(
        "ic_{}",
        hex::encode(&Sha256::digest(call_sid.as_bytes())[..16])
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_answer(json: &str) -> Result<Verdict, BadAnswer> {
        read_answer(json.as_bytes(), Some("call me on 555 0100"))
    }

    fn call_answer(json: &str) -> Result<Verdict, BadAnswer> {
        read_answer(json.as_bytes(), None)
    }

    #[test]
    fn a_text_is_allowed_blocked_or_rewritten() {
        assert_eq!(text_answer(r#"{"action": "allow"}"#), Ok(Verdict::Allow));
        assert_eq!(
            text_answer(r#"{"action": "allow", "body": "call me on [removed]"}"#),
            Ok(Verdict::Rewrite("call me on [removed]".into()))
        );
        // The same body is no rewrite.
        assert_eq!(
            text_answer(r#"{"action": "allow", "body": "call me on 555 0100"}"#),
            Ok(Verdict::Allow)
        );
        assert_eq!(
            text_answer(r#"{"action": "block", "say": "ignored", "extra": 1}"#),
            Ok(Verdict::Block { say: None })
        );
    }

    #[test]
    fn a_call_is_allowed_or_blocked_with_what_the_caller_hears() {
        assert_eq!(
            call_answer(r#"{"action": "allow", "body": "x"}"#),
            Ok(Verdict::Allow)
        );
        assert_eq!(
            call_answer(r#"{"action": "block", "say": "Not now."}"#),
            Ok(Verdict::Block {
                say: Some("Not now.".into())
            })
        );
        assert_eq!(
            call_answer(r#"{"action": "block", "say": null}"#),
            Ok(Verdict::Block { say: None })
        );
    }

    #[test]
    fn unusable_answers_are_named_by_kind() {
        for (answer, problem) in [
            ("", BadAnswer::NotJson),
            ("<html>ok</html>", BadAnswer::NotJson),
            ("allow", BadAnswer::NotJson),
            ("[]", BadAnswer::UnknownAction),
            ("{}", BadAnswer::UnknownAction),
            (r#"{"action": "ALLOW"}"#, BadAnswer::UnknownAction),
            (
                r#"{"action": "rewrite", "body": "x"}"#,
                BadAnswer::UnknownAction,
            ),
            (r#"{"action": 1}"#, BadAnswer::UnknownAction),
            (r#"{"action": "allow", "body": ""}"#, BadAnswer::BadBody),
            (r#"{"action": "allow", "body": 7}"#, BadAnswer::BadBody),
        ] {
            assert_eq!(text_answer(answer), Err(problem), "{answer}");
        }
        let long = "x".repeat(MAX_BODY_CHARS + 1);
        assert_eq!(
            text_answer(&format!(r#"{{"action": "allow", "body": "{long}"}}"#)),
            Err(BadAnswer::BadBody)
        );
        assert_eq!(
            call_answer(&format!(r#"{{"action": "block", "say": "{long}"}}"#)),
            Err(BadAnswer::BadSay)
        );
        // The longest body is taken.
        let longest = "é".repeat(MAX_BODY_CHARS);
        assert_eq!(
            text_answer(&format!(r#"{{"action": "allow", "body": "{longest}"}}"#)),
            Ok(Verdict::Rewrite(longest))
        );
    }

    #[test]
    fn problems_never_repeat_the_answer() {
        let secret = "+15551234567 my secret";
        for answer in [
            format!(r#"{{"action": "{secret}"}}"#),
            format!(r#"{{"action": "allow", "body": ["{secret}"]}}"#),
            secret.to_owned(),
        ] {
            let problem = text_answer(&answer).unwrap_err().to_string();
            assert!(!problem.contains("555"), "{problem}");
        }
    }

    #[test]
    fn a_failure_is_allowed_or_blocked_as_configured() {
        assert_eq!(OnError::default().verdict(), Verdict::Allow);
        assert_eq!(OnError::Block.verdict(), Verdict::Block { say: None });
    }

    #[test]
    fn the_question_is_the_documented_json() {
        let alice = RosterEntry::new("+15550000001", "+15550001111");
        let bob = RosterEntry::new("+15550000002", "+15550002222");
        let question = Question {
            kind: Kind::Message,
            session: "CH1",
            from: (&alice).into(),
            to: vec![(&bob).into()],
            body: Some("hi"),
            media: None,
        };
        assert_eq!(
            serde_json::to_value(&question).unwrap(),
            serde_json::json!({
                "type": "message",
                "session": "CH1",
                "from": {"participant": "+15550000001", "proxy": "+15550001111"},
                "to": [{"participant": "+15550000002", "proxy": "+15550002222"}],
                "body": "hi",
            })
        );
        assert_eq!(call_question_id("CA1"), call_question_id("CA1"));
        assert_ne!(call_question_id("CA1"), call_question_id("CA2"));
    }
}
