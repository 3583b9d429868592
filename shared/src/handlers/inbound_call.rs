//! `POST /inbound-call`: a participant dialled their proxy number. We find
//! their session with one Twilio request and answer with TwiML.
//!
//! The caller must never hear Twilio's "application error": every outcome
//! except a forged request is a 200 with valid TwiML.

use std::sync::LazyLock;
use std::time::Instant;

use futures_util::future::join_all;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};

use crate::app::AppState;
use crate::config::{CallSettings, Config, Function};
use crate::deferred::{CallStart, Job};
use crate::domain::instant::unix_now;
use crate::domain::intercept::{call_question_id, Kind, Party, Question, Verdict};
use crate::domain::out_of_session::Disposition;
use crate::domain::roster::RosterEntry;
use crate::domain::routing::{plan_call, CallPlan};
use crate::domain::sid::{Sid, SidKind};
use crate::fanout::FanOutLedger;
use crate::handlers::{call_events, inbound_message};
use crate::http::route::{Route, Router};
use crate::http::webhook::{verified_params, WebhookError};
use crate::http::{origin, response, serve, Invocation};
use crate::intercept;
use crate::metrics::CallOutcome;
use crate::out_of_session::{call_knock, decide};
use crate::privacy::Redacted;
use crate::session::lookup::CallSession;
use crate::session::{SessionError, Sessions};
use crate::twilio::twiml::{render, Verb, Voice};
use crate::twilio::{Twilio, TwilioError};

const DEFAULT_OUT_OF_SESSION: &str =
    "This number is not connected to an active conversation. Goodbye.";
const UNAVAILABLE: &str = "Sorry, we cannot connect your call right now. Please try again later.";
const MESSAGE_ONLY: &str =
    "This conversation takes messages only. Please send a text message instead. Goodbye.";
/// Said to a caller the intercept blocked, unless it or
/// `intercept/blocked-call-say` says otherwise.
const BLOCKED: &str = "Sorry, this call cannot be connected. Goodbye.";
const NOBODY_DIALABLE: &str =
    "The other participants in this conversation cannot take calls. Please send a message instead.";

/// Where Twilio sends a pool number's calls (`make twilio-setup` points them here).
pub const PATH: &str = "/inbound-call";

/// The seed app's path for calls, still answered for those who moved from it.
pub const SEED_PATH: &str = "/proxypoc/inboundCall";

/// The inbound-call function's webhooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Webhook {
    Call,
    CallEvents,
    InboundMessage,
}

pub static ROUTES: &[Route<Webhook>] = &[
    Route::new("POST", PATH, Webhook::Call),
    Route::new("POST", SEED_PATH, Webhook::Call),
    Route::new("POST", call_events::PATH, Webhook::CallEvents),
    Route::new("POST", inbound_message::PATH, Webhook::InboundMessage),
];

fn router() -> &'static Router<Webhook> {
    static ROUTER: LazyLock<Router<Webhook>> = LazyLock::new(|| Router::new(ROUTES));
    &ROUTER
}

/// The inbound-call function's requests, all Twilio's webhooks for pool
/// numbers: calls (`/inbound-call`, and the seed app's
/// `/proxypoc/inboundCall`), how they went (`/call-events`), and texts no
/// conversation took (`/inbound-message`).
pub async fn handle(state: &AppState, req: Request) -> Response<Body> {
    let found = router()
        .find(req.method(), req.uri().path())
        .map(|found| found.route.name);
    match found {
        Ok(Webhook::CallEvents) => call_events::handle(state, req).await,
        Ok(Webhook::InboundMessage) => inbound_message::handle(state, req).await,
        Ok(Webhook::Call) => {
            serve(
                req,
                &state.metrics,
                Function::InboundCall,
                PATH,
                async |req, invocation| answer(state, &req, invocation).await,
            )
            .await
        }
        Err(miss) => {
            let answer = async |_, _: &Invocation| miss.into_text_response();
            serve(req, &state.metrics, Function::InboundCall, PATH, answer).await
        }
    }
}

async fn answer(state: &AppState, req: &Request, invocation: &Invocation) -> Response<Body> {
    if req.method() != Method::POST {
        return response::text(StatusCode::METHOD_NOT_ALLOWED, "POST only");
    }
    let calls = invocation.metrics();
    let config = match state.config.current().await {
        Ok(config) => config,
        // The store logged why; the caller hears an apology, not an error.
        Err(_) => {
            calls.call_answered(CallOutcome::Apology);
            return twiml(&apology(&CallSettings::default()));
        }
    };
    let Ok(credentials) = config.twilio() else {
        calls.call_answered(CallOutcome::Apology);
        return twiml(&apology(&config.call));
    };
    let params = match verified_params(req, credentials, config.public_base_url.as_ref()) {
        Ok(params) => params,
        Err(err @ WebhookError::Unsigned(_)) | Err(err @ WebhookError::TooLarge) => {
            tracing::warn!(error = %err, "refused an inbound-call request that Twilio did not sign");
            return response::text(StatusCode::FORBIDDEN, "invalid signature");
        }
    };
    let (Some(caller), Some(proxy), Some(call_sid)) = (
        params.get("From"),
        params.get("To").or_else(|| params.get("Called")),
        params
            .get("CallSid")
            .filter(|sid| Sid::parse(sid, SidKind::Call).is_some()),
    ) else {
        calls.call_answered(CallOutcome::OutOfSession);
        return twiml(&out_of_session(&config.call, None));
    };
    let call = InboundCall {
        caller,
        proxy,
        call_sid,
        base_url: origin::base_url(req, config.public_base_url.as_ref()),
    };

    let twilio = state
        .twilio
        .session(credentials, state.budget, invocation.metrics());
    let sessions = state.sessions(&twilio, &config, invocation);
    let verbs = match route(&sessions, &config, &call, &state.fanout).await {
        Ok(Routed {
            verbs,
            session,
            outcome,
        }) => {
            if let Some(sid) = session {
                invocation.set_session(&sid);
            }
            calls.call_answered(outcome);
            verbs
        }
        Err(err) => {
            tracing::error!(caller = %Redacted(caller), error = %err, "could not route a call");
            calls.call_answered(CallOutcome::Apology);
            apology(&config.call)
        }
    };
    twiml(&verbs)
}

/// Who dialled which proxy, on which call, and where Twilio reaches us.
struct InboundCall<'a> {
    caller: &'a str,
    proxy: &'a str,
    call_sid: &'a str,
    base_url: String,
}

struct Routed {
    verbs: Vec<Verb>,
    session: Option<String>,
    outcome: CallOutcome,
}

async fn route(
    sessions: &Sessions<'_>,
    config: &Config,
    call: &InboundCall<'_>,
    fanout: &FanOutLedger,
) -> Result<Routed, SessionError> {
    match sessions.for_call(call.caller, call.proxy).await? {
        Some(session) => connect(sessions, config, call, fanout, session).await,
        None => {
            let (verbs, outcome) = out_of_session_call(sessions, config, call, fanout).await?;
            Ok(Routed {
                verbs,
                session: None,
                outcome,
            })
        }
    }
}

/// No session binds the caller to this number: the configured answer, or
/// the backend's (which may make a session and put the call through).
async fn out_of_session_call(
    sessions: &Sessions<'_>,
    config: &Config,
    call: &InboundCall<'_>,
    fanout: &FanOutLedger,
) -> Result<(Vec<Verb>, CallOutcome), SessionError> {
    let knock = call_knock(call.caller, call.proxy, call.call_sid);
    let refused = || {
        (
            out_of_session(&config.call, None),
            CallOutcome::OutOfSession,
        )
    };
    Ok(match decide(config, sessions.deferred(), &knock).await {
        Disposition::Message(text) => (
            out_of_session(&config.call, text.as_deref()),
            CallOutcome::OutOfSession,
        ),
        // The fallback sees the pool number, never the caller's.
        Disposition::Forward(number) => (
            vec![Verb::DialNumber {
                caller_id: call.proxy.to_owned(),
                number: number.to_string(),
                tracking: None,
            }],
            CallOutcome::Forwarded,
        ),
        Disposition::Reject => (vec![Verb::Reject], CallOutcome::Rejected),
        Disposition::CreateSession(body) => match sessions.open_for(&knock, body).await {
            // Twilio is the judge: the call goes through as any call in a session.
            Ok(_) => match sessions.for_call(call.caller, call.proxy).await? {
                Some(session) => {
                    let routed = Box::pin(connect(sessions, config, call, fanout, session)).await?;
                    (routed.verbs, routed.outcome)
                }
                None => refused(),
            },
            Err(err) => {
                tracing::warn!(caller = %Redacted(call.caller), error = %err, "could not make the session the out-of-session callback asked for");
                refused()
            }
        },
    })
}

/// A call in `session`: connected, refused (message-only), or rung into a
/// conference.
async fn connect(
    sessions: &Sessions<'_>,
    config: &Config,
    call: &InboundCall<'_>,
    fanout: &FanOutLedger,
    session: CallSession,
) -> Result<Routed, SessionError> {
    let InboundCall { caller, proxy, .. } = *call;
    let room = format!("mc-{}", call.call_sid);
    if !session.capabilities.voice {
        let text = config
            .call
            .message_only_message
            .as_deref()
            .unwrap_or(MESSAGE_ONLY);
        return Ok(Routed {
            verbs: vec![say(text, &config.call), Verb::Hangup],
            session: Some(session.sid),
            outcome: CallOutcome::MessageOnly,
        });
    }
    let plan = match session
        .roster
        .as_deref()
        .and_then(|r| plan_call(caller, proxy, r, &room))
    {
        Some(plan) => Some(plan),
        // Our record but no usable roster (a create still running, or
        // attributes edited by hand): ask Twilio who is in it.
        None => {
            let roster = sessions.roster_from_participants(&session.sid).await?;
            plan_call(caller, proxy, &roster, &room)
        }
    };
    // Twilio tells /call-events how the call ended (the call log, events)
    // and where its recording is, when the session records.
    let tracking = (sessions.index().is_some() || config.events.is_some() || session.record)
        .then(|| call_events::tracking(&call.base_url, &session.sid, session.record));
    // The intercept has its say once the callees are known, while the
    // conference's fan-out is claimed (a blocked call's claim stands: a
    // replay of it must not ring anyone either).
    let question = plan
        .as_ref()
        .and_then(|plan| call_question(&session.sid, call, plan));
    let asking = async {
        match &question {
            Some(question) => {
                let id = call_question_id(call.call_sid);
                intercept::ask(
                    config,
                    sessions.deferred(),
                    sessions.metrics(),
                    question,
                    &id,
                )
                .await
            }
            None => None,
        }
    };
    let claiming = async {
        match plan {
            Some(CallPlan::Conference { .. }) => {
                first_fan_out(sessions, fanout, call.call_sid).await
            }
            _ => false,
        }
    };
    let (verdict, first) = tokio::join!(asking, claiming);
    if let Some(Verdict::Block { say: text }) = verdict {
        let text = text
            .as_deref()
            .or(config
                .intercept
                .as_ref()
                .and_then(|i| i.blocked_call_say.as_deref()))
            .unwrap_or(BLOCKED);
        return Ok(Routed {
            verbs: vec![say(text, &config.call), Verb::Hangup],
            session: Some(session.sid),
            outcome: CallOutcome::Blocked,
        });
    }
    // The call log (index) and call.started (events); neither, no work.
    if sessions.index().is_some() || config.events.is_some() {
        if let Some(start) = plan
            .as_ref()
            .and_then(|plan| call_start(&session, call, plan))
        {
            sessions.deferred().push(Job::CallStarted(start));
        }
    }
    let (verbs, outcome) = match plan {
        None => (
            out_of_session(&config.call, None),
            CallOutcome::OutOfSession,
        ),
        Some(CallPlan::NobodyDialable) => (
            vec![say(NOBODY_DIALABLE, &config.call), Verb::Hangup],
            CallOutcome::NobodyDialable,
        ),
        Some(CallPlan::Connect { callee }) => (
            with_announcement(
                &config.call,
                Verb::DialNumber {
                    caller_id: callee.proxy,
                    number: callee.address,
                    tracking,
                },
            ),
            CallOutcome::Connected,
        ),
        Some(CallPlan::Conference { room, callees }) => {
            if first {
                ring_into_conference(sessions.twilio(), &room, &callees).await?;
            } else {
                // A replay: the others were rung for this call already.
                tracing::warn!(session = %session.sid, "inbound call replayed; not ringing the others again");
            }
            (
                with_announcement(
                    &config.call,
                    Verb::DialConference {
                        room,
                        end_on_exit: true,
                        tracking,
                    },
                ),
                CallOutcome::Conference,
            )
        }
    };
    Ok(Routed {
        verbs,
        session: Some(session.sid),
        outcome,
    })
}

/// Whether this call's fan-out has not happened yet, across every execution
/// environment when the index is there (else in this one). An index that
/// cannot answer does not stop the call: this environment's ledger decides.
async fn first_fan_out(sessions: &Sessions<'_>, fanout: &FanOutLedger, call_sid: &str) -> bool {
    let here = fanout.claim(call_sid, Instant::now());
    let Some(index) = sessions.index() else {
        return here;
    };
    let forget_after = unix_now() + crate::fanout::REMEMBER_FOR.as_secs();
    match index.claim_fanout(call_sid, forget_after).await {
        Ok(first) => first && here,
        Err(err) => {
            tracing::warn!(error = %err, "the index could not record a call's fan-out");
            here
        }
    }
}

/// What the intercept is asked about a call that would connect.
fn call_question<'a>(
    session: &'a str,
    call: &'a InboundCall<'_>,
    plan: &'a CallPlan,
) -> Option<Question<'a>> {
    let callees = match plan {
        CallPlan::Connect { callee } => std::slice::from_ref(callee),
        CallPlan::Conference { callees, .. } => callees.as_slice(),
        CallPlan::NobodyDialable => return None,
    };
    Some(Question {
        kind: Kind::Call,
        session,
        from: Party {
            participant: call.caller,
            proxy: Some(call.proxy),
        },
        to: callees.iter().map(Party::from).collect(),
        body: None,
        media: None,
    })
}

/// What the call log needs to know of a call that connects.
fn call_start(session: &CallSession, call: &InboundCall<'_>, plan: &CallPlan) -> Option<CallStart> {
    let (callees, conference) = match plan {
        CallPlan::Connect { callee } => (vec![callee], false),
        CallPlan::Conference { callees, .. } => (callees.iter().collect(), true),
        CallPlan::NobodyDialable => return None,
    };
    Some(CallStart {
        session: session.sid.clone(),
        call_sid: call.call_sid.to_owned(),
        caller: (call.caller.to_owned(), call.proxy.to_owned()),
        callees: callees
            .into_iter()
            .map(|c| (c.address.clone(), c.proxy.clone()))
            .collect(),
        conference,
        started: iso_now(),
        recorded: session.record,
        expires_at: session.expires_at,
    })
}

/// Now, as Twilio writes times (UTC, whole seconds).
fn iso_now() -> String {
    crate::domain::instant::iso8601(unix_now())
}

/// Calls every other participant into the conference, each from their own
/// proxy number. Fails only when nobody could be called.
async fn ring_into_conference(
    twilio: &Twilio<'_>,
    room: &str,
    callees: &[RosterEntry],
) -> Result<(), TwilioError> {
    let join = render(&[Verb::DialConference {
        room: room.to_owned(),
        end_on_exit: false,
        tracking: None,
    }]);
    let results = join_all(
        callees
            .iter()
            .map(|c| twilio.create_call(&c.proxy, &c.address, &join)),
    )
    .await;
    let mut first_error = None;
    let mut rung = 0;
    for (callee, result) in callees.iter().zip(results) {
        match result {
            Ok(_) => rung += 1,
            Err(err) => {
                tracing::warn!(callee = %Redacted(&callee.address), error = %err, "could not call a participant into the conference");
                first_error.get_or_insert(err);
            }
        }
    }
    match first_error {
        Some(err) if rung == 0 => Err(err),
        _ => Ok(()),
    }
}

fn voice(call: &CallSettings) -> Voice {
    Voice {
        voice: call.voice.clone(),
        language: call.language.clone(),
    }
}

fn say(text: &str, call: &CallSettings) -> Verb {
    Verb::Say {
        text: text.to_owned(),
        voice: voice(call),
    }
}

fn with_announcement(call: &CallSettings, dial: Verb) -> Vec<Verb> {
    match &call.connecting_announcement {
        Some(text) => vec![say(text, call), dial],
        None => vec![dial],
    }
}

/// The out-of-session message: the backend's text, else the configured one.
fn out_of_session(call: &CallSettings, text: Option<&str>) -> Vec<Verb> {
    let text = text
        .or(call.out_of_session_message.as_deref())
        .unwrap_or(DEFAULT_OUT_OF_SESSION);
    vec![say(text, call), Verb::Hangup]
}

fn apology(call: &CallSettings) -> Vec<Verb> {
    vec![say(UNAVAILABLE, call), Verb::Hangup]
}

fn twiml(verbs: &[Verb]) -> Response<Body> {
    response::twiml(render(verbs))
}
