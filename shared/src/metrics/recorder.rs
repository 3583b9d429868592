//! One invocation's facts, counted by the handlers, the session service
//! and the Twilio client as they happen.

use std::sync::atomic::{AtomicU32, AtomicU8, AtomicUsize, Ordering};
use std::sync::{LazyLock, OnceLock};
use std::time::Duration;

use super::catalogue::{CallOutcome, Count};

/// EMF allows at most 100 values in one metric's array; an invocation
/// making more Twilio requests than that reports its first 100.
pub(super) const MAX_SAMPLES: usize = 100;

/// One invocation's facts. Shared by reference with everything that counts;
/// atomics, because a create's participant adds run concurrently.
#[derive(Debug)]
pub struct Recorder {
    counts: [AtomicU32; Count::ALL.len()],
    /// 0 while no call was answered, else the [`CallOutcome`]'s index + 1.
    call: AtomicU8,
    /// Twilio attempts, retries included, for the request's log line.
    twilio_requests: AtomicUsize,
    twilio_samples: AtomicUsize,
    twilio_micros: [AtomicU32; MAX_SAMPLES],
    /// How long the intercept took (one ask per invocation).
    intercept: OnceLock<Duration>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            counts: [const { AtomicU32::new(0) }; Count::ALL.len()],
            call: AtomicU8::new(0),
            twilio_requests: AtomicUsize::new(0),
            twilio_samples: AtomicUsize::new(0),
            twilio_micros: [const { AtomicU32::new(0) }; MAX_SAMPLES],
            intercept: OnceLock::new(),
        }
    }
}

impl Recorder {
    pub fn count(&self, fact: Count) {
        self.counts[fact as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn counted(&self, fact: Count) -> u32 {
        self.counts[fact as usize].load(Ordering::Relaxed)
    }

    /// How the call was answered; a later word (an apology after a failed
    /// ring) replaces an earlier one.
    pub fn call_answered(&self, outcome: CallOutcome) {
        self.call.store(outcome as u8 + 1, Ordering::Relaxed);
    }

    pub fn call_outcome(&self) -> Option<CallOutcome> {
        let stored = self.call.load(Ordering::Relaxed);
        CallOutcome::ALL
            .get(usize::from(stored).checked_sub(1)?)
            .copied()
    }

    /// A Twilio attempt is about to be sent.
    pub fn twilio_request(&self) {
        self.twilio_requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Twilio attempts so far, retries included.
    pub fn twilio_requests(&self) -> usize {
        self.twilio_requests.load(Ordering::Relaxed)
    }

    /// Twilio answered an attempt after `elapsed`.
    pub fn twilio_answered(&self, elapsed: Duration) {
        let slot = self.twilio_samples.fetch_add(1, Ordering::Relaxed);
        if let Some(micros) = self.twilio_micros.get(slot) {
            let value = u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX);
            micros.store(value, Ordering::Relaxed);
        }
    }

    /// The intercept answered (or failed) after `elapsed`; a second ask in
    /// the same invocation keeps the first's time.
    pub fn intercept_answered(&self, elapsed: Duration) {
        let _ = self.intercept.set(elapsed);
    }

    pub fn intercept_latency(&self) -> Option<Duration> {
        self.intercept.get().copied()
    }

    /// What the intercept's ask came to.
    pub fn intercepted(&self, outcome: crate::domain::intercept::Outcome) {
        use crate::domain::intercept::Outcome;
        self.count(match outcome {
            Outcome::Allowed => Count::InterceptsAllowed,
            Outcome::Blocked => Count::InterceptsBlocked,
            Outcome::Rewritten => Count::InterceptsRewritten,
            Outcome::Failed => Count::InterceptsFailed,
        });
    }

    pub(super) fn twilio_latencies(&self) -> &[AtomicU32] {
        let taken = self.twilio_samples.load(Ordering::Relaxed);
        &self.twilio_micros[..taken.min(MAX_SAMPLES)]
    }
}

/// What the wrapper knows of a request once it is answered.
#[derive(Debug, Clone, Copy)]
pub struct Answered<'a> {
    /// The [`FUNCTION`] dimension's value ([`function_name`]).
    pub function: &'a str,
    /// Lambda's request id; kept only when it has the shape of one.
    pub request_id: &'a str,
    pub status: u16,
    pub latency: Duration,
}

/// Where Lambda tells a function its deployed name (`FunctionName`).
pub const FUNCTION_NAME_ENV: &str = "AWS_LAMBDA_FUNCTION_NAME";

/// The deployed name, read once per process.
static DEPLOYED_NAME: LazyLock<Option<String>> = LazyLock::new(|| {
    std::env::var(FUNCTION_NAME_ENV)
        .ok()
        .filter(|name| !name.trim().is_empty())
});

/// The [`FUNCTION`] dimension's value: Lambda's name for this function,
/// else `binary` (local runs and tests).
pub fn function_name(binary: &'static str) -> &'static str {
    DEPLOYED_NAME.as_deref().unwrap_or(binary)
}
