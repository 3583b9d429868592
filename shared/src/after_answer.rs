//! What the work after an answer may spend: the invocation's own deadline
//! (never a fresh budget), and, per execution environment, how often a
//! receiver that failed is tried again. Pure: every instant is given.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::Function;

/// Answer and after-answer work together, from the invocation's start:
/// inside the 15 s function timeout with room for Lambda's own bookkeeping.
pub const INVOCATION_BUDGET: Duration = Duration::from_secs(13);
/// The end of the invocation's time kept for putting undelivered events in
/// the outbox: deliveries stop this long before the deadline.
pub const KEEP_RESERVE: Duration = Duration::from_secs(1);
/// After a failed delivery, an environment tries its receiver again (new
/// events or the outbox) at most this often; meanwhile events go straight
/// to the outbox.
pub const RECEIVER_RETRY_EVERY: Duration = Duration::from_secs(60);

/// The limits of one invocation's after-answer work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AfterAnswer {
    /// Everything, outbox writes included, is done by then.
    pub deadline: Instant,
    /// Whether events earlier invocations kept may be retried here.
    pub retries_outbox: bool,
    /// Whether recording deletes Twilio refused earlier are retried here:
    /// by every function that ends sessions or receives recordings, not
    /// the page (its role only counts pool numbers).
    pub retries_recording_deletes: bool,
}

impl AfterAnswer {
    /// For an invocation of `function` that began at `started`. The
    /// inbound-call function never retries the outbox: its environments
    /// answer calls, and one held by a slow receiver sends the next call
    /// to a cold start.
    pub fn of_invocation(function: Function, started: Instant) -> Self {
        AfterAnswer {
            deadline: started + INVOCATION_BUDGET,
            retries_outbox: function != Function::InboundCall,
            retries_recording_deletes: function != Function::LandingPage,
        }
    }

    /// Until when deliveries and Twilio requests may run.
    pub fn work_until(&self) -> Instant {
        self.deadline
            .checked_sub(KEEP_RESERVE)
            .unwrap_or(self.deadline)
    }
}

/// Whether this environment's receiver failed recently. Shared by every
/// invocation of an execution environment.
#[derive(Debug, Default)]
pub struct ReceiverBackoff {
    failed_at: Mutex<Option<Instant>>,
}

impl ReceiverBackoff {
    /// Whether the receiver may be tried at `now`.
    pub fn may_try(&self, now: Instant) -> bool {
        self.failed_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_none_or(|failed| now.saturating_duration_since(failed) >= RECEIVER_RETRY_EVERY)
    }

    /// A delivery at `now` failed: no more tries for a while.
    pub fn failed(&self, now: Instant) {
        *self.failed_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(now);
    }

    /// The receiver took an event: it is tried freely again.
    pub fn recovered(&self) {
        *self.failed_at.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_is_the_invocations_not_a_fresh_one() {
        let started = Instant::now();
        let after = AfterAnswer::of_invocation(Function::Sessions, started);
        assert_eq!(after.deadline, started + Duration::from_secs(13));
        assert_eq!(after.work_until(), started + Duration::from_secs(12));
    }

    #[test]
    fn only_functions_that_answer_no_calls_retry_the_outbox() {
        let started = Instant::now();
        let retries = |f| AfterAnswer::of_invocation(f, started).retries_outbox;
        assert!(!retries(Function::InboundCall));
        assert!(retries(Function::Sessions));
        assert!(retries(Function::ConversationEvents));
    }

    #[test]
    fn a_failed_receiver_is_tried_again_after_a_minute_not_before() {
        let backoff = ReceiverBackoff::default();
        let t0 = Instant::now();
        assert!(backoff.may_try(t0));
        backoff.failed(t0);
        assert!(!backoff.may_try(t0 + Duration::from_secs(1)));
        assert!(!backoff.may_try(t0 + Duration::from_secs(59)));
        assert!(backoff.may_try(t0 + Duration::from_secs(60)));
        backoff.failed(t0 + Duration::from_secs(60));
        assert!(!backoff.may_try(t0 + Duration::from_secs(61)));
        backoff.recovered();
        assert!(backoff.may_try(t0 + Duration::from_secs(61)));
    }
}
