//! Metrics in CloudWatch's Embedded Metric Format (EMF): at the end of each
//! invocation the request wrapper ([`crate::http::serve`]) writes one JSON
//! document to stdout, on a line of its own beside the request's log line,
//! and CloudWatch Logs turns it into metrics. No API call, no permission
//! beyond writing logs, nothing on the answer's path but formatting a line.
//!
//! - [`ALL`]: every metric with its unit and dimensions, in [`NAMESPACE`].
//!   The dashboard and alarms in template.yaml are checked against this list
//!   (tests/deploy/test_template.py reads it through tests/support/project.py).
//! - [`Recorder`]: one invocation's facts, hung off [`crate::http::Invocation`]
//!   so the handlers, the session service and the Twilio client can count
//!   into it. Counting is an atomic add into a fixed array: no allocation.
//! - [`Sink`]: where documents go (stdout in Lambda, memory in tests).
//!
//! Privacy by construction: a document holds numbers, names from the fixed
//! lists below, the function's name and Lambda's request id (only when it
//! is id-shaped). No phone number, sid or other per-user value can reach a
//! dimension or a value, because nothing here accepts one.

use std::io::Write;
use std::sync::atomic::{AtomicU32, AtomicU8, AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

/// The CloudWatch namespace of every metric here.
pub const NAMESPACE: &str = "MaskedComms";
/// Dimension of every metric: the function's deployed name (Lambda's
/// `AWS_LAMBDA_FUNCTION_NAME`, `${AWS::StackName}-<binary>` in
/// template.yaml), so stacks sharing an account and region stay apart, and
/// the value is the same as `FunctionName` in the `AWS/Lambda` metrics.
/// Outside Lambda, the binary's name.
pub const FUNCTION: &str = "Function";
/// Second dimension of [`CALLS`]: how the call was answered ([`CallOutcome`]).
pub const OUTCOME: &str = "Outcome";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    /// As CloudWatch spells it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// A metric as CloudWatch knows it: name, unit, dimension keys.
#[derive(Debug, PartialEq, Eq)]
pub struct Metric {
    pub name: &'static str,
    pub unit: Unit,
    pub dimensions: &'static [&'static str],
}

// Per request, from the wrapper; every invocation has these three.
/// The request's time in the function, from the wrapper's start to its answer.
pub const LATENCY: Metric = Metric {
    name: "Latency",
    unit: Unit::Milliseconds,
    dimensions: &[FUNCTION],
};
/// 1 when the answer was 4xx, else 0: its Average is the 4xx rate.
pub const ERRORS_4XX: Metric = Metric {
    name: "Errors4xx",
    unit: Unit::Count,
    dimensions: &[FUNCTION],
};
/// 1 when the answer was 5xx, else 0: its Average is the 5xx rate.
pub const ERRORS_5XX: Metric = Metric {
    name: "Errors5xx",
    unit: Unit::Count,
    dimensions: &[FUNCTION],
};
/// An operator request refused for want of the right credentials (401).
pub const UNAUTHORIZED: Metric = Metric {
    name: "Unauthorized",
    unit: Unit::Count,
    dimensions: &[FUNCTION],
};

// Sessions, from the session service.
/// A new session made (`POST /sessions`, or for an out-of-session caller).
pub const SESSIONS_CREATED: Metric = Metric {
    name: "SessionsCreated",
    unit: Unit::Count,
    dimensions: &[FUNCTION],
};
/// A session closed by the API, or cleaned up after Twilio closed it.
pub const SESSIONS_CLOSED: Metric = Metric {
    name: "SessionsClosed",
    unit: Unit::Count,
    dimensions: &[FUNCTION],
};
/// A create or participant add refused: no free number in the pool.
pub const POOL_EXHAUSTED: Metric = Metric {
    name: "PoolExhausted",
    unit: Unit::Count,
    dimensions: &[FUNCTION],
};
/// A participant moved to their next candidate number because another
/// session took the first meanwhile (Twilio's 50416).
pub const BINDING_FALLBACKS: Metric = Metric {
    name: "BindingFallbacks",
    unit: Unit::Count,
    dimensions: &[FUNCTION],
};

// Calls, from the inbound-call handler.
/// A call answered, by [`OUTCOME`].
pub const CALLS: Metric = Metric {
    name: "Calls",
    unit: Unit::Count,
    dimensions: &[FUNCTION, OUTCOME],
};
/// A call's session found by the session index.
pub const INDEX_HITS: Metric = Metric {
    name: "IndexHits",
    unit: Unit::Count,
    dimensions: &[FUNCTION],
};
/// A call's lookup the index could not answer: Twilio was paged instead.
pub const INDEX_MISSES: Metric = Metric {
    name: "IndexMisses",
    unit: Unit::Count,
    dimensions: &[FUNCTION],
};
/// A lookup the session index could not answer (DynamoDB down, a wrong
/// table, throttling, no answer in time): a call pages Twilio instead, a
/// create answers 503.
pub const INDEX_UNAVAILABLE: Metric = Metric {
    name: "IndexUnavailable",
    unit: Unit::Count,
    dimensions: &[FUNCTION],
};

// Twilio, from its client (every attempt, retries included).
/// How long Twilio took to answer an attempt, one value per attempt.
pub const TWILIO_LATENCY: Metric = Metric {
    name: "TwilioLatency",
    unit: Unit::Milliseconds,
    dimensions: &[FUNCTION],
};
/// An attempt Twilio did not answer usefully: no connection, no answer in
/// time, a 5xx, or our credentials refused (401/403). Refusals that are
/// answers (a number taken, not found) are not errors.
pub const TWILIO_ERRORS: Metric = Metric {
    name: "TwilioErrors",
    unit: Unit::Count,
    dimensions: &[FUNCTION],
};
/// An attempt Twilio throttled (429; retried until the budget runs out).
pub const TWILIO_THROTTLED: Metric = Metric {
    name: "TwilioThrottled",
    unit: Unit::Count,
    dimensions: &[FUNCTION],
};

/// Every metric the functions emit.
pub const ALL: [&Metric; 15] = [
    &LATENCY,
    &ERRORS_4XX,
    &ERRORS_5XX,
    &UNAUTHORIZED,
    &SESSIONS_CREATED,
    &SESSIONS_CLOSED,
    &POOL_EXHAUSTED,
    &BINDING_FALLBACKS,
    &CALLS,
    &INDEX_HITS,
    &INDEX_MISSES,
    &INDEX_UNAVAILABLE,
    &TWILIO_LATENCY,
    &TWILIO_ERRORS,
    &TWILIO_THROTTLED,
];

/// How an inbound call was answered: the [`OUTCOME`] of [`CALLS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    /// Put through to the one other participant.
    Connected,
    /// Everyone else rung into a conference.
    Conference,
    /// No session binds the caller to the number: the message, or the backend's.
    OutOfSession,
    /// The session takes messages only: refused with a message.
    MessageOnly,
    /// Nobody else in the session can take calls.
    NobodyDialable,
    /// Something failed (configuration, Twilio, the index): an apology.
    Apology,
    /// Out of session, forwarded to the configured number.
    Forwarded,
    /// Out of session, rejected as the configuration says.
    Rejected,
}

impl CallOutcome {
    pub const ALL: [CallOutcome; 8] = [
        CallOutcome::Connected,
        CallOutcome::Conference,
        CallOutcome::OutOfSession,
        CallOutcome::MessageOnly,
        CallOutcome::NobodyDialable,
        CallOutcome::Apology,
        CallOutcome::Forwarded,
        CallOutcome::Rejected,
    ];

    /// The [`OUTCOME`] dimension's value.
    pub const fn name(self) -> &'static str {
        match self {
            CallOutcome::Connected => "Connected",
            CallOutcome::Conference => "Conference",
            CallOutcome::OutOfSession => "OutOfSession",
            CallOutcome::MessageOnly => "MessageOnly",
            CallOutcome::NobodyDialable => "NobodyDialable",
            CallOutcome::Apology => "Apology",
            CallOutcome::Forwarded => "Forwarded",
            CallOutcome::Rejected => "Rejected",
        }
    }
}

/// The facts counted one by one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    Unauthorized,
    SessionsCreated,
    SessionsClosed,
    PoolExhausted,
    BindingFallbacks,
    IndexHits,
    IndexMisses,
    IndexUnavailable,
    TwilioErrors,
    TwilioThrottled,
}

impl Count {
    const ALL: [Count; 10] = [
        Count::Unauthorized,
        Count::SessionsCreated,
        Count::SessionsClosed,
        Count::PoolExhausted,
        Count::BindingFallbacks,
        Count::IndexHits,
        Count::IndexMisses,
        Count::IndexUnavailable,
        Count::TwilioErrors,
        Count::TwilioThrottled,
    ];

    const fn metric(self) -> &'static Metric {
        match self {
            Count::Unauthorized => &UNAUTHORIZED,
            Count::SessionsCreated => &SESSIONS_CREATED,
            Count::SessionsClosed => &SESSIONS_CLOSED,
            Count::PoolExhausted => &POOL_EXHAUSTED,
            Count::BindingFallbacks => &BINDING_FALLBACKS,
            Count::IndexHits => &INDEX_HITS,
            Count::IndexMisses => &INDEX_MISSES,
            Count::IndexUnavailable => &INDEX_UNAVAILABLE,
            Count::TwilioErrors => &TWILIO_ERRORS,
            Count::TwilioThrottled => &TWILIO_THROTTLED,
        }
    }
}

/// EMF allows at most 100 values in one metric's array; an invocation
/// making more Twilio requests than that reports its first 100.
const MAX_SAMPLES: usize = 100;

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
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            counts: [const { AtomicU32::new(0) }; Count::ALL.len()],
            call: AtomicU8::new(0),
            twilio_requests: AtomicUsize::new(0),
            twilio_samples: AtomicUsize::new(0),
            twilio_micros: [const { AtomicU32::new(0) }; MAX_SAMPLES],
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

    fn twilio_latencies(&self) -> &[AtomicU32] {
        let taken = self.twilio_samples.load(Ordering::Relaxed);
        &self.twilio_micros[..taken.min(MAX_SAMPLES)]
    }

    /// The invocation's EMF document, as one line without its newline.
    pub fn document(&self, request: &Answered<'_>) -> Vec<u8> {
        let mut line = Vec::with_capacity(768);
        let document = Document {
            recorder: self,
            request,
            timestamp_ms: unix_millis(),
        };
        serde_json::to_writer(&mut line, &document).expect("a document serialises");
        line
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

/// The deployed name, read once per process.
static DEPLOYED_NAME: LazyLock<Option<String>> = LazyLock::new(|| {
    std::env::var("AWS_LAMBDA_FUNCTION_NAME")
        .ok()
        .filter(|name| !name.trim().is_empty())
});

/// The [`FUNCTION`] dimension's value: Lambda's name for this function,
/// else `binary` (local runs and tests).
pub fn function_name(binary: &'static str) -> &'static str {
    DEPLOYED_NAME.as_deref().unwrap_or(binary)
}

fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Lambda's request ids are UUIDs (8-4-4-4-12 hex digits); anything else
/// is left out of the document rather than trusted.
fn is_request_id(text: &str) -> bool {
    text.len() == 36
        && text.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// A metric's value in the document.
#[derive(Clone, Copy)]
enum Value<'r> {
    Count(u32),
    Millis(Duration),
    /// Microseconds, written as milliseconds.
    Samples(&'r [AtomicU32]),
}

impl Serialize for Value<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            Value::Count(n) => s.serialize_u32(n),
            Value::Millis(d) => s.serialize_f64(millis(d.as_micros() as f64)),
            Value::Samples(values) => {
                let mut seq = s.serialize_seq(Some(values.len()))?;
                for micros in values {
                    seq.serialize_element(&millis(f64::from(micros.load(Ordering::Relaxed))))?;
                }
                seq.end()
            }
        }
    }
}

/// Microseconds as milliseconds, to the microsecond.
fn millis(micros: f64) -> f64 {
    micros / 1000.0
}

/// The metrics present in one document, in [`ALL`]'s order. Counts that
/// stayed 0 are left out (their metric then has no data point, which
/// dashboards and alarms treat as none); the three per-request metrics are
/// always there, so their averages are rates.
struct Present<'r> {
    entries: [Option<(&'static Metric, Value<'r>)>; ALL.len()],
}

impl<'r> Present<'r> {
    fn of(recorder: &'r Recorder, request: &Answered<'_>) -> Self {
        let mut entries = [None; ALL.len()];
        let mut put = |metric: &'static Metric, value: Value<'r>| {
            let slot = ALL
                .iter()
                .position(|m| m.name == metric.name)
                .expect("every metric is in ALL");
            entries[slot] = Some((metric, value));
        };
        put(&LATENCY, Value::Millis(request.latency));
        put(
            &ERRORS_4XX,
            Value::Count((400..500).contains(&request.status).into()),
        );
        put(
            &ERRORS_5XX,
            Value::Count((500..600).contains(&request.status).into()),
        );
        for fact in Count::ALL {
            let n = recorder.counted(fact);
            if n > 0 {
                put(fact.metric(), Value::Count(n));
            }
        }
        if recorder.call_outcome().is_some() {
            put(&CALLS, Value::Count(1));
        }
        let latencies = recorder.twilio_latencies();
        if !latencies.is_empty() {
            put(&TWILIO_LATENCY, Value::Samples(latencies));
        }
        Present { entries }
    }

    fn iter(&self) -> impl Iterator<Item = (&'static Metric, Value<'r>)> + '_ {
        self.entries.iter().flatten().copied()
    }
}

struct Document<'a> {
    recorder: &'a Recorder,
    request: &'a Answered<'a>,
    timestamp_ms: u64,
}

impl Serialize for Document<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let present = Present::of(self.recorder, self.request);
        let outcome = self.recorder.call_outcome();
        let mut root = s.serialize_map(None)?;
        root.serialize_entry(
            "_aws",
            &Metadata {
                timestamp_ms: self.timestamp_ms,
                present: &present,
            },
        )?;
        root.serialize_entry(FUNCTION, self.request.function)?;
        if let Some(outcome) = outcome {
            root.serialize_entry(OUTCOME, outcome.name())?;
        }
        for (metric, value) in present.iter() {
            root.serialize_entry(metric.name, &value)?;
        }
        if is_request_id(self.request.request_id) {
            root.serialize_entry("requestId", self.request.request_id)?;
        }
        root.end()
    }
}

struct Metadata<'a, 'r> {
    timestamp_ms: u64,
    present: &'a Present<'r>,
}

impl Serialize for Metadata<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut aws = s.serialize_map(Some(2))?;
        aws.serialize_entry("Timestamp", &self.timestamp_ms)?;
        // One directive per dimension set present: a metric is published
        // once, under its own dimensions only.
        let mut directives = [None, None];
        for (i, dimensions) in [&[FUNCTION][..], &[FUNCTION, OUTCOME][..]]
            .into_iter()
            .enumerate()
        {
            if self.present.iter().any(|(m, _)| m.dimensions == dimensions) {
                directives[i] = Some(Directive {
                    dimensions,
                    present: self.present,
                });
            }
        }
        let directives: Directives<'_, '_> = Directives(&directives);
        aws.serialize_entry("CloudWatchMetrics", &directives)?;
        aws.end()
    }
}

struct Directives<'a, 'r>(&'a [Option<Directive<'a, 'r>>; 2]);

impl Serialize for Directives<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for directive in self.0.iter().flatten() {
            seq.serialize_element(directive)?;
        }
        seq.end()
    }
}

struct Directive<'a, 'r> {
    dimensions: &'static [&'static str],
    present: &'a Present<'r>,
}

impl Serialize for Directive<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut directive = s.serialize_map(Some(3))?;
        directive.serialize_entry("Namespace", NAMESPACE)?;
        directive.serialize_entry("Dimensions", &[self.dimensions])?;
        directive.serialize_entry("Metrics", &Definitions(self))?;
        directive.end()
    }
}

struct Definitions<'a, 'b, 'r>(&'a Directive<'b, 'r>);

impl Serialize for Definitions<'_, '_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for (metric, _) in self.0.present.iter() {
            if metric.dimensions == self.0.dimensions {
                seq.serialize_element(&Definition(metric))?;
            }
        }
        seq.end()
    }
}

struct Definition(&'static Metric);

impl Serialize for Definition {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut definition = s.serialize_map(Some(2))?;
        definition.serialize_entry("Name", self.0.name)?;
        definition.serialize_entry("Unit", self.0.unit.as_str())?;
        definition.end()
    }
}

/// Where documents go.
#[derive(Debug, Default)]
pub enum Sink {
    /// Lambda: stdout, which Lambda sends to CloudWatch Logs.
    Stdout,
    /// Nowhere (tests and benchmarks that do not look).
    #[default]
    Discard,
    /// Kept, one line each, for tests to read.
    Memory(Mutex<Vec<String>>),
}

impl Sink {
    pub fn memory() -> Self {
        Sink::Memory(Mutex::new(Vec::new()))
    }

    /// Writes one document (`line`, without its newline).
    pub fn write(&self, mut line: Vec<u8>) {
        match self {
            Sink::Stdout => {
                line.push(b'\n');
                // One write of the whole line under stdout's lock, so it never
                // interleaves with the log lines (written the same way).
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(&line).and_then(|()| out.flush());
            }
            Sink::Discard => {}
            Sink::Memory(lines) => {
                let text = String::from_utf8(line).expect("documents are UTF-8");
                lines.lock().unwrap_or_else(|e| e.into_inner()).push(text);
            }
        }
    }

    /// The documents written so far, each taken once (a memory sink's only).
    pub fn take(&self) -> Vec<String> {
        match self {
            Sink::Memory(lines) => {
                std::mem::take(&mut *lines.lock().unwrap_or_else(|e| e.into_inner()))
            }
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value as Json;

    const REQUEST_ID: &str = "8f1c2a9e-4b7d-4e0a-9c3f-1d2e3f405162";

    fn answered(status: u16) -> Answered<'static> {
        Answered {
            function: "stack-inbound-call",
            request_id: REQUEST_ID,
            status,
            latency: Duration::from_micros(12_345),
        }
    }

    fn parsed(recorder: &Recorder, request: &Answered<'_>) -> Json {
        serde_json::from_slice(&recorder.document(request)).expect("a document is JSON")
    }

    /// (directive's dimension sets, its metric names and units).
    fn directives(document: &Json) -> Vec<(Json, Vec<(String, String)>)> {
        document["_aws"]["CloudWatchMetrics"]
            .as_array()
            .expect("CloudWatchMetrics is an array")
            .iter()
            .map(|d| {
                assert_eq!(d["Namespace"], NAMESPACE);
                let metrics = d["Metrics"]
                    .as_array()
                    .expect("Metrics is an array")
                    .iter()
                    .map(|m| {
                        (
                            m["Name"].as_str().unwrap().to_owned(),
                            m["Unit"].as_str().unwrap().to_owned(),
                        )
                    })
                    .collect();
                (d["Dimensions"].clone(), metrics)
            })
            .collect()
    }

    /// Every metric named in a directive has a value at the root, every
    /// value at the root is named in exactly one directive, and every
    /// dimension key named is a string at the root.
    fn assert_well_formed(document: &Json) {
        let root = document.as_object().expect("the document is an object");
        let mut named = Vec::new();
        for (dimensions, metrics) in directives(document) {
            let sets = dimensions
                .as_array()
                .expect("Dimensions is an array of sets");
            assert_eq!(sets.len(), 1, "one dimension set per directive");
            for key in sets[0].as_array().unwrap() {
                let key = key.as_str().unwrap();
                assert!(root[key].is_string(), "dimension {key} is a root string");
            }
            assert!(!metrics.is_empty(), "no empty directive");
            for (name, unit) in metrics {
                let metric = ALL
                    .iter()
                    .find(|m| m.name == name)
                    .unwrap_or_else(|| panic!("{name} is in ALL"));
                assert_eq!(unit, metric.unit.as_str(), "{name}");
                assert_eq!(sets[0], serde_json::json!(metric.dimensions), "{name}");
                let value = &root[&name];
                let numbers = match value {
                    Json::Array(values) => values.clone(),
                    other => vec![other.clone()],
                };
                assert!(
                    !numbers.is_empty() && numbers.iter().all(Json::is_number),
                    "{name}: {value}"
                );
                assert!(numbers.len() <= MAX_SAMPLES, "{name}");
                named.push(name);
            }
        }
        let mut sorted = named.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), named.len(), "a metric named twice: {named:?}");
        let values: Vec<&String> = root
            .keys()
            .filter(|k| ALL.iter().any(|m| m.name == k.as_str()))
            .collect();
        assert_eq!(values.len(), named.len(), "{values:?} vs {named:?}");
    }

    #[test]
    fn a_quiet_request_has_the_three_request_metrics_and_nothing_else() {
        let recorder = Recorder::default();
        let before = unix_millis();
        let document = parsed(&recorder, &answered(200));
        assert_well_formed(&document);
        let names: Vec<String> = directives(&document)
            .into_iter()
            .flat_map(|(_, m)| m.into_iter().map(|(n, _)| n))
            .collect();
        assert_eq!(names, ["Latency", "Errors4xx", "Errors5xx"]);
        assert_eq!(document["Latency"], 12.345);
        assert_eq!(document["Errors4xx"], 0);
        assert_eq!(document["Errors5xx"], 0);
        assert_eq!(document["Function"], "stack-inbound-call");
        assert_eq!(document["requestId"], REQUEST_ID);
        assert!(document.get("Outcome").is_none());
        let timestamp = document["_aws"]["Timestamp"].as_u64().expect("an integer");
        // Milliseconds since the epoch: 13 digits until the year 2286.
        assert!(
            timestamp >= before && timestamp <= unix_millis(),
            "{timestamp}"
        );
        assert_eq!(timestamp.to_string().len(), 13);
    }

    #[test]
    fn a_call_adds_a_directive_with_its_outcome_and_counts_go_in_when_counted() {
        let recorder = Recorder::default();
        recorder.count(Count::IndexHits);
        recorder.count(Count::BindingFallbacks);
        recorder.count(Count::BindingFallbacks);
        recorder.twilio_answered(Duration::from_micros(80_500));
        recorder.twilio_answered(Duration::from_millis(120));
        recorder.call_answered(CallOutcome::Conference);
        recorder.call_answered(CallOutcome::Apology);
        let document = parsed(&recorder, &answered(200));
        assert_well_formed(&document);
        let found = directives(&document);
        assert_eq!(found.len(), 2);
        assert_eq!(found[1].0, serde_json::json!([["Function", "Outcome"]]));
        assert_eq!(found[1].1, [("Calls".to_owned(), "Count".to_owned())]);
        assert_eq!(document["Outcome"], "Apology", "the last word counts");
        assert_eq!(document["Calls"], 1);
        assert_eq!(document["IndexHits"], 1);
        assert_eq!(document["BindingFallbacks"], 2);
        assert_eq!(document["TwilioLatency"], serde_json::json!([80.5, 120.0]));
        assert!(document.get("IndexMisses").is_none());
    }

    #[test]
    fn statuses_count_as_4xx_or_5xx_and_401_as_unauthorized_only_when_counted() {
        for (status, four, five) in [(201, 0, 0), (401, 1, 0), (409, 1, 0), (503, 0, 1)] {
            let document = parsed(&Recorder::default(), &answered(status));
            assert_well_formed(&document);
            assert_eq!(
                (
                    document["Errors4xx"].as_u64(),
                    document["Errors5xx"].as_u64()
                ),
                (Some(four), Some(five)),
                "{status}"
            );
        }
        let recorder = Recorder::default();
        recorder.count(Count::Unauthorized);
        assert_eq!(parsed(&recorder, &answered(401))["Unauthorized"], 1);
    }

    #[test]
    fn every_metric_can_appear_and_each_under_its_own_dimensions() {
        let recorder = Recorder::default();
        for fact in Count::ALL {
            recorder.count(fact);
        }
        recorder.twilio_answered(Duration::from_millis(5));
        recorder.call_answered(CallOutcome::Connected);
        let document = parsed(&recorder, &answered(500));
        assert_well_formed(&document);
        let mut emitted: Vec<String> = directives(&document)
            .into_iter()
            .flat_map(|(_, m)| m.into_iter().map(|(n, _)| n))
            .collect();
        let mut all: Vec<String> = ALL.iter().map(|m| m.name.to_owned()).collect();
        emitted.sort();
        all.sort();
        assert_eq!(emitted, all);
        let mut names = all.clone();
        names.dedup();
        assert_eq!(names.len(), ALL.len(), "metric names are unique");
    }

    #[test]
    fn twilio_latency_keeps_at_most_a_hundred_values() {
        let recorder = Recorder::default();
        for i in 0..150 {
            recorder.twilio_answered(Duration::from_millis(i));
        }
        let document = parsed(&recorder, &answered(201));
        assert_well_formed(&document);
        let values = document["TwilioLatency"].as_array().unwrap();
        assert_eq!(values.len(), 100);
        assert_eq!(values[99], 99.0);
    }

    #[test]
    fn outcome_names_are_distinct_and_round_trip() {
        for outcome in CallOutcome::ALL {
            let recorder = Recorder::default();
            recorder.call_answered(outcome);
            assert_eq!(recorder.call_outcome(), Some(outcome));
        }
        let mut names: Vec<&str> = CallOutcome::ALL.iter().map(|o| o.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), CallOutcome::ALL.len());
        assert_eq!(Recorder::default().call_outcome(), None);
    }

    #[test]
    fn the_memory_sink_keeps_lines_and_the_others_keep_nothing() {
        let sink = Sink::memory();
        sink.write(b"{\"a\":1}".to_vec());
        sink.write(b"{\"b\":2}".to_vec());
        assert_eq!(sink.take(), ["{\"a\":1}", "{\"b\":2}"]);
        assert!(sink.take().is_empty(), "taken once");
        Sink::Discard.write(b"{}".to_vec());
        assert!(Sink::Discard.take().is_empty());
    }

    /// The digits of anything that could be a phone number: seven or more
    /// in a row, ignoring the separators people write between them.
    fn phone_like(text: &str) -> bool {
        let mut run = 0;
        for c in text.chars() {
            if c.is_ascii_digit() {
                run += 1;
                if run >= 7 {
                    return true;
                }
            } else if !matches!(c, ' ' | '-' | '.' | '(' | ')' | '+') {
                run = 0;
            }
        }
        false
    }

    /// Every string anywhere in the document, keys included.
    fn strings(value: &Json, out: &mut Vec<String>) {
        match value {
            Json::String(s) => out.push(s.clone()),
            Json::Array(items) => items.iter().for_each(|v| strings(v, out)),
            Json::Object(map) => {
                for (k, v) in map {
                    out.push(k.clone());
                    strings(v, out);
                }
            }
            _ => {}
        }
    }

    fn hostile_text() -> impl Strategy<Value = String> {
        prop_oneof![
            "\\+[1-9][0-9]{7,14}",
            "whatsapp:\\+[1-9][0-9]{7,14}",
            "CA[0-9a-f]{32}",
            "[0-9a-f-]{8,40}",
            "[0-9]{8}-[0-9]{4}-[0-9]{4}-[0-9]{4}-[0-9]{12}",
            "[0-9]{3}-[0-9]{3}-[0-9]{4}",
            ".{0,40}",
            Just(REQUEST_ID.to_owned()),
        ]
    }

    proptest! {
        /// Whatever a request carried and however it went, the document's
        /// strings come from the fixed vocabulary (or are Lambda's id), and
        /// none of them looks like a phone number.
        #[test]
        fn documents_hold_no_caller_data(
            request_id in hostile_text(),
            facts in proptest::collection::vec(0..Count::ALL.len(), 0..30),
            outcome in proptest::option::of(0..CallOutcome::ALL.len()),
            latencies in proptest::collection::vec(0u64..20_000_000, 0..120),
            status in 100u16..600,
        ) {
            let recorder = Recorder::default();
            for fact in &facts {
                recorder.count(Count::ALL[*fact]);
            }
            if let Some(outcome) = outcome {
                recorder.call_answered(CallOutcome::ALL[outcome]);
            }
            for micros in &latencies {
                recorder.twilio_answered(Duration::from_micros(*micros));
            }
            let request = Answered {
                function: "stack-sessions",
                request_id: &request_id,
                status,
                latency: Duration::from_micros(latencies.first().copied().unwrap_or(0)),
            };
            let document = parsed(&recorder, &request);
            assert_well_formed(&document);
            let mut found = Vec::new();
            strings(&document, &mut found);
            let vocabulary: Vec<&str> = ALL
                .iter()
                .map(|m| m.name)
                .chain(ALL.iter().map(|m| m.unit.as_str()))
                .chain(CallOutcome::ALL.iter().map(|o| o.name()))
                .chain([
                    NAMESPACE, FUNCTION, OUTCOME, "stack-sessions", "_aws", "Timestamp",
                    "CloudWatchMetrics", "Namespace", "Dimensions", "Metrics", "Name", "Unit",
                    "requestId",
                ])
                .collect();
            for text in &found {
                let known = vocabulary.contains(&text.as_str());
                let the_id = text == &request_id && is_request_id(text);
                prop_assert!(known || the_id, "unexpected string {text:?}");
                // A UUID is no phone number, even when its digits happen to run.
                prop_assert!(!phone_like(text) || the_id, "{text:?}");
            }
        }
    }

    #[test]
    fn request_ids_are_kept_only_when_id_shaped() {
        assert!(is_request_id(REQUEST_ID));
        for not_an_id in [
            "-",
            "",
            "+14155550101",
            "4155550101",
            "+1 (415) 555-0101",
            "415-555-0101",
            "CA0123456789abcdef0123456789abcdef",
            "8f1c2a9e4b7d4e0a9c3f1d2e3f405162",
            "8f1c2a9e-4b7d-4e0a-9c3f-1d2e3f40516g",
        ] {
            assert!(!is_request_id(not_an_id), "{not_an_id}");
        }
    }
}
