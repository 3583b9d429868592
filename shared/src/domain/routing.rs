//! Who to connect when a participant calls their proxy number.

use super::roster::RosterEntry;

/// What an inbound call should do, decided from the session's roster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallPlan {
    /// One other voice participant: dial them, showing their own proxy
    /// number (the one they know this session by).
    Connect { callee: RosterEntry },
    /// Several: call each of them into a conference the caller joins.
    Conference {
        room: String,
        callees: Vec<RosterEntry>,
    },
    /// Everyone else is on WhatsApp, which cannot be dialled.
    NobodyDialable,
}

/// Plans the call from `caller` (who dialled `proxy`) in a session with
/// `roster`. `room` names the conference if one is needed. Returns `None`
/// when the caller is not in the roster on that proxy.
pub fn plan_call(
    caller: &str,
    proxy: &str,
    roster: &[RosterEntry],
    room: &str,
) -> Option<CallPlan> {
    roster
        .iter()
        .find(|e| e.address == caller && e.proxy == proxy)?;
    let mut callees: Vec<RosterEntry> = roster
        .iter()
        .filter(|e| e.address != caller && e.channel.can_be_dialled())
        .cloned()
        .collect();
    Some(match callees.len() {
        0 => CallPlan::NobodyDialable,
        1 => CallPlan::Connect {
            callee: callees.remove(0),
        },
        _ => CallPlan::Conference {
            room: room.to_owned(),
            callees,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(address: &str, proxy: &str) -> RosterEntry {
        RosterEntry::new(address, proxy)
    }

    const CALLER: &str = "+14155550101";
    const PROXY: &str = "+15005550001";

    #[test]
    fn two_party_session_connects_the_other_side() {
        let roster = [entry(CALLER, PROXY), entry("+14155550102", "+15005550002")];
        assert_eq!(
            plan_call(CALLER, PROXY, &roster, "room"),
            Some(CallPlan::Connect {
                callee: entry("+14155550102", "+15005550002")
            })
        );
    }

    #[test]
    fn group_session_becomes_a_conference_without_whatsapp() {
        let roster = [
            entry(CALLER, PROXY),
            entry("+14155550102", "+15005550002"),
            entry("whatsapp:+447700900123", "whatsapp:+15005550001"),
            entry("+14155550103", "+15005550003"),
        ];
        let Some(CallPlan::Conference { room, callees }) =
            plan_call(CALLER, PROXY, &roster, "mc-CA1")
        else {
            panic!("expected a conference");
        };
        assert_eq!(room, "mc-CA1");
        let numbers: Vec<_> = callees.iter().map(|c| c.address.as_str()).collect();
        assert_eq!(numbers, ["+14155550102", "+14155550103"]);
    }

    #[test]
    fn whatsapp_only_others_cannot_be_dialled() {
        let roster = [
            entry(CALLER, PROXY),
            entry("whatsapp:+447700900123", "whatsapp:+15005550001"),
        ];
        assert_eq!(
            plan_call(CALLER, PROXY, &roster, "r"),
            Some(CallPlan::NobodyDialable)
        );
    }

    #[test]
    fn caller_must_be_in_the_roster_on_that_proxy() {
        let roster = [entry(CALLER, PROXY), entry("+14155550102", "+15005550002")];
        assert_eq!(plan_call(CALLER, "+15005550002", &roster, "r"), None);
        assert_eq!(plan_call("+14155550199", PROXY, &roster, "r"), None);
        assert_eq!(plan_call(CALLER, PROXY, &[], "r"), None);
    }
}
