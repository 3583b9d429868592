//! `bench-harness busy`: one participant holding k open sessions (issue
//! "Constant cost at any scale").
//!
//! Without the session index, what an address holds is found by paging
//! Twilio's `ParticipantConversations` (50 a page): a call from a participant
//! with k open sessions, and a create that includes them, read max(1, ⌈k/50⌉)
//! pages one after another. With the index, a call is one index read and one
//! Twilio read, and a create two sequential Twilio round trips, whatever k is.
//!
//! Both are measured in the same run, in-process like `inprocess`: the
//! handlers against the emulator with 50 ms per request; the index is moto's
//! DynamoDB (a table made by `dev/session_index.py`) behind a counting proxy,
//! so index requests are counted from outside. P's k sessions are seeded
//! straight into the emulator (our record and roster in the attributes) and,
//! item by item, into the index, as the session service would have written
//! them. Every measured create is closed (`DELETE /sessions/{sid}`) and
//! deleted (the conversation-events webhook, as Twilio reports the close)
//! before the next, so P holds exactly k sessions throughout and Twilio's
//! list holds nothing else for P.

use std::path::Path;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bench_support::index::{
    create_table, dynamodb_client, holdings_items, iso8601, session_attributes, session_items,
    write_items,
};
use bench_support::moto::{CountingProxy, Moto, Proxied};
use bench_support::*;
use lambda_http::Body;
use masked_comms::config::ConfigStore;
use masked_comms::handlers::{conversation_events, inbound_call, sessions};
use masked_comms::index::SessionIndex;
use masked_comms::twilio::TwilioHttp;
use masked_comms::AppState;
use serde_json::{json, Value};
use twilio_emulator::{
    sequential_round_trips, ConversationSeed, ConversationState, Emulator, EmulatorConfig,
    Operation,
};

use super::{ms, Addresses, Flags, Result, EMULATOR_LATENCY};

/// How many open sessions P holds, run by run.
const KS: [usize; 4] = [1, 50, 500, 5_000];
const KS_QUICK: [usize; 2] = [1, 50];
/// Pool numbers beyond P's k (P can hold each number once: Twilio's pair
/// rule), so a create always has a free one for P.
const FREE_NUMBERS: usize = 50;
/// Items of Twilio's `ParticipantConversations` per page (its maximum).
const PAGE_SIZE: usize = 50;

/// Pages of `ParticipantConversations` for an address in `k` conversations.
fn pages(k: usize) -> usize {
    k.div_ceil(PAGE_SIZE).max(1)
}

/// Iterations of each measurement for one k.
struct Iterations {
    warmup: usize,
    off: usize,
    on: usize,
}

fn iterations(k: usize, quick: bool) -> Iterations {
    if quick {
        return Iterations {
            warmup: 1,
            off: 3,
            on: 3,
        };
    }
    // Without the index each iteration takes about pages(k) × 50 ms: seconds
    // at k = 5,000, so fewer of them there. With it, moto's Query walks P's
    // whole partition (2k items): near a second for a call and several for a
    // create at k = 5,000 (see NOTES.md, note 8).
    let (off, on) = match pages(k) {
        1 => (40, 40),
        2..=10 => (10, 40),
        _ => (4, 10),
    };
    Iterations { warmup: 2, off, on }
}

/// One measured invocation.
struct Sample {
    /// The call dialled the session's other participant; the create answered 201.
    ok: bool,
    latency_ms: f64,
    /// Each Twilio request's time in the emulator (its latency included).
    twilio_request_ms: Vec<f64>,
    round_trips: usize,
    twilio_requests: usize,
    /// `ParticipantConversations` pages read.
    pages: usize,
    /// Requests the index proxy received.
    index_requests: usize,
    /// Those requests, as answered.
    index: Vec<Proxied>,
}

impl Sample {
    fn describe(&self) -> String {
        format!(
            "{} sequential Twilio round trips ({} requests, {} of them list pages), {} index requests",
            self.round_trips, self.twilio_requests, self.pages, self.index_requests
        )
    }
}

/// Everything one run (one k) measures against.
struct Run<'a> {
    k: usize,
    emulator: &'a Emulator,
    proxy: &'a CountingProxy,
    /// P, the busy participant.
    participant: String,
    /// A session of P's: the other participant and P's proxy in it.
    partner: String,
    proxy_number: String,
}

impl Run<'_> {
    /// Times `invoke` and counts the Twilio and index requests it made.
    async fn measure<F, Fut>(&self, invoke: F) -> (Sample, lambda_http::Response<Body>)
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = lambda_http::Response<Body>>,
    {
        self.emulator.clear_requests();
        let arrived = self.proxy.requests();
        let answered = self.proxy.answered();
        let started = Instant::now();
        let response = invoke().await;
        let latency = started.elapsed();
        let requests = self.emulator.requests();
        let sample = Sample {
            ok: false,
            latency_ms: ms(latency),
            twilio_request_ms: requests
                .iter()
                .map(|r| ms(r.finished.saturating_duration_since(r.started)))
                .collect(),
            round_trips: sequential_round_trips(&requests),
            twilio_requests: requests.len(),
            pages: requests
                .iter()
                .filter(|r| r.operation == Operation::ListParticipantConversations)
                .count(),
            index_requests: self.proxy.requests() - arrived,
            index: self.proxy.since(answered),
        };
        (sample, response)
    }

    /// Inbound calls from P to the proxy of one of P's sessions; each should
    /// dial the session's other participant (one that does not is recorded
    /// as not `ok`: a finding, not a harness error).
    async fn calls(&self, state: &AppState, n: usize) -> Vec<Sample> {
        let call = inbound_call(&self.participant, &self.proxy_number);
        let dial = format!("<Number>{}</Number>", self.partner);
        let mut samples = Vec::with_capacity(n);
        for _ in 0..n {
            let (mut sample, response) = self
                .measure(|| inbound_call::handle(state, call.to_request()))
                .await;
            let body = String::from_utf8_lossy(response.body().as_ref());
            sample.ok = response.status() == 200 && body.contains(&dial);
            samples.push(sample);
        }
        samples
    }

    /// `POST /sessions` with P and a fresh partner, each closed
    /// (`DELETE /sessions/{sid}`, measured too) and deleted again before the
    /// next. Answers the creates' samples and the closes'.
    async fn creates(
        &self,
        state: &AppState,
        fresh: &mut Addresses,
        n: usize,
    ) -> Result<(Vec<Sample>, Vec<Sample>)> {
        let mut samples = Vec::with_capacity(n);
        let mut closes = Vec::with_capacity(n);
        for _ in 0..n {
            let mut people = vec![self.participant.clone()];
            people.extend(fresh.take(1));
            let call = create_call(&people);
            let (sample, response) = self
                .measure(|| sessions::handle(state, call.to_request()))
                .await;
            let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap_or_default();
            let (mut sample, sid) = (sample, body["sid"].as_str());
            sample.ok = response.status() == 201 && sid.is_some();
            // A failed create rolls itself back; the end of the run checks.
            if let (true, Some(sid)) = (sample.ok, sid) {
                let (mut closed, response) = self
                    .measure(|| sessions::handle(state, close_call(sid).to_request()))
                    .await;
                closed.ok = response.status() == 204;
                closes.push(closed);
                self.close(state, sid).await?;
            }
            samples.push(sample);
        }
        Ok((samples, closes))
    }

    /// Closes a session as the operator does (again, when a measured close
    /// did already: closing twice answers 204 or 404) and sends the close
    /// event the conversation-events webhook gets when Twilio reports one,
    /// with no emulator latency (not measured): whichever version deletes
    /// the conversation, it is gone afterwards.
    async fn close(&self, state: &AppState, sid: &str) -> Result<()> {
        self.emulator.set_latency(Duration::ZERO);
        let closed = sessions::handle(state, close_call(sid).to_request()).await;
        let events =
            conversation_events::handle(state, conversation_closed(sid).to_request()).await;
        self.emulator.set_latency(EMULATOR_LATENCY);
        if !matches!(closed.status().as_u16(), 204 | 404) || events.status() != 200 {
            return Err(format!(
                "k={}: closing {sid} answered {} and its closed event {}",
                self.k,
                closed.status(),
                events.status()
            ));
        }
        if self.emulator.conversation(sid).is_some() {
            return Err(format!("k={}: {sid} was closed but not deleted", self.k));
        }
        Ok(())
    }

    /// A call from P's partner and a create of two fresh addresses: connection
    /// pools open, the pool's locations built, before anything is timed.
    async fn warm_up(&self, state: &AppState, fresh: &mut Addresses, n: usize) -> Result<()> {
        let call = inbound_call(&self.partner, &self.proxy_number);
        for _ in 0..n {
            let response = inbound_call::handle(state, call.to_request()).await;
            if response.status() != 200 {
                return Err(format!("warm-up call answered {}", response.status()));
            }
        }
        let response = sessions::handle(state, create_call(&fresh.take(2)).to_request()).await;
        let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap_or_default();
        let sid = body["sid"]
            .as_str()
            .ok_or_else(|| format!("warm-up create answered {}: {body}", response.status()))?;
        self.close(state, sid).await
    }
}

fn scenario_json(samples: &[Sample]) -> Value {
    let lat: Vec<f64> = samples.iter().map(|s| s.latency_ms).collect();
    let range = |f: fn(&Sample) -> usize| {
        let values: Vec<usize> = samples.iter().map(f).collect();
        json!({"min": values.iter().min(), "max": values.iter().max()})
    };
    let index_total = |s: &Sample| s.index.iter().map(|p| p.ms).sum::<f64>();
    // The call's one index read comes before its Twilio read, so this is
    // the call without the index's time; a create overlaps the two.
    let less_index: Vec<f64> = samples
        .iter()
        .map(|s| s.latency_ms - index_total(s))
        .collect();
    let slowest: Vec<f64> = samples
        .iter()
        .filter(|s| !s.index.is_empty())
        .map(|s| s.index.iter().map(|p| p.ms).fold(0.0, f64::max))
        .collect();
    let mut by_operation = serde_json::Map::new();
    let mut operations: Vec<&str> = samples
        .iter()
        .flat_map(|s| s.index.iter().map(|p| p.operation.as_str()))
        .collect();
    operations.sort_unstable();
    operations.dedup();
    for operation in operations {
        let times: Vec<f64> = samples
            .iter()
            .flat_map(|s| s.index.iter())
            .filter(|p| p.operation == operation)
            .map(|p| p.ms)
            .collect();
        by_operation.insert(operation.to_owned(), summary_ms(&times));
    }
    let first: Vec<&str> = samples
        .first()
        .map(|s| s.index.iter().map(|p| p.operation.as_str()).collect())
        .unwrap_or_default();
    let twilio_ms: Vec<f64> = samples
        .iter()
        .flat_map(|s| s.twilio_request_ms.iter().copied())
        .collect();
    json!({
        "n": samples.len(),
        "ok": samples.iter().filter(|s| s.ok).count(),
        "latency_ms": summary_ms(&lat),
        "latency_less_index_ms": summary_ms(&less_index),
        "twilio_request_ms": summary_ms(&twilio_ms),
        "round_trips": range(|s| s.round_trips),
        "twilio_requests": range(|s| s.twilio_requests),
        "pages": range(|s| s.pages),
        "index_requests": range(|s| s.index_requests),
        "slowest_index_request_ms": summary_ms(&slowest),
        "index_request_ms_by_operation": by_operation,
        "index_operations_first": first,
    })
}

/// Records a failure when a sample breaks `rule` (`expected` says how).
fn check(
    failures: &mut Vec<String>,
    name: String,
    samples: &[Sample],
    expected: &str,
    rule: impl Fn(&Sample) -> bool,
) {
    let failed = samples.iter().filter(|s| !s.ok).count();
    if let Some(bad) = samples.iter().find(|s| !s.ok) {
        failures.push(format!(
            "{name}: {failed} of {} failed (a call that did not dial, a create not answered 201), the first after {:.0} ms with {}",
            samples.len(),
            bad.latency_ms,
            bad.describe()
        ));
    }
    if let Some(bad) = samples.iter().find(|s| s.ok && !rule(s)) {
        failures.push(format!("{name}: {}; expected {expected}", bad.describe()));
    }
}

/// What the run shares across k: the emulator, moto and the index clients.
struct Shared {
    emulator: Emulator,
    moto: Moto,
    proxy: CountingProxy,
    /// Straight to moto: seeding is not counted.
    seeding: aws_sdk_dynamodb::Client,
    /// Through the proxy: what the functions use.
    functions: aws_sdk_dynamodb::Client,
    python: std::path::PathBuf,
}

async fn one_k(
    shared: &Shared,
    k: usize,
    quick: bool,
    fresh: &mut Addresses,
    failures: &mut Vec<String>,
) -> Result<Value> {
    let emulator = &shared.emulator;
    emulator.reset();
    let pool = pool_numbers(k + FREE_NUMBERS);
    let participant = address(0);
    let partners: Vec<String> = (1..=k).map(address).collect();

    eprintln!("busy: k={k}: seeding {k} sessions into the emulator and the index");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let created = iso8601(now);
    let started = Instant::now();
    let mut items = Vec::with_capacity(5 * k + k + 1);
    let mut rosters = Vec::with_capacity(k);
    for (partner, proxy) in partners.iter().zip(&pool) {
        let roster = vec![
            (participant.clone(), proxy.clone()),
            (partner.clone(), proxy.clone()),
        ];
        let sid = emulator.seed_conversation(ConversationSeed {
            attributes: Some(session_attributes(&roster)),
            bindings: roster.clone(),
            ..Default::default()
        })?;
        items.extend(session_items(&sid, &created, &roster)?);
        rosters.push(roster);
    }
    items.extend(holdings_items(
        rosters.iter().map(Vec::as_slice),
        &created,
        now,
    ));
    let seed_emulator_s = started.elapsed().as_secs_f64();
    let table = format!("busy-{k}");
    create_table(&shared.python, &shared.moto.url, &table).await?;
    let started = Instant::now();
    let index_items = items.len();
    let batches = write_items(&shared.seeding, &table, items).await?;
    let seed_index_s = started.elapsed().as_secs_f64();

    let twilio = || TwilioHttp::new(settings(&emulator.base_url())).map_err(|e| e.to_string());
    let off = AppState::new(ConfigStore::fixed(config(&pool)), twilio()?);
    let on = AppState::new(ConfigStore::fixed(config(&pool)), twilio()?)
        .with_index(SessionIndex::new(shared.functions.clone(), &table));
    let run = Run {
        k,
        emulator,
        proxy: &shared.proxy,
        participant: participant.clone(),
        partner: partners[0].clone(),
        proxy_number: pool[0].clone(),
    };
    let n = iterations(k, quick);
    run.warm_up(&off, fresh, n.warmup).await?;
    run.warm_up(&on, fresh, n.warmup).await?;

    eprintln!("busy: k={k}: calls, index off x{} and on x{}", n.off, n.on);
    let call_off = run.calls(&off, n.off).await;
    let call_on = run.calls(&on, n.on).await;
    eprintln!(
        "busy: k={k}: creates, index off x{} and on x{}",
        n.off, n.on
    );
    let (create_off, close_off) = run.creates(&off, fresh, n.off).await?;
    let (create_on, close_on) = run.creates(&on, fresh, n.on).await?;

    // P still holds exactly k sessions, in Twilio and in the index.
    let conversations = emulator.conversations();
    let open = conversations
        .iter()
        .filter(|c| c.state != ConversationState::Closed)
        .count();
    if (conversations.len(), open) != (k, k) {
        failures.push(format!(
            "k={k}: the emulator holds {} conversations ({open} open) after the run, expected {k}",
            conversations.len()
        ));
    }
    let counter = AtomicUsize::new(0);
    let indexed = on
        .index
        .as_ref()
        .expect("the index-on state has an index")
        .for_invocation(&counter)
        .address(&participant)
        .await
        .map_err(|e| e.to_string())?;
    if indexed.bound.len() != k {
        failures.push(format!(
            "k={k}: the index says P holds {} numbers after the run, expected {k}",
            indexed.bound.len()
        ));
    }

    let p = pages(k);
    let name = |what: &str| format!("busy k={k} {what}");
    check(
        failures,
        name("call, index off"),
        &call_off,
        &format!("{p} round trips (one per page), no index request"),
        |s| s.round_trips == p && s.pages == p && s.index_requests == 0,
    );
    check(
        failures,
        name("create, index off"),
        &create_off,
        &format!("{} round trips (P's pages, then the adds)", p + 1),
        |s| s.round_trips == p + 1 && s.index_requests == 0,
    );
    check(
        failures,
        name("call, index on"),
        &call_on,
        "at most 1 round trip, no list page, exactly 1 index request",
        |s| s.round_trips <= 1 && s.pages == 0 && s.index_requests == 1,
    );
    check(
        failures,
        name("create, index on"),
        &create_on,
        "at most 2 round trips, no list page",
        |s| s.round_trips <= 2 && s.pages == 0,
    );
    // A close: read (without the index), close, delete (beside forgetting
    // the index's entries): whatever k is.
    check(
        failures,
        name("close, index off"),
        &close_off,
        "answered 204 after at most 3 round trips, no list page",
        |s| s.ok && s.round_trips <= 3 && s.pages == 0,
    );
    check(
        failures,
        name("close, index on"),
        &close_on,
        "answered 204 after at most 2 round trips, no list page",
        |s| s.ok && s.round_trips <= 2 && s.pages == 0,
    );

    Ok(json!({
        "k": k,
        "pool_numbers": pool.len(),
        "pages_without_index": p,
        "seed": {
            "emulator_s": seed_emulator_s,
            "index_items": index_items,
            "index_batches": batches,
            "index_s": seed_index_s,
        },
        "off": {"call": scenario_json(&call_off), "create": scenario_json(&create_off), "close": scenario_json(&close_off)},
        "on": {"call": scenario_json(&call_on), "create": scenario_json(&create_on), "close": scenario_json(&close_on)},
    }))
}

pub(super) async fn busy(flags: &Flags) -> Result<Value> {
    let moto = flags.moto.clone().ok_or("--moto is required")?;
    // The venv's python, beside its moto_server: it has dev/session_index.py's
    // dependencies.
    let python = moto.with_file_name("python");
    if !python.exists() {
        return Err(format!("{} is missing (run `make venv`)", python.display()));
    }
    let work = flags.out.parent().unwrap_or(Path::new(".")).join("busy.d");
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;

    eprintln!("busy: starting moto_server (DynamoDB)");
    let moto = Moto::start(&moto, &work.join("moto.log")).await?;
    let proxy = CountingProxy::start(&moto.url).await?;
    let emulator = Emulator::start(EmulatorConfig {
        latency: EMULATOR_LATENCY,
        ..EmulatorConfig::default()
    })
    .await
    .map_err(|e| e.to_string())?;
    let shared = Shared {
        seeding: dynamodb_client(&moto.url),
        functions: dynamodb_client(&proxy.url),
        emulator,
        moto,
        proxy,
        python,
    };

    let ks: &[usize] = match (&flags.ks, flags.quick) {
        (Some(ks), _) => ks,
        (None, true) => &KS_QUICK,
        (None, false) => &KS,
    };
    let mut fresh = Addresses(100_000);
    let mut failures = Vec::new();
    let mut runs = Vec::new();
    for &k in ks {
        runs.push(one_k(&shared, k, flags.quick, &mut fresh, &mut failures).await?);
    }
    Ok(json!({
        "kind": "busy",
        "quick": flags.quick,
        "emulator_latency_ms": ms(EMULATOR_LATENCY),
        "page_size": PAGE_SIZE,
        "free_numbers": FREE_NUMBERS,
        "runs": runs,
        "failures": failures,
    }))
}
