//! Deleting recordings from Twilio until Twilio confirms. A delete that
//! fails is kept in the index (`RECORDING-DELETE` items) and retried after
//! later answers, in any execution environment, until Twilio deletes it or
//! answers that it is gone. The deletes themselves run after the answer
//! ([`crate::runner`]); here is what every environment keeps.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How long a delete is retried before it is given up (and logged).
pub const RETRIED_FOR: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// After a retry that found nothing or failed, this environment waits this
/// long before reading the waiting deletes again (one index read a minute
/// at most, never a Twilio outage's timeouts on every answer).
const RETRY_PAUSE: Duration = Duration::from_secs(60);

/// When this execution environment next looks for waiting deletes.
#[derive(Debug, Default)]
pub struct RetryGate {
    next_at: AtomicU64,
}

impl RetryGate {
    pub(crate) fn open(&self, now: u64) -> bool {
        self.next_at.load(Ordering::Relaxed) <= now
    }

    pub(crate) fn pause(&self, now: u64) {
        self.next_at
            .store(now + RETRY_PAUSE.as_secs(), Ordering::Relaxed);
    }

    /// This environment just kept a delete: look again after the next answer.
    pub(crate) fn reopen(&self) {
        self.next_at.store(0, Ordering::Relaxed);
    }
}
