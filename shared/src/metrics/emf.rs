//! The invocation's document in CloudWatch's Embedded Metric Format: one
//! directive per dimension set present, each metric under its own.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use super::catalogue::*;
use super::recorder::{Answered, Recorder};

impl Recorder {
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
        if let Some(latency) = recorder.intercept_latency() {
            put(&INTERCEPT_LATENCY, Value::Millis(latency));
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

#[cfg(test)]
mod tests;
