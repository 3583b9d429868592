//! `POST /call-events`: how a connected call went, from Twilio (signed).
//! The `<Dial action>` request says it ended (`DialCallStatus`,
//! `DialCallDuration`), the recording callback where its recording is. The
//! call log is updated and, once both are in (or the first when the session
//! does not record), `call.ended` goes to the event receiver.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};

use crate::app::AppState;
use crate::config::{Config, Function};
use crate::deferred::call_data;
use crate::deferred::Job;
use crate::domain::instant::unix_now;
use crate::domain::sid::{Sid, SidKind};
use crate::events::{Event, EventType};
use crate::http::webhook::{verified_params, WebhookParams};
use crate::http::{response, serve, Invocation};
use crate::index::{CallItem, PendingRecording};
use crate::twilio::twiml::{render, Tracking, Verb};

pub const PATH: &str = "/call-events";

/// Where Twilio reports on calls of `session`.
pub fn tracking(base_url: &str, session: &str, record: bool) -> Tracking {
    Tracking {
        action: format!("{base_url}{PATH}?session={session}"),
        recording_callback: record
            .then(|| format!("{base_url}{PATH}?session={session}&kind=recording")),
    }
}

pub async fn handle(state: &AppState, req: Request) -> Response<Body> {
    serve(
        req,
        &state.metrics,
        Function::InboundCall,
        PATH,
        async |req, invocation| {
            let status = answer(state, &req, invocation).await;
            if status == StatusCode::OK {
                // The action's answer is what the caller's leg does next.
                response::twiml(render(&[Verb::Hangup]))
            } else {
                response::text(status, status.canonical_reason().unwrap_or_default())
            }
        },
    )
    .await
}

async fn answer(state: &AppState, req: &Request, invocation: &Invocation) -> StatusCode {
    if req.method() != Method::POST {
        return StatusCode::METHOD_NOT_ALLOWED;
    }
    let Ok(config) = state.config.current().await else {
        return StatusCode::SERVICE_UNAVAILABLE;
    };
    let Ok(credentials) = config.twilio() else {
        return StatusCode::SERVICE_UNAVAILABLE;
    };
    let params = match verified_params(req, credentials, config.public_base_url.as_ref()) {
        Ok(params) => params,
        Err(err) => {
            tracing::warn!(error = %err, "refused a call event that Twilio did not sign");
            return StatusCode::FORBIDDEN;
        }
    };
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let from_query = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let Some(session) =
        from_query("session").filter(|s| Sid::parse(s, SidKind::Conversation).is_some())
    else {
        return StatusCode::BAD_REQUEST;
    };
    invocation.set_session(session);
    let call_sid = params
        .get("CallSid")
        .filter(|s| Sid::parse(s, SidKind::Call).is_some());
    if from_query("kind") == Some("recording") {
        // A conference's recording may name no call: its RecordingSid
        // (and ConferenceSid) link it to the session instead.
        let Some(recording) = Recording::read(&params, call_sid) else {
            return StatusCode::BAD_REQUEST;
        };
        return recorded(state, &config, invocation, session, recording).await;
    }
    let Some(call_sid) = call_sid else {
        return StatusCode::BAD_REQUEST;
    };
    // Without a call log (no index, or a call that ended before its start
    // was logged), the end is all there is to tell.
    let tell_end_only = || {
        let data = serde_json::json!({
            "call_sid": call_sid,
            "status": params.get("DialCallStatus"),
            "duration": duration(&params),
        });
        state.deferred.event(
            &config,
            Event::new(
                EventType::CallEnded,
                session,
                Some(call_sid),
                unix_now(),
                data,
            ),
        );
        StatusCode::OK
    };
    let Some(index) = &state.index else {
        return tell_end_only();
    };
    let index = index.for_invocation(invocation.index_requests());
    let mut call = match index.call(session, call_sid).await {
        Ok(Some(call)) => call,
        Ok(None) => return tell_end_only(),
        Err(err) => {
            tracing::error!(error = %err, "could not read the call log");
            return StatusCode::SERVICE_UNAVAILABLE;
        }
    };
    call.status = params
        .get("DialCallStatus")
        .unwrap_or("completed")
        .to_owned();
    call.duration = duration(&params).or(call.duration);
    match index.put_call(session, &call).await {
        Ok(true) => {}
        // Closed meanwhile: its log is gone, and stays gone.
        Ok(false) => return tell_end_only(),
        Err(err) => {
            tracing::error!(error = %err, "could not update the call log");
            return StatusCode::SERVICE_UNAVAILABLE;
        }
    }
    tell_if_complete(state, &config, session, &call);
    StatusCode::OK
}

/// Whichever of the end and the recording arrives second tells.
fn tell_if_complete(state: &AppState, config: &Config, session: &str, call: &CallItem) {
    let told = call.status != "in-progress" && (!call.recorded || call.recording_sid.is_some());
    if told {
        state.deferred.event(
            config,
            Event::new(
                EventType::CallEnded,
                session,
                Some(&call.call_sid),
                unix_now(),
                call_data(call),
            ),
        );
    }
}

/// What a recording callback says (Twilio's parameters; a conference's
/// recording carries `ConferenceSid` and may carry no `CallSid`).
struct Recording<'a> {
    sid: &'a str,
    call_sid: Option<&'a str>,
    conference_sid: Option<&'a str>,
    url: Option<&'a str>,
}

impl<'a> Recording<'a> {
    fn read(params: &'a WebhookParams, call_sid: Option<&'a str>) -> Option<Self> {
        Some(Recording {
            sid: params
                .get("RecordingSid")
                .filter(|s| Sid::parse(s, SidKind::Recording).is_some())?,
            call_sid,
            conference_sid: params
                .get("ConferenceSid")
                .filter(|s| Sid::parse(s, SidKind::Conference).is_some()),
            url: params.get("RecordingUrl"),
        })
    }
}

/// A recording is written where its session's close finds it (its call's
/// log entry, or a waiting entry under the session); a recording of a
/// session no longer indexed is deleted at once, whichever way it came.
async fn recorded(
    state: &AppState,
    config: &Config,
    invocation: &Invocation,
    session: &str,
    recording: Recording<'_>,
) -> StatusCode {
    let Some(index) = &state.index else {
        // Recording needs the index (sessions refuse it without one).
        return StatusCode::OK;
    };
    let index = index.for_invocation(invocation.index_requests());
    let delete = || {
        tracing::info!(%session, "a recording arrived after its session closed; deleting it");
        state
            .deferred
            .push(Job::DeleteRecordings(vec![recording.sid.to_owned()]));
        StatusCode::OK
    };
    if let Some(call_sid) = recording.call_sid {
        match index.call(session, call_sid).await {
            Ok(Some(mut call)) => {
                call.recording_sid = Some(recording.sid.to_owned());
                call.recording_url = recording.url.map(str::to_owned);
                return match index.put_call(session, &call).await {
                    Ok(true) => {
                        tell_if_complete(state, config, session, &call);
                        StatusCode::OK
                    }
                    Ok(false) => delete(),
                    Err(err) => {
                        tracing::error!(error = %err, "could not update the call log");
                        StatusCode::SERVICE_UNAVAILABLE
                    }
                };
            }
            Ok(None) => {}
            Err(err) => {
                tracing::error!(error = %err, "could not read the call log");
                return StatusCode::SERVICE_UNAVAILABLE;
            }
        }
    }
    // No log entry to hold it (yet): a waiting entry under the session,
    // expiring with it, linked when the call is logged.
    let indexed = match index.session(session).await {
        Ok(Some(indexed)) => indexed,
        Ok(None) => return delete(),
        Err(err) => {
            tracing::error!(error = %err, "could not read the session index");
            return StatusCode::SERVICE_UNAVAILABLE;
        }
    };
    let pending = PendingRecording::new(
        session,
        recording.sid,
        recording.call_sid,
        recording.conference_sid,
        recording.url,
        crate::index::expiry::of_session(indexed.expires_at, unix_now()),
    );
    match index.put_pending_recording(session, &pending).await {
        Ok(true) => StatusCode::OK,
        Ok(false) => delete(),
        Err(err) => {
            tracing::error!(error = %err, "could not keep a recording for its session");
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}

fn duration(params: &WebhookParams) -> Option<u64> {
    params
        .get("DialCallDuration")
        .or_else(|| params.get("CallDuration"))
        .and_then(|d| d.parse().ok())
}
