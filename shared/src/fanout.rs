//! A group call rings the other participants once: a replayed inbound-call
//! webhook (the same signed request sent again, by Twilio or by anyone who
//! captured it) must not place a second round of calls.
//!
//! Calls are told apart by Twilio's `CallSid`. This ledger is kept per
//! execution environment; the session index, when configured, keeps it
//! across all of them.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a call's fan-out is remembered: longer than any call can ring.
pub const REMEMBER_FOR: Duration = Duration::from_secs(15 * 60);
/// The most calls remembered at once; the oldest are forgotten first.
const CAPACITY: usize = 10_000;

#[derive(Debug, Default)]
pub struct FanOutLedger {
    seen: Mutex<Ledger>,
}

#[derive(Debug, Default)]
struct Ledger {
    by_call: HashMap<String, Instant>,
    order: VecDeque<(Instant, String)>,
}

impl FanOutLedger {
    /// True the first time `call_sid` is claimed within [`REMEMBER_FOR`].
    pub fn claim(&self, call_sid: &str, now: Instant) -> bool {
        let mut ledger = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        while let Some((when, _)) = ledger.order.front() {
            let expired = now.duration_since(*when) >= REMEMBER_FOR;
            if !expired && ledger.order.len() < CAPACITY {
                break;
            }
            if let Some((_, sid)) = ledger.order.pop_front() {
                ledger.by_call.remove(&sid);
            }
        }
        if ledger.by_call.contains_key(call_sid) {
            return false;
        }
        ledger.by_call.insert(call_sid.to_owned(), now);
        ledger.order.push_back((now, call_sid.to_owned()));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_is_claimed_once_until_it_is_forgotten() {
        let ledger = FanOutLedger::default();
        let start = Instant::now();
        assert!(ledger.claim("CA1", start));
        assert!(!ledger.claim("CA1", start + Duration::from_secs(60)));
        assert!(ledger.claim("CA2", start + Duration::from_secs(60)));
        assert!(ledger.claim("CA1", start + REMEMBER_FOR + Duration::from_secs(1)));
    }

    #[test]
    fn memory_is_bounded() {
        let ledger = FanOutLedger::default();
        let now = Instant::now();
        for i in 0..CAPACITY + 10 {
            assert!(ledger.claim(&format!("CA{i}"), now));
        }
        let kept = ledger.seen.lock().unwrap().by_call.len();
        assert!(kept <= CAPACITY, "{kept}");
    }
}
