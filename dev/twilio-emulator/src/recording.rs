//! What the emulator remembers about each Twilio request, and round-trip counting.

use std::time::Instant;

use serde::Serialize;

use crate::faults::Operation;

/// One Twilio request as the emulator saw it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub operation: Operation,
    pub method: String,
    pub path: String,
    /// The raw query string, without `?` (empty when there was none).
    pub query: String,
    /// The decoded form body, in order; names can repeat.
    pub form: Vec<(String, String)>,
    /// The HTTP status answered, or 0 when no HTTP response was sent (`Reset`, `Hang`).
    pub status: u16,
    pub started: Instant,
    /// When the answer was produced. For `Hang` this is when the hang began.
    pub finished: Instant,
    /// Which accepted TCP connection carried it (1 for the first connection).
    pub connection_id: usize,
}

impl RecordedRequest {
    /// The first value of a form parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The length of the longest chain of requests in which each one started after the
/// previous one finished: the number of sequential waves a client needed.
///
/// This is the largest set of pairwise non-overlapping intervals, which the classic
/// greedy (earliest finish first) finds exactly. Requests that overlap in time count as
/// one wave. With zero latency two "concurrent" requests may be served back to back and
/// look sequential; set some latency to make the count robust.
pub fn sequential_round_trips(requests: &[RecordedRequest]) -> usize {
    let mut intervals: Vec<(Instant, Instant)> =
        requests.iter().map(|r| (r.started, r.finished)).collect();
    intervals.sort_by_key(|&(_, finished)| finished);
    let mut count = 0;
    let mut last_finish: Option<Instant> = None;
    for (started, finished) in intervals {
        if last_finish.is_none_or(|last| started >= last) {
            count += 1;
            last_finish = Some(finished);
        }
    }
    count
}

/// JSON view of a recorded request for the control API (instants become milliseconds
/// since the emulator started).
#[derive(Debug, Serialize)]
pub(crate) struct RequestView<'a> {
    operation: Operation,
    method: &'a str,
    path: &'a str,
    query: &'a str,
    form: &'a [(String, String)],
    status: u16,
    started_ms: f64,
    finished_ms: f64,
    connection_id: usize,
}

impl<'a> RequestView<'a> {
    pub(crate) fn new(r: &'a RecordedRequest, epoch: Instant) -> Self {
        let ms = |t: Instant| t.saturating_duration_since(epoch).as_secs_f64() * 1000.0;
        Self {
            operation: r.operation,
            method: &r.method,
            path: &r.path,
            query: &r.query,
            form: &r.form,
            status: r.status,
            started_ms: ms(r.started),
            finished_ms: ms(r.finished),
            connection_id: r.connection_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn req(base: Instant, start_ms: u64, end_ms: u64) -> RecordedRequest {
        RecordedRequest {
            operation: Operation::CreateParticipant,
            method: "POST".into(),
            path: "/v1/Conversations/CH/Participants".into(),
            query: String::new(),
            form: vec![("MessagingBinding.Address".into(), "+15550001".into())],
            status: 201,
            started: base + Duration::from_millis(start_ms),
            finished: base + Duration::from_millis(end_ms),
            connection_id: 1,
        }
    }

    #[test]
    fn empty_is_zero_waves() {
        assert_eq!(sequential_round_trips(&[]), 0);
    }

    #[test]
    fn fully_parallel_requests_are_one_wave() {
        let t = Instant::now();
        let reqs = [req(t, 0, 50), req(t, 1, 52), req(t, 2, 49), req(t, 3, 60)];
        assert_eq!(sequential_round_trips(&reqs), 1);
    }

    #[test]
    fn back_to_back_requests_are_separate_waves() {
        let t = Instant::now();
        let reqs = [req(t, 0, 10), req(t, 11, 20), req(t, 21, 30)];
        assert_eq!(sequential_round_trips(&reqs), 3);
    }

    #[test]
    fn create_then_parallel_participants_then_fetch_is_three_waves() {
        let t = Instant::now();
        // Given out of order on purpose.
        let mut reqs = vec![
            req(t, 46, 55), // wave 3: fetch
            req(t, 21, 40), // wave 2: participant A
            req(t, 0, 20),  // wave 1: create
            req(t, 22, 45), // wave 2: participant B, overlapping A
        ];
        assert_eq!(sequential_round_trips(&reqs), 3);
        reqs.push(req(t, 56, 58)); // one more sequential call
        assert_eq!(sequential_round_trips(&reqs), 4);
    }

    #[test]
    fn a_long_request_does_not_hide_a_chain_beside_it() {
        let t = Instant::now();
        let reqs = [
            req(t, 0, 100),
            req(t, 1, 10),
            req(t, 11, 20),
            req(t, 21, 30),
        ];
        assert_eq!(sequential_round_trips(&reqs), 3);
    }

    #[test]
    fn param_returns_first_value() {
        let t = Instant::now();
        let mut r = req(t, 0, 1);
        r.form
            .push(("MessagingBinding.Address".into(), "+15550002".into()));
        assert_eq!(r.param("MessagingBinding.Address"), Some("+15550001"));
        assert_eq!(r.param("Identity"), None);
    }
}
