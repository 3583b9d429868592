//! Work that must not delay an answer: delivering events, writing a call's
//! entry in the call log, logging a sent message, deleting recordings. Handlers and the session
//! service queue it here; the runner ([`crate::runner`], beside the runtime
//! glue) runs it after the answer has gone, before the invocation's
//! deadline ([`crate::after_answer`]).

use std::sync::{Mutex, OnceLock};

use serde_json::json;

use crate::after_answer::ReceiverBackoff;
use crate::config::Config;
use crate::events::{Event, EventSender};
use crate::index::{CallItem, MessageItem};
use crate::recording_deletes::RetryGate;

/// One piece of work for after the answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Job {
    Deliver(Event),
    /// A call began: log it (with the participants' sids) and tell the
    /// receiver.
    CallStarted(CallStart),
    /// Remove these recordings from Twilio: their session's data is gone.
    DeleteRecordings(Vec<String>),
    /// Messages the backend sent: log them (no body) under their session.
    LogMessages(String, Vec<MessageItem>),
}

/// What the inbound call knew when it connected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallStart {
    pub session: String,
    pub call_sid: String,
    pub caller: (String, String),
    /// (address, proxy) of each participant rung.
    pub callees: Vec<(String, String)>,
    pub conference: bool,
    pub started: String,
    pub recorded: bool,
    /// When the session's index items may expire, from Twilio's closed
    /// timer as the call's lookup read it (`None`: not known).
    pub expires_at: Option<u64>,
}

/// The queue, shared by every invocation of an execution environment.
#[derive(Debug, Default)]
pub struct Deferred {
    jobs: Mutex<Vec<Job>>,
    sender: OnceLock<Option<EventSender>>,
    /// Whether this environment's receiver failed lately.
    pub(crate) receiver_backoff: ReceiverBackoff,
    recording_retry: RetryGate,
}

impl Deferred {
    pub fn push(&self, job: Job) {
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(job);
    }

    /// Queues an event when a receiver is configured.
    pub fn event(&self, config: &Config, event: Event) {
        if config.events.is_some() {
            self.push(Job::Deliver(event));
        }
    }

    pub fn take(&self) -> Vec<Job> {
        std::mem::take(&mut *self.jobs.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn is_empty(&self) -> bool {
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    }

    pub(crate) fn recording_retry(&self) -> &RetryGate {
        &self.recording_retry
    }

    /// Built on first use: functions without a receiver never pay for it.
    pub fn sender(&self) -> Option<&EventSender> {
        self.sender
            .get_or_init(|| match EventSender::new() {
                Ok(sender) => Some(sender),
                Err(err) => {
                    tracing::error!(error = %err, "cannot build the event sender");
                    None
                }
            })
            .as_ref()
    }
}

/// What events say of a call.
pub fn call_data(call: &CallItem) -> serde_json::Value {
    json!({
        "call_sid": call.call_sid,
        "kind": call.kind,
        "from": call.from,
        "to": call.to,
        "started": call.started,
        "status": call.status,
        "duration": call.duration,
        "recording_url": call.recording_url,
    })
}
