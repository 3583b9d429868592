//! Operations, injected faults and the conversation-create rate limit.

use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};

/// Every Twilio operation the emulator serves. Names match the control API's JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Operation {
    CreateConversation,
    FetchConversation,
    UpdateConversation,
    DeleteConversation,
    CreateParticipant,
    ListParticipants,
    ListParticipantConversations,
    CreateCall,
    /// Programmable Messaging: a message sent from one of the account's numbers.
    CreateMessage,
    FetchParticipant,
    DeleteParticipant,
    ListMessages,
    FetchConfiguration,
    ListAddressConfigurations,
    CreateAddressConfiguration,
    FetchConfigurationWebhooks,
    UpdateConfigurationWebhooks,
    FetchServiceWebhookConfiguration,
    UpdateServiceWebhookConfiguration,
    ListIncomingPhoneNumbers,
    FetchIncomingPhoneNumber,
    UpdateIncomingPhoneNumber,
    FetchRecording,
    DeleteRecording,
    /// A path the emulator does not know (answered 404 20404). Faults never apply.
    Unknown,
}

/// What an injected fault does instead of processing the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// Answer with this status and a Twilio error body (429 -> code 20429, 5xx -> a generic
    /// 205xx code). `retry_after` (seconds) becomes a `Retry-After` header.
    Status {
        status: u16,
        #[serde(default)]
        retry_after: Option<u64>,
    },
    /// Never answer: hold the request for two minutes (or until the emulator stops), which
    /// outlasts any sensible client timeout; then drop the connection.
    Hang,
    /// Drop the TCP connection with an RST, without any HTTP response.
    Reset,
    /// Process the request as usual, but answer only `ms` milliseconds later: a slow
    /// answer, true when the request came and stale by the time it arrives (to hold one
    /// request of a race while another goes ahead).
    Delay { ms: u64 },
}

#[derive(Debug, Clone)]
struct FaultRule {
    operation: Operation,
    fault: Fault,
    remaining: usize,
}

/// Queued fault rules. Rules for the same operation apply in the order they were added.
#[derive(Debug, Default)]
pub(crate) struct FaultBook {
    rules: Vec<FaultRule>,
}

impl FaultBook {
    pub(crate) fn inject(&mut self, operation: Operation, fault: Fault, times: usize) {
        if times > 0 {
            self.rules.push(FaultRule {
                operation,
                fault,
                remaining: times,
            });
        }
    }

    /// Consumes one use of the first rule for `operation`, if any.
    pub(crate) fn take(&mut self, operation: Operation) -> Option<Fault> {
        let index = self.rules.iter().position(|r| r.operation == operation)?;
        let rule = &mut self.rules[index];
        rule.remaining -= 1;
        let fault = rule.fault.clone();
        if rule.remaining == 0 {
            self.rules.remove(index);
        }
        Some(fault)
    }

    pub(crate) fn clear(&mut self) {
        self.rules.clear();
    }
}

/// Sliding one-second window over accepted conversation creates.
#[derive(Debug, Default)]
pub(crate) struct RateLimiter {
    per_second: Option<u32>,
    accepted: VecDeque<Instant>,
}

impl RateLimiter {
    pub(crate) fn new(per_second: Option<u32>) -> Self {
        Self {
            per_second,
            accepted: VecDeque::new(),
        }
    }

    pub(crate) fn set(&mut self, per_second: Option<u32>) {
        self.per_second = per_second;
        self.accepted.clear();
    }

    /// True when a create may go ahead now (and counts it); false means answer 429.
    pub(crate) fn try_acquire(&mut self, now: Instant) -> bool {
        let Some(limit) = self.per_second else {
            return true;
        };
        while self
            .accepted
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            self.accepted.pop_front();
        }
        if self.accepted.len() >= limit as usize {
            return false;
        }
        self.accepted.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_consumed_in_order_then_behaviour_resumes() {
        let mut book = FaultBook::default();
        let throttle = Fault::Status {
            status: 429,
            retry_after: Some(1),
        };
        book.inject(Operation::CreateParticipant, throttle.clone(), 2);
        book.inject(Operation::CreateParticipant, Fault::Reset, 1);
        assert_eq!(book.take(Operation::CreateConversation), None);
        assert_eq!(
            book.take(Operation::CreateParticipant),
            Some(throttle.clone())
        );
        assert_eq!(book.take(Operation::CreateParticipant), Some(throttle));
        assert_eq!(book.take(Operation::CreateParticipant), Some(Fault::Reset));
        assert_eq!(book.take(Operation::CreateParticipant), None);
    }

    #[test]
    fn fault_json_matches_the_control_api() {
        let fault: Fault =
            serde_json::from_str(r#"{"kind":"status","status":429,"retry_after":1}"#).unwrap();
        assert_eq!(
            fault,
            Fault::Status {
                status: 429,
                retry_after: Some(1)
            }
        );
        let hang: Fault = serde_json::from_str(r#"{"kind":"hang"}"#).unwrap();
        assert_eq!(hang, Fault::Hang);
        let slow: Fault = serde_json::from_str(r#"{"kind":"delay","ms":250}"#).unwrap();
        assert_eq!(slow, Fault::Delay { ms: 250 });
        let op: Operation = serde_json::from_str(r#""CreateParticipant""#).unwrap();
        assert_eq!(op, Operation::CreateParticipant);
    }

    #[test]
    fn rate_limiter_allows_n_per_second() {
        let mut limiter = RateLimiter::new(Some(2));
        let t0 = Instant::now();
        assert!(limiter.try_acquire(t0));
        assert!(limiter.try_acquire(t0 + Duration::from_millis(10)));
        assert!(!limiter.try_acquire(t0 + Duration::from_millis(20)));
        // The first create leaves the window after one second.
        assert!(limiter.try_acquire(t0 + Duration::from_millis(1000)));
        assert!(!limiter.try_acquire(t0 + Duration::from_millis(1001)));
        limiter.set(None);
        assert!(limiter.try_acquire(t0 + Duration::from_millis(1002)));
    }
}
