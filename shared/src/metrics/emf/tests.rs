use super::*;
use crate::metrics::recorder::MAX_SAMPLES;
use crate::metrics::{Sink, ALL};
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
    recorder.intercept_answered(Duration::from_millis(7));
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
fn the_intercept_latency_is_one_value_in_milliseconds_and_the_first_ask_counts() {
    let recorder = Recorder::default();
    let document = parsed(&recorder, &answered(200));
    assert!(
        document.get("InterceptLatency").is_none(),
        "no ask, no value"
    );
    recorder.intercept_answered(Duration::from_micros(42_500));
    recorder.intercept_answered(Duration::from_millis(900));
    recorder.intercepted(crate::domain::intercept::Outcome::Rewritten);
    let document = parsed(&recorder, &answered(200));
    assert_well_formed(&document);
    assert_eq!(document["InterceptLatency"], 42.5);
    assert_eq!(document["InterceptsRewritten"], 1);
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
