//! `POST /call-events`: how a connected call went, from Twilio (signed).
//! The `<Dial action>` request says it ended (`DialCallStatus`,
//! `DialCallDuration`), the recording callback where its recording is. The
//! call log is updated and, once both are in (or the first when the session
//! does not record), `call.ended` goes to the event receiver.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};

use crate::app::AppState;
use crate::config::Function;
use crate::deferred::call_data;
use crate::deferred::Job;
use crate::domain::sid::{is_sid_shaped, Sid, SidKind};
use crate::events::{Event, EventType};
use crate::http::webhook::{verified_params, WebhookParams};
use crate::http::{response, serve, Invocation};
use crate::session::unix_now;
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
    let (Some(session), Some(call_sid)) = (
        from_query("session").filter(|s| Sid::parse(s, SidKind::Conversation).is_some()),
        params
            .get("CallSid")
            .filter(|s| Sid::parse(s, SidKind::Call).is_some()),
    ) else {
        return StatusCode::BAD_REQUEST;
    };
    invocation.set_session(session);
    let recording = from_query("kind") == Some("recording");
    // Without a call log (no index, or a call that ended before its start
    // was logged), the end is all there is to tell.
    let tell_end_only = || {
        if !recording {
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
        }
        StatusCode::OK
    };
    let Some(index) = &state.index else {
        return tell_end_only();
    };
    let index = index.for_invocation(invocation.index_requests());
    let mut call = match index.call(session, call_sid).await {
        Ok(Some(call)) => call,
        Ok(None) if recording => {
            // A recording of a session whose data is gone (closed while the
            // recording was being made) is deleted, like its others were.
            match index.session(session).await {
                Ok(None) => {
                    if let Some(sid) = params.get("RecordingSid").filter(|s| is_sid_shaped(s)) {
                        tracing::info!(%session, "a recording arrived after its session closed; deleting it");
                        state
                            .deferred
                            .push(Job::DeleteRecordings(vec![sid.to_owned()]));
                    }
                    return StatusCode::OK;
                }
                Ok(Some(_)) => return tell_end_only(),
                Err(err) => {
                    tracing::error!(error = %err, "could not read the session index");
                    return StatusCode::SERVICE_UNAVAILABLE;
                }
            }
        }
        Ok(None) => return tell_end_only(),
        Err(err) => {
            tracing::error!(error = %err, "could not read the call log");
            return StatusCode::SERVICE_UNAVAILABLE;
        }
    };
    if recording {
        call.recording_sid = params.get("RecordingSid").map(str::to_owned);
        call.recording_url = params.get("RecordingUrl").map(str::to_owned);
    } else {
        call.status = params
            .get("DialCallStatus")
            .unwrap_or("completed")
            .to_owned();
        call.duration = duration(&params).or(call.duration);
    }
    if let Err(err) = index.put_call(&call).await {
        tracing::error!(error = %err, "could not update the call log");
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    // Whichever of the end and the recording arrives second tells.
    let told = call.status != "in-progress" && (!call.recorded || call.recording_sid.is_some());
    if told {
        state.deferred.event(
            &config,
            Event::new(
                EventType::CallEnded,
                session,
                Some(call_sid),
                unix_now(),
                call_data(&call),
            ),
        );
    }
    StatusCode::OK
}

fn duration(params: &WebhookParams) -> Option<u64> {
    params
        .get("DialCallDuration")
        .or_else(|| params.get("CallDuration"))
        .and_then(|d| d.parse().ok())
}
