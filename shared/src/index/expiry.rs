//! When index items end. Every item carries `expires_at` (DynamoDB's TTL
//! attribute): a session's items a margin after its closed timer, pushed
//! out while the session is used, so an open, busy session never loses its
//! items to TTL and a closed one never keeps them for good.

use std::time::Duration;

/// Expiry of a session's items when its closed timer is unknown (a session
/// made before every session got the stack's default closed timer): the
/// default timer's 30 days plus a day. Pushed out on use like any other.
pub const UNTIMED_SESSION_KEPT_FOR: Duration = Duration::from_secs(31 * 24 * 60 * 60);

/// How far past Twilio's closed timer a push-out moves the items: at most
/// one push-out per session per this much movement of the timer, however
/// many calls it has.
pub const PUSHED_AHEAD_BY: Duration = Duration::from_secs(24 * 60 * 60);

/// The `expires_at` a session's items get: the session's own (its closed
/// timer plus grace), or [`UNTIMED_SESSION_KEPT_FOR`] from `now`.
pub fn of_session(expires_at: Option<u64>, now: u64) -> u64 {
    expires_at.unwrap_or(now + UNTIMED_SESSION_KEPT_FOR.as_secs())
}

/// Where to move a session's items, if they must move: `held` is what the
/// session item holds (none for an item written before expiries were
/// kept), `needed` what Twilio's closed timer now asks for. `None` while
/// the items outlive the timer.
pub fn push_out(held: Option<u64>, needed: u64) -> Option<u64> {
    match held {
        Some(held) if held >= needed => None,
        _ => Some(needed + PUSHED_AHEAD_BY.as_secs()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_without_a_closed_timer_still_expires() {
        assert_eq!(of_session(Some(7), 1_000), 7);
        assert_eq!(
            of_session(None, 1_000),
            1_000 + UNTIMED_SESSION_KEPT_FOR.as_secs()
        );
    }

    #[test]
    fn items_move_only_when_the_timer_passes_them_and_then_a_day_ahead() {
        let day = PUSHED_AHEAD_BY.as_secs();
        assert_eq!(push_out(Some(10_000), 10_000), None);
        assert_eq!(push_out(Some(10_000), 9_000), None);
        assert_eq!(push_out(Some(10_000), 10_001), Some(10_001 + day));
        assert_eq!(push_out(None, 5), Some(5 + day));
        // After one push, a day of timer movement passes before the next.
        let moved = push_out(Some(10_000), 10_001).unwrap();
        assert_eq!(push_out(Some(moved), 10_001 + day), None);
        assert!(push_out(Some(moved), 10_002 + day).is_some());
    }
}
