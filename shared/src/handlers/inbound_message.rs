//! `POST /inbound-message`: a text to a pool number that no conversation
//! took (the number's messaging webhook, `SmsUrl`). Conversations relays
//! texts between bound pairs itself; what reaches us is out of session, and
//! gets the configured answer: a reply, forwarding, or the backend's word.
//!
//! Answers are messaging TwiML. A forged request is refused (403); every
//! other outcome is a 200, so Twilio never retries into a second reply.

use std::time::Instant;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use sha2::{Digest, Sha256};

use crate::app::AppState;
use crate::config::{Config, Function};
use crate::domain::address::{split_channel, Channel};
use crate::domain::capabilities::Capability;
use crate::domain::instant::unix_now;
use crate::domain::out_of_session::{Disposition, Knock};
use crate::domain::sid::{Sid, SidKind};
use crate::http::webhook::{verified_params, WebhookError};
use crate::http::{response, serve, Invocation};
use crate::out_of_session::{decide, text_knock};
use crate::privacy::Redacted;
use crate::session::{Session, Sessions};
use crate::twilio::twiml::{render, Verb};

pub const PATH: &str = "/inbound-message";
pub use crate::domain::out_of_session::REPLY_AT_MOST_EVERY;
const DEFAULT_OUT_OF_SESSION_TEXT: &str = "This number is not connected to an active conversation.";

pub async fn handle(state: &AppState, req: Request) -> Response<Body> {
    serve(
        req,
        &state.metrics,
        Function::InboundCall,
        PATH,
        async |req, invocation| answer(state, &req, invocation).await,
    )
    .await
}

async fn answer(state: &AppState, req: &Request, invocation: &Invocation) -> Response<Body> {
    if req.method() != Method::POST {
        return response::text(StatusCode::METHOD_NOT_ALLOWED, "POST only");
    }
    // Without configuration the text gets no answer rather than Twilio's
    // error, which would retry it.
    let Ok(config) = state.config.current().await else {
        return twiml(&[]);
    };
    let Ok(credentials) = config.twilio() else {
        return twiml(&[]);
    };
    let params = match verified_params(req, credentials, config.public_base_url.as_ref()) {
        Ok(params) => params,
        Err(err @ WebhookError::Unsigned(_)) | Err(err @ WebhookError::TooLarge) => {
            tracing::warn!(error = %err, "refused an inbound message that Twilio did not sign");
            return response::text(StatusCode::FORBIDDEN, "invalid signature");
        }
    };
    let (Some(from), Some(to), Some(sid)) = (
        params.get("From"),
        params.get("To"),
        params.get("MessageSid").filter(|sid| {
            Sid::parse(sid, SidKind::Message).is_some()
                || Sid::parse(sid, SidKind::MediaMessage).is_some()
        }),
    ) else {
        return twiml(&[]);
    };
    let body = params.get("Body").unwrap_or_default();
    let twilio = state
        .twilio
        .session(credentials, state.budget, invocation.metrics());
    let sessions = state.sessions(&twilio, &config, invocation);
    let text = Text {
        from,
        to,
        body,
        sid,
    };
    let verbs = match sessions.for_call(from, to).await {
        // Conversations took it (Twilio may also tell the number's webhook).
        Ok(Some(session)) => {
            invocation.set_session(&session.sid);
            Vec::new()
        }
        Ok(None) => out_of_session(state, &sessions, &config, &text, invocation).await,
        Err(err) => {
            tracing::error!(sender = %Redacted(from), error = %err, "could not look up an inbound message's session");
            Vec::new()
        }
    };
    twiml(&verbs)
}

/// A text as Twilio handed it over.
struct Text<'a> {
    from: &'a str,
    to: &'a str,
    body: &'a str,
    sid: &'a str,
}

async fn out_of_session(
    state: &AppState,
    sessions: &Sessions<'_>,
    config: &Config,
    text: &Text<'_>,
    invocation: &Invocation,
) -> Vec<Verb> {
    let knock = text_knock(text.from, text.to, text.body, text.sid);
    match decide(config, sessions.deferred(), &knock).await {
        Disposition::Message(reply) => reply_once(state, sessions, config, text, reply).await,
        Disposition::Forward(number) => match split_channel(text.to).0 {
            // The fallback gets the text from the pool number, not the sender's.
            Channel::Sms => vec![Verb::Message {
                text: text.body.to_owned(),
                to: Some(number.to_string()),
                from: Some(text.to.to_owned()),
            }],
            // A WhatsApp text cannot be sent on as an SMS from a WhatsApp sender.
            Channel::Whatsapp => reply_once(state, sessions, config, text, None).await,
        },
        Disposition::Reject => Vec::new(),
        Disposition::CreateSession(body) => match sessions.open_for(&knock, body).await {
            Ok(session) => {
                invocation.set_session(&session.conversation.sid);
                relay_first_text(&session, &knock)
            }
            Err(err) => {
                tracing::warn!(sender = %Redacted(text.from), error = %err, "could not make the session the out-of-session callback asked for");
                reply_once(state, sessions, config, text, None).await
            }
        },
    }
}

/// The text that opened a session, sent on to everyone else in it from
/// their own proxy numbers. Conversations relays every later text; this
/// one arrived before the session existed. Nothing goes out when the
/// session takes no messages.
fn relay_first_text(session: &Session, knock: &Knock<'_>) -> Vec<Verb> {
    let takes_messages = session.capabilities.contains(&Capability::Message);
    if !takes_messages || knock.body.is_none_or(str::is_empty) {
        return Vec::new();
    }
    session
        .participants
        .iter()
        .filter_map(|p| {
            let binding = p.messaging_binding.as_ref()?;
            let address = binding.address.as_deref().filter(|a| *a != knock.from)?;
            Some(Verb::Message {
                text: knock.body.unwrap_or_default().to_owned(),
                to: Some(address.to_owned()),
                from: Some(binding.proxy_address.clone()?),
            })
        })
        .collect()
}

/// The out-of-session reply, unless this sender had it from this number
/// within [`REPLY_AT_MOST_EVERY`] (across environments with the index).
async fn reply_once(
    state: &AppState,
    sessions: &Sessions<'_>,
    config: &Config,
    text: &Text<'_>,
    reply: Option<String>,
) -> Vec<Verb> {
    // The index keeps only a keyed digest (crate::reply_key). Without the
    // stack's key nothing is stored there: a plain hash of the numbers
    // would give the sender's number away, so the throttle is then this
    // environment's alone (in memory, never stored), which still stops two
    // auto-responders texting each other through one environment.
    let keyed = config
        .reply_key
        .as_ref()
        .map(|k| k.pair(text.from, text.to));
    let local = keyed
        .clone()
        .unwrap_or_else(|| pair_digest(text.from, text.to));
    let mut first = state.replies.claim(&local, Instant::now());
    if let (true, Some(index), Some(pair)) = (first, sessions.index(), keyed) {
        let now = unix_now();
        match index
            .claim_reply(&pair, now, now + REPLY_AT_MOST_EVERY.as_secs())
            .await
        {
            Ok(claimed) => first = claimed,
            // This environment's ledger decides.
            Err(err) => {
                tracing::warn!(error = %err, "the index could not record an out-of-session reply")
            }
        }
    }
    if !first {
        tracing::info!(sender = %Redacted(text.from), "out-of-session reply already sent within the hour; not repeating it");
        return Vec::new();
    }
    let text = reply
        .or_else(|| config.out_of_session_text.clone())
        .unwrap_or_else(|| DEFAULT_OUT_OF_SESSION_TEXT.to_owned());
    vec![Verb::Message {
        text,
        to: None,
        from: None,
    }]
}

/// Sender and pool number, as a digest: this environment's in-memory
/// ledger's name for them when the stack has no reply key.
fn pair_digest(from: &str, to: &str) -> String {
    hex::encode(&Sha256::digest(format!("{from}|{to}").as_bytes())[..16])
}

fn twiml(verbs: &[Verb]) -> Response<Body> {
    response::twiml(render(verbs))
}
