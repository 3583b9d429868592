//! Calls: those our server creates through the Calls API, the inbound ones the emulator
//! places toward us, how each one ends, and the recordings they leave.
//!
//! Ending a call plays the rest of it as Twilio would, as a list of signed callbacks in
//! the order Twilio typically sends them: for a `<Dial><Number>` the child leg's status
//! events, then the `<Dial action>` request, then the parent's `completed` status, then
//! recording callbacks (Twilio processes recordings after the call). The child leg always
//! answers and talks for the given duration. `<Conference>` dials have no child leg;
//! `<Client>`, `<Sip>` and other nouns are not played (only the action request is sent).

use serde::Serialize;

use crate::{
    clock::rfc2822,
    conversations_webhooks::is_absolute_http_url,
    errors::{codes, TwilioError},
    state::new_sid,
    twiml::{self, Dial, DialTarget},
    webhooks::{HttpMethod, Outgoing, WebhookDelivery, WebhookOutcome},
};

/// Twilio's call progress events, in the order a call goes through them.
const STATUS_EVENTS: [&str; 4] = ["initiated", "ringing", "answered", "completed"];
const RECORDING_EVENTS: [&str; 3] = ["in-progress", "completed", "absent"];
/// `Twiml` on the Calls API is at most this many characters.
pub(crate) const MAX_TWIML_CHARS: usize = 4000;

/// The `CallStatus` a progress event reports.
fn call_status(event: &str) -> &'static str {
    match event {
        "initiated" => "initiated",
        "ringing" => "ringing",
        "answered" => "in-progress",
        _ => "completed",
    }
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ended {
    pub duration: u64,
}

/// A call created through `POST .../Calls.json`, with what it asked for.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub sid: String,
    /// Creation order among all calls, inbound ones included.
    pub seq: u64,
    pub to: String,
    pub from: String,
    pub twiml: Option<String>,
    pub url: Option<String>,
    pub status_callback: Option<String>,
    pub status_callback_events: Vec<String>,
    pub status_callback_method: Option<HttpMethod>,
    pub record: bool,
    pub recording_channels: Option<String>,
    pub recording_status_callback: Option<String>,
    pub recording_status_callback_events: Vec<String>,
    pub recording_status_callback_method: Option<HttpMethod>,
    pub timeout: Option<u32>,
    pub created: u64,
    pub ended: Option<Ended>,
}

/// Each value of a repeated list parameter, each also split on spaces (Twilio's
/// libraries send repeats; hand-written requests often send one spaced value).
fn list_param(form: &[(String, String)], name: &str) -> Vec<String> {
    let mut values: Vec<String> = Vec::new();
    for (_, value) in form.iter().filter(|(k, _)| k == name) {
        for v in value.split_whitespace() {
            if !values.iter().any(|known| known == v) {
                values.push(v.to_owned());
            }
        }
    }
    values
}

impl Call {
    /// Validates a create-call form the way Twilio does, in Twilio's order of checks.
    pub(crate) fn from_form(
        form: &[(String, String)],
        seq: u64,
        now: u64,
    ) -> Result<Self, TwilioError> {
        let get = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let bad = |code: u32, message: String| TwilioError::bad_request(code, message);
        let to = get("To").ok_or_else(|| {
            bad(
                codes::CALL_TO_REQUIRED,
                "A 'To' phone number is required.".into(),
            )
        })?;
        let from = get("From").ok_or_else(|| {
            bad(
                codes::CALL_FROM_REQUIRED,
                "A 'From' phone number is required.".into(),
            )
        })?;
        let twiml = get("Twiml");
        let url = get("Url");
        if twiml.is_none() && url.is_none() {
            return Err(bad(
                codes::CALL_URL_REQUIRED,
                "Either Url or Twiml is required".into(),
            ));
        }
        if let Some(t) = &twiml {
            let length = t.chars().count();
            if length > MAX_TWIML_CHARS {
                return Err(bad(
                    codes::TWIML_TOO_LARGE,
                    format!("Twiml size exceeded maximum allowed value of {MAX_TWIML_CHARS} characters ({length})"),
                ));
            }
        }
        let callback_url = |name: &str| -> Result<Option<String>, TwilioError> {
            match get(name) {
                Some(u) if !is_absolute_http_url(&u) => Err(bad(
                    codes::INVALID_CALLBACK_URL,
                    format!("{name} is not a valid URL: {u}"),
                )),
                other => Ok(other),
            }
        };
        let method = |name: &str| -> Result<Option<HttpMethod>, TwilioError> {
            get(name)
                .map(|m| {
                    HttpMethod::parse(&m).ok_or_else(|| {
                        bad(
                            codes::CALL_INVALID_METHOD,
                            format!("{name} must be GET or POST, got {m}"),
                        )
                    })
                })
                .transpose()
        };
        let status_callback_events = list_param(form, "StatusCallbackEvent");
        if let Some(e) = status_callback_events
            .iter()
            .find(|e| !STATUS_EVENTS.contains(&e.as_str()))
        {
            return Err(bad(
                codes::CALL_INVALID_STATUS_CALLBACK_EVENT,
                format!("Invalid StatusCallbackEvent {e}"),
            ));
        }
        let recording_status_callback_events = list_param(form, "RecordingStatusCallbackEvent");
        if let Some(e) = recording_status_callback_events
            .iter()
            .find(|e| !RECORDING_EVENTS.contains(&e.as_str()))
        {
            return Err(bad(
                codes::INVALID_PARAMETER_2010,
                format!("Invalid RecordingStatusCallbackEvent {e}"),
            ));
        }
        let record = match get("Record").as_deref() {
            None => false,
            Some(v) if v.eq_ignore_ascii_case("true") => true,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            Some(v) => {
                return Err(bad(
                    codes::INVALID_PARAMETER_2010,
                    format!("Record must be true or false, got {v}"),
                ))
            }
        };
        let recording_channels = get("RecordingChannels");
        if let Some(c) = recording_channels.as_deref() {
            if c != "mono" && c != "dual" {
                return Err(bad(
                    codes::INVALID_PARAMETER_2010,
                    format!("RecordingChannels must be mono or dual, got {c}"),
                ));
            }
        }
        let timeout = get("Timeout")
            .map(|t| {
                t.parse::<u32>().ok().filter(|t| *t > 0).ok_or_else(|| {
                    bad(
                        codes::CALL_INVALID_TIMEOUT,
                        format!("Timeout must be a positive whole number of seconds, got {t}"),
                    )
                })
            })
            .transpose()?;
        Ok(Self {
            sid: new_sid("CA"),
            seq,
            to,
            from,
            twiml,
            url,
            status_callback: callback_url("StatusCallback")?,
            status_callback_events,
            status_callback_method: method("StatusCallbackMethod")?,
            record,
            recording_channels,
            recording_status_callback: callback_url("RecordingStatusCallback")?,
            recording_status_callback_events,
            recording_status_callback_method: method("RecordingStatusCallbackMethod")?,
            timeout,
            created: now,
            ended: None,
        })
    }
}

/// An inbound call the emulator placed toward our voice webhook, and what we answered.
#[derive(Debug, Clone)]
pub(crate) struct InboundCall {
    pub sid: String,
    pub seq: u64,
    pub from: String,
    pub to: String,
    /// The URL of the TwiML document (relative `action` URLs resolve against it).
    pub url: String,
    pub answer: Result<WebhookOutcome, String>,
    pub ended: Option<Ended>,
}

impl InboundCall {
    /// The TwiML we answered, when we answered with a success.
    pub(crate) fn twiml(&self) -> Option<&str> {
        self.answer
            .as_ref()
            .ok()
            .filter(|o| (200..300).contains(&o.status))
            .map(|o| o.body.as_str())
    }
}

/// A recording a call left; it exists until deleted.
#[derive(Debug, Clone)]
pub(crate) struct Recording {
    pub sid: String,
    /// The parent call (for a `<Dial>` recording, the call that dialled).
    pub call_sid: String,
    pub channels: u8,
    /// `DialVerb` or `OutboundAPI`.
    pub source: &'static str,
    pub duration: u64,
    pub started: u64,
}

/// Facts every callback needs.
pub(crate) struct Env<'a> {
    pub account_sid: &'a str,
    pub base_url: &'a str,
    pub now: u64,
}

impl Env<'_> {
    /// Where a recording's media is served, as in `RecordingUrl`.
    pub(crate) fn recording_url(&self, sid: &str) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}/Recordings/{sid}",
            self.base_url, self.account_sid
        )
    }
}

/// One leg as its callbacks describe it.
struct Leg<'a> {
    sid: &'a str,
    parent: Option<&'a str>,
    from: &'a str,
    to: &'a str,
    direction: &'static str,
}

/// What ending a call does: callbacks to send, in order, and the recordings it made.
#[derive(Debug, Default)]
pub(crate) struct Ending {
    pub callbacks: Vec<Outgoing>,
    pub recordings: Vec<Recording>,
    pub child_call_sid: Option<String>,
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A callback with Twilio's common call parameters.
fn callback(kind: &'static str, method: HttpMethod, url: String) -> Outgoing {
    Outgoing {
        method,
        ..Outgoing::post(kind, url, Vec::new())
    }
}

/// The status callbacks of one leg: each requested event (default `completed`), in the
/// order the call went through them, numbered from 0.
fn status_callbacks(
    env: &Env<'_>,
    leg: &Leg<'_>,
    method: HttpMethod,
    url: &str,
    requested: &[String],
    duration: u64,
) -> Vec<Outgoing> {
    let events: Vec<&str> = if requested.is_empty() {
        vec!["completed"]
    } else {
        STATUS_EVENTS
            .into_iter()
            .filter(|e| requested.iter().any(|r| r == e))
            .collect()
    };
    let timestamp = rfc2822(env.now);
    events
        .into_iter()
        .enumerate()
        .map(|(sequence, event)| {
            let mut params = pairs(&[
                ("AccountSid", env.account_sid),
                ("ApiVersion", "2010-04-01"),
                ("CallSid", leg.sid),
                ("CallStatus", call_status(event)),
                ("CallbackSource", "call-progress-events"),
                ("Called", leg.to),
                ("Caller", leg.from),
                ("Direction", leg.direction),
                ("From", leg.from),
                ("SequenceNumber", &sequence.to_string()),
                ("Timestamp", &timestamp),
                ("To", leg.to),
            ]);
            if let Some(parent) = leg.parent {
                params.push(("ParentCallSid".into(), parent.to_owned()));
            }
            if event == "completed" {
                params.push(("CallDuration".into(), duration.to_string()));
            }
            Outgoing {
                params,
                ..callback("call-status", method, url.to_owned())
            }
        })
        .collect()
}

/// The recording callbacks asked for (default `completed`); `absent` never fires here.
fn recording_callbacks(
    env: &Env<'_>,
    recording: &Recording,
    method: HttpMethod,
    url: &str,
    requested: &[String],
) -> Vec<Outgoing> {
    let wanted = |event: &str| {
        if requested.is_empty() {
            event == "completed"
        } else {
            requested.iter().any(|r| r == event)
        }
    };
    let media = env.recording_url(&recording.sid);
    let channels = recording.channels.to_string();
    let started = rfc2822(recording.started);
    ["in-progress", "completed"]
        .into_iter()
        .filter(|e| wanted(e))
        .map(|status| {
            let mut params = pairs(&[
                ("AccountSid", env.account_sid),
                ("CallSid", &recording.call_sid),
                ("RecordingChannels", &channels),
                ("RecordingSid", &recording.sid),
                ("RecordingSource", recording.source),
                ("RecordingStartTime", &started),
                ("RecordingStatus", status),
                ("RecordingTrack", "both"),
                ("RecordingUrl", &media),
            ]);
            if status == "completed" {
                params.push(("RecordingDuration".into(), recording.duration.to_string()));
            }
            Outgoing {
                params,
                ..callback("recording-status", method, url.to_owned())
            }
        })
        .collect()
}

/// `url` made absolute against the TwiML document's URL, as Twilio resolves `action`
/// and callback attributes. `None` when it cannot be.
fn resolve(document: Option<&str>, url: &str) -> Option<String> {
    if is_absolute_http_url(url) {
        return Some(url.to_owned());
    }
    let base = url::Url::parse(document?).ok()?;
    base.join(url).ok().map(String::from)
}

/// Plays a `<Dial>` to its end. Returns (before the parent completes, after it: the
/// recording callbacks) and adds its recording and child leg to `ending`.
fn play_dial(
    env: &Env<'_>,
    parent: &Leg<'_>,
    dial: &Dial,
    document: Option<&str>,
    duration: u64,
    ending: &mut Ending,
) -> Vec<Outgoing> {
    let mut after = Vec::new();
    let child_sid = match &dial.target {
        DialTarget::Number(number) => {
            let sid = new_sid("CA");
            let from = dial.caller_id.as_deref().unwrap_or(parent.from);
            let child = Leg {
                sid: &sid,
                parent: Some(parent.sid),
                from,
                to: &number.number,
                direction: "outbound-dial",
            };
            if let Some(url) = number
                .status_callback
                .as_deref()
                .and_then(|u| resolve(document, u))
            {
                ending.callbacks.extend(status_callbacks(
                    env,
                    &child,
                    number.status_callback_method,
                    &url,
                    &number.status_callback_events,
                    duration,
                ));
            }
            Some(sid)
        }
        DialTarget::Conference(_) | DialTarget::Other(_) => None,
    };
    if let Some(url) = dial.action.as_deref().and_then(|a| resolve(document, a)) {
        let mut params = pairs(&[
            ("AccountSid", env.account_sid),
            ("ApiVersion", "2010-04-01"),
            ("CallSid", parent.sid),
            ("CallStatus", "in-progress"),
            ("Called", parent.to),
            ("Caller", parent.from),
            ("DialCallStatus", "completed"),
            ("Direction", parent.direction),
            ("From", parent.from),
            ("To", parent.to),
        ]);
        // Twilio sends no DialCallSid or DialCallDuration after a conference.
        if let Some(child) = &child_sid {
            params.extend(pairs(&[
                ("DialBridged", "true"),
                ("DialCallDuration", &duration.to_string()),
                ("DialCallSid", child),
            ]));
        }
        ending.callbacks.push(Outgoing {
            params,
            ..callback("dial-action", dial.method, url)
        });
    }
    if let (Some(channels), Some(_)) = (dial.record_channels, &child_sid) {
        let recording = Recording {
            sid: new_sid("RE"),
            call_sid: parent.sid.to_owned(),
            channels,
            source: "DialVerb",
            duration,
            started: env.now,
        };
        if let Some(url) = dial
            .recording_status_callback
            .as_deref()
            .and_then(|u| resolve(document, u))
        {
            after.extend(recording_callbacks(
                env,
                &recording,
                dial.recording_status_callback_method,
                &url,
                &dial.recording_status_callback_events,
            ));
        }
        ending.recordings.push(recording);
    }
    ending.child_call_sid = child_sid;
    after
}

/// The first `<Dial>` of a document, if it has one; TwiML we cannot read plays nothing.
fn dial_of(xml: Option<&str>) -> Option<Dial> {
    xml.and_then(|x| twiml::first_dial(x).ok().flatten())
}

/// Ends an inbound call: its `<Dial>` plays out, then the number's `StatusCallback`
/// (if any) hears `completed`.
pub(crate) fn end_inbound(
    env: &Env<'_>,
    call: &InboundCall,
    number_status: Option<(HttpMethod, String)>,
    duration: u64,
) -> Ending {
    let leg = Leg {
        sid: &call.sid,
        parent: None,
        from: &call.from,
        to: &call.to,
        direction: "inbound",
    };
    let mut ending = Ending::default();
    let after = match dial_of(call.twiml()) {
        Some(dial) => play_dial(env, &leg, &dial, Some(&call.url), duration, &mut ending),
        None => Vec::new(),
    };
    if let Some((method, url)) = number_status {
        ending
            .callbacks
            .extend(status_callbacks(env, &leg, method, &url, &[], duration));
    }
    ending.callbacks.extend(after);
    ending
}

/// Ends a call created through the Calls API: its status events, its inline TwiML's
/// `<Dial>` (Twilio ignores `Twiml` when `Url` is also given, and the emulator does not
/// fetch `Url`), and its own recording when `Record=true`.
pub(crate) fn end_api_call(env: &Env<'_>, call: &Call, duration: u64) -> Ending {
    let leg = Leg {
        sid: &call.sid,
        parent: None,
        from: &call.from,
        to: &call.to,
        direction: "outbound-api",
    };
    let method = call.status_callback_method.unwrap_or(HttpMethod::Post);
    let mut statuses = match &call.status_callback {
        Some(url) => status_callbacks(
            env,
            &leg,
            method,
            url,
            &call.status_callback_events,
            duration,
        ),
        None => Vec::new(),
    };
    // The last one is `completed` when asked for; it goes after the call's TwiML ran.
    let completed = statuses
        .last()
        .filter(|o| {
            o.params
                .iter()
                .any(|(k, v)| k == "CallStatus" && v == "completed")
        })
        .is_some()
        .then(|| statuses.pop())
        .flatten();
    let mut ending = Ending {
        callbacks: statuses,
        ..Ending::default()
    };
    let inline = call
        .url
        .is_none()
        .then_some(call.twiml.as_deref())
        .flatten();
    let mut after = match dial_of(inline) {
        Some(dial) => play_dial(env, &leg, &dial, None, duration, &mut ending),
        None => Vec::new(),
    };
    ending.callbacks.extend(completed);
    if call.record {
        let recording = Recording {
            sid: new_sid("RE"),
            call_sid: call.sid.clone(),
            channels: if call.recording_channels.as_deref() == Some("dual") {
                2
            } else {
                1
            },
            source: "OutboundAPI",
            duration,
            started: env.now,
        };
        if let Some(url) = &call.recording_status_callback {
            ending.callbacks.extend(recording_callbacks(
                env,
                &recording,
                call.recording_status_callback_method
                    .unwrap_or(HttpMethod::Post),
                url,
                &call.recording_status_callback_events,
            ));
        }
        ending.recordings.push(recording);
    }
    ending.callbacks.append(&mut after);
    ending
}

/// A call created through `POST .../Calls.json`, as tests see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallSnapshot {
    pub sid: String,
    pub to: String,
    pub from: String,
    pub twiml: Option<String>,
    pub url: Option<String>,
    pub status_callback: Option<String>,
    /// As given, repeats and spaced values split (`["initiated", "completed"]`).
    pub status_callback_event: Vec<String>,
    pub status_callback_method: Option<HttpMethod>,
    pub record: bool,
    pub recording_channels: Option<String>,
    pub recording_status_callback: Option<String>,
    pub recording_status_callback_event: Vec<String>,
    pub recording_status_callback_method: Option<HttpMethod>,
    pub timeout: Option<u32>,
    /// `queued` until ended, then `completed`.
    pub status: String,
    /// Seconds, once ended.
    pub duration: Option<u64>,
}

impl From<&Call> for CallSnapshot {
    fn from(c: &Call) -> Self {
        Self {
            sid: c.sid.clone(),
            to: c.to.clone(),
            from: c.from.clone(),
            twiml: c.twiml.clone(),
            url: c.url.clone(),
            status_callback: c.status_callback.clone(),
            status_callback_event: c.status_callback_events.clone(),
            status_callback_method: c.status_callback_method,
            record: c.record,
            recording_channels: c.recording_channels.clone(),
            recording_status_callback: c.recording_status_callback.clone(),
            recording_status_callback_event: c.recording_status_callback_events.clone(),
            recording_status_callback_method: c.recording_status_callback_method,
            timeout: c.timeout,
            status: if c.ended.is_some() {
                "completed"
            } else {
                "queued"
            }
            .to_owned(),
            duration: c.ended.map(|e| e.duration),
        }
    }
}

/// An inbound call the emulator placed, as tests see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InboundCallSnapshot {
    pub sid: String,
    pub from: String,
    pub to: String,
    /// The voice webhook it was sent to.
    pub url: String,
    /// Our TwiML answer, when our webhook answered 2xx.
    pub twiml: Option<String>,
    /// `in-progress` until ended, then `completed`.
    pub status: String,
    pub duration: Option<u64>,
}

impl From<&InboundCall> for InboundCallSnapshot {
    fn from(c: &InboundCall) -> Self {
        Self {
            sid: c.sid.clone(),
            from: c.from.clone(),
            to: c.to.clone(),
            url: c.url.clone(),
            twiml: c.twiml().map(str::to_owned),
            status: if c.ended.is_some() {
                "completed"
            } else {
                "in-progress"
            }
            .to_owned(),
            duration: c.ended.map(|e| e.duration),
        }
    }
}

/// A recording, as tests see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordingSnapshot {
    pub sid: String,
    pub call_sid: String,
    pub channels: u8,
    /// `DialVerb` or `OutboundAPI`.
    pub source: String,
    pub duration: u64,
}

impl From<&Recording> for RecordingSnapshot {
    fn from(r: &Recording) -> Self {
        Self {
            sid: r.sid.clone(),
            call_sid: r.call_sid.clone(),
            channels: r.channels,
            source: r.source.to_owned(),
            duration: r.duration,
        }
    }
}

/// What [`crate::Emulator::complete_call`] did.
#[derive(Debug, Clone, Serialize)]
pub struct CompletedCall {
    pub call_sid: String,
    /// The `<Dial><Number>` leg, when there was one.
    pub child_call_sid: Option<String>,
    pub recording_sids: Vec<String>,
    /// Every callback sent, in order.
    pub callbacks: Vec<WebhookDelivery>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Env<'static> {
        Env {
            account_sid: "AC1",
            base_url: "http://emu",
            now: 1_283_286_988,
        }
    }

    fn inbound(twiml: &str) -> InboundCall {
        InboundCall {
            sid: "CAparent".into(),
            seq: 1,
            from: "+14155550101".into(),
            to: "+14155550000".into(),
            url: "https://us.example/voice/inbound?x=1".into(),
            answer: Ok(WebhookOutcome {
                status: 200,
                content_type: Some("text/xml".into()),
                body: twiml.into(),
            }),
            ended: None,
        }
    }

    fn param<'a>(o: &'a Outgoing, name: &str) -> Option<&'a str> {
        o.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn a_dial_plays_child_statuses_then_action_then_recording() {
        let twiml = r#"<Response><Dial callerId="+14155550000" action="../dial-done" record="record-from-answer-dual" recordingStatusCallback="/recording"><Number statusCallback="https://us.example/status" statusCallbackEvent="completed answered">+14155550102</Number></Dial></Response>"#;
        let ending = end_inbound(
            &env(),
            &inbound(twiml),
            Some((HttpMethod::Post, "https://us.example/number".into())),
            42,
        );
        let kinds: Vec<(&str, &str)> = ending
            .callbacks
            .iter()
            .map(|o| (o.kind, o.url.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("call-status", "https://us.example/status"),
                ("call-status", "https://us.example/status"),
                ("dial-action", "https://us.example/dial-done"),
                ("call-status", "https://us.example/number"),
                ("recording-status", "https://us.example/recording"),
            ]
        );
        let child = ending.child_call_sid.clone().unwrap();
        let answered = &ending.callbacks[0];
        assert_eq!(param(answered, "CallStatus"), Some("in-progress"));
        assert_eq!(param(answered, "SequenceNumber"), Some("0"));
        assert_eq!(param(answered, "CallDuration"), None);
        let completed = &ending.callbacks[1];
        assert_eq!(param(completed, "CallSid"), Some(child.as_str()));
        assert_eq!(param(completed, "ParentCallSid"), Some("CAparent"));
        assert_eq!(param(completed, "From"), Some("+14155550000"));
        assert_eq!(param(completed, "To"), Some("+14155550102"));
        assert_eq!(param(completed, "Direction"), Some("outbound-dial"));
        assert_eq!(param(completed, "CallDuration"), Some("42"));
        assert_eq!(param(completed, "SequenceNumber"), Some("1"));
        assert_eq!(
            param(completed, "Timestamp"),
            Some("Tue, 31 Aug 2010 20:36:28 +0000")
        );
        let action = &ending.callbacks[2];
        assert_eq!(param(action, "CallSid"), Some("CAparent"));
        assert_eq!(param(action, "DialCallSid"), Some(child.as_str()));
        assert_eq!(param(action, "DialCallStatus"), Some("completed"));
        assert_eq!(param(action, "DialCallDuration"), Some("42"));
        let number = &ending.callbacks[3];
        assert_eq!(param(number, "CallSid"), Some("CAparent"));
        assert_eq!(param(number, "Direction"), Some("inbound"));
        assert_eq!(param(number, "ParentCallSid"), None);
        let recording = &ending.callbacks[4];
        let made = &ending.recordings[0];
        assert_eq!(param(recording, "RecordingSid"), Some(made.sid.as_str()));
        assert_eq!(param(recording, "CallSid"), Some("CAparent"));
        assert_eq!(param(recording, "RecordingChannels"), Some("2"));
        assert_eq!(param(recording, "RecordingStatus"), Some("completed"));
        assert_eq!(param(recording, "RecordingDuration"), Some("42"));
        assert_eq!(
            param(recording, "RecordingUrl").map(str::to_owned),
            Some(format!(
                "http://emu/2010-04-01/Accounts/AC1/Recordings/{}",
                made.sid
            ))
        );
    }

    #[test]
    fn a_conference_has_no_child_leg_and_no_recording() {
        let twiml = r#"<Response><Dial action="https://us.example/after" record="record-from-answer"><Conference>room</Conference></Dial></Response>"#;
        let ending = end_inbound(&env(), &inbound(twiml), None, 10);
        assert_eq!(ending.child_call_sid, None);
        assert!(ending.recordings.is_empty());
        assert_eq!(ending.callbacks.len(), 1);
        let action = &ending.callbacks[0];
        assert_eq!(param(action, "DialCallStatus"), Some("completed"));
        assert_eq!(param(action, "DialCallSid"), None);
        assert_eq!(param(action, "DialCallDuration"), None);
    }

    #[test]
    fn without_dial_or_with_bad_twiml_only_the_number_hears() {
        for twiml in [
            "<Response><Say>Hi</Say><Hangup/></Response>",
            "<Response><Dial>",
        ] {
            let ending = end_inbound(
                &env(),
                &inbound(twiml),
                Some((HttpMethod::Get, "https://us.example/n".into())),
                3,
            );
            assert_eq!(ending.callbacks.len(), 1, "{twiml}");
            assert_eq!(ending.callbacks[0].method, HttpMethod::Get);
            assert!(ending.child_call_sid.is_none());
        }
    }

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn an_api_call_reports_its_events_in_order_and_its_own_recording() {
        let call = Call::from_form(
            &form(&[
                ("To", "+14155550102"),
                ("From", "+14155550000"),
                ("Twiml", "<Response><Say>Hi</Say></Response>"),
                ("StatusCallback", "https://us.example/status"),
                ("StatusCallbackEvent", "completed"),
                ("StatusCallbackEvent", "initiated ringing"),
                ("Record", "true"),
                ("RecordingChannels", "dual"),
                ("RecordingStatusCallback", "https://us.example/rec"),
                ("RecordingStatusCallbackEvent", "in-progress completed"),
            ]),
            1,
            1,
        )
        .unwrap();
        assert_eq!(
            call.status_callback_events,
            ["completed", "initiated", "ringing"]
        );
        let ending = end_api_call(&env(), &call, 7);
        let statuses: Vec<(Option<&str>, Option<&str>)> = ending
            .callbacks
            .iter()
            .map(|o| (param(o, "CallStatus"), param(o, "RecordingStatus")))
            .collect();
        assert_eq!(
            statuses,
            [
                (Some("initiated"), None),
                (Some("ringing"), None),
                (Some("completed"), None),
                (None, Some("in-progress")),
                (None, Some("completed")),
            ]
        );
        assert_eq!(
            param(&ending.callbacks[2], "Direction"),
            Some("outbound-api")
        );
        assert_eq!(param(&ending.callbacks[4], "RecordingChannels"), Some("2"));
        assert_eq!(ending.recordings[0].source, "OutboundAPI");
    }

    #[test]
    fn create_call_checks_follow_twilio() {
        let base = [
            ("To", "+1415555010"),
            ("From", "+14155550000"),
            ("Url", "https://x.example/"),
        ];
        let with = |extra: &[(&str, &str)]| {
            let mut all = base.to_vec();
            all.extend_from_slice(extra);
            Call::from_form(&form(&all), 1, 1)
        };
        assert!(with(&[]).is_ok());
        let long = "x".repeat(MAX_TWIML_CHARS + 1);
        let just = "é".repeat(MAX_TWIML_CHARS);
        assert!(with(&[("Twiml", &just)]).is_ok(), "counted in characters");
        for (extra, code) in [
            (("Twiml", long.as_str()), codes::TWIML_TOO_LARGE),
            (
                ("StatusCallbackEvent", "answered hungup"),
                codes::CALL_INVALID_STATUS_CALLBACK_EVENT,
            ),
            (("StatusCallbackMethod", "PUT"), codes::CALL_INVALID_METHOD),
            (("StatusCallback", "/relative"), codes::INVALID_CALLBACK_URL),
            (("Timeout", "0"), codes::CALL_INVALID_TIMEOUT),
            (("Timeout", "ten"), codes::CALL_INVALID_TIMEOUT),
            (("Record", "yes"), codes::INVALID_PARAMETER_2010),
            (
                ("RecordingChannels", "stereo"),
                codes::INVALID_PARAMETER_2010,
            ),
            (
                ("RecordingStatusCallbackEvent", "done"),
                codes::INVALID_PARAMETER_2010,
            ),
        ] {
            let err = with(&[extra]).unwrap_err();
            assert_eq!((err.status, err.code), (400, code), "{extra:?}");
        }
    }
}
