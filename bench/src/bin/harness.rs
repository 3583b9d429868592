//! `bench-harness`: the measurements Criterion cannot make.
//!
//! ```text
//! bench-harness inprocess --out FILE [--quick]
//!     Round trips on the critical path and end-to-end latency of the handlers,
//!     in-process, against the Twilio emulator with 50 ms latency per request
//!     (and per-invocation latency with no emulator latency).
//! bench-harness busy --out FILE --moto PATH [--quick] [--ks 1,50,...]
//!     A participant holding k = 1, 50, 500, 5,000 open sessions (1 and 50
//!     with --quick): inbound calls and creates with the session index off
//!     (Twilio's participant list is paged) and on (moto's DynamoDB behind a
//!     counting proxy), in-process, emulator latency 50 ms. See busy.rs.
//! bench-harness process --out FILE --bin-dir DIR --hello PATH --moto PATH
//!                       [--quick] [--runs N] [--invocations N]
//!     The real function binaries as Lambda runs them: a Lambda Runtime API
//!     stand-in, configuration from moto's SSM (through a counting proxy), Twilio
//!     = the emulator. Cold start (exec -> first `next`, exec -> first response),
//!     warm invocations (no SSM request, no new Twilio connection) and memory
//!     (VmHWM, VmRSS growth).
//! bench-harness cold --out FILE --bin-dir DIR [--before-dir DIR] --hello PATH
//!                    --moto PATH [--quick] [--runs N]
//!     Cold start over TLS: Twilio and SSM behind TLS listeners with a test CA,
//!     each start measured to its first `next` (init), its first invocation and
//!     a second one; the binaries of --before-dir and --bin-dir alternately, in
//!     one run, beside a hello-world function and one fresh SSM read. See cold.rs.
//! bench-harness intercept --out FILE [--quick]
//!     A 1:1 call's answer time with no intercept, then with a backend that
//!     allows after 0, 50 and 200 ms (emulator latency 50 ms): round trips
//!     stay 1 and the backend is asked once per call. See intercept.rs.
//! bench-harness linked --out FILE --bin-dir DIR
//!     What each function binary carries: the page's assets only in
//!     `landing-page`, the twilio-setup CLI in none. Fails otherwise. See linked.rs.
//! ```
//!
//! Results are JSON for bench/report.py. With `--quick` every piece runs with tiny
//! counts and the counts (round trips, index requests, warm SSM requests,
//! connections) are asserted; timings are not.
// The in-process handlers nest deeply enough to need a higher limit.
#![recursion_limit = "256"]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{Path as AxumPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bench_support::moto::{CountingProxy, Moto};
use bench_support::*;
use masked_comms::config::ConfigStore;
use masked_comms::handlers::{inbound_call, sessions};
use masked_comms::twilio::TwilioHttp;
use masked_comms::AppState;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use twilio_emulator::{sequential_round_trips, ConversationSeed, Emulator, EmulatorConfig};

#[path = "harness/busy.rs"]
mod busy;
#[path = "harness/cold.rs"]
mod cold;
#[path = "harness/intercept.rs"]
mod intercept;
#[path = "harness/linked.rs"]
mod linked;
#[path = "harness/message.rs"]
mod message;

type Result<T, E = String> = std::result::Result<T, E>;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = args.first().cloned().unwrap_or_default();
    let flags = match command.as_str() {
        "inprocess" | "busy" | "process" | "cold" | "linked" | "intercept" | "message" => {
            Flags::parse(&args[1..])
        }
        _ => Err(
            "usage: bench-harness inprocess|busy|process|cold|linked|intercept|message --out FILE [--quick] ..."
                .into(),
        ),
    };
    let flags = match flags {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let outcome = match command.as_str() {
        "inprocess" => inprocess(&flags).await,
        "message" => message::message(&flags).await,
        "busy" => busy::busy(&flags).await,
        "cold" => cold::cold(&flags).await,
        "linked" => linked::linked(&flags),
        "intercept" => intercept::intercept(&flags).await,
        _ => process(&flags).await,
    };
    match outcome {
        Ok(value) => {
            let text = serde_json::to_string_pretty(&value).expect("json");
            if let Err(e) = std::fs::write(&flags.out, text + "\n") {
                eprintln!("cannot write {}: {e}", flags.out.display());
                return ExitCode::FAILURE;
            }
            let failures = value["failures"].as_array().cloned().unwrap_or_default();
            for f in &failures {
                eprintln!("bench-harness: FAILED: {}", f.as_str().unwrap_or_default());
            }
            if flags.quick && !failures.is_empty() {
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench-harness: {e}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Flags {
    out: PathBuf,
    quick: bool,
    bin_dir: Option<PathBuf>,
    /// cold: the binaries of the version before, measured beside --bin-dir's.
    before_dir: Option<PathBuf>,
    hello: Option<PathBuf>,
    moto: Option<PathBuf>,
    runs: Option<usize>,
    invocations: Option<usize>,
    /// busy: the k to run instead of the default ones.
    ks: Option<Vec<usize>>,
}

impl Flags {
    fn parse(args: &[String]) -> Result<Flags> {
        let mut flags = Flags::default();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let mut value = || it.next().cloned().ok_or(format!("{arg} needs a value"));
            match arg.as_str() {
                "--quick" => flags.quick = true,
                "--out" => flags.out = value()?.into(),
                "--bin-dir" => flags.bin_dir = Some(value()?.into()),
                "--before-dir" => flags.before_dir = Some(value()?.into()),
                "--hello" => flags.hello = Some(value()?.into()),
                "--moto" => flags.moto = Some(value()?.into()),
                "--runs" => flags.runs = Some(value()?.parse().map_err(|_| "--runs: number")?),
                "--ks" => {
                    let list = value()?;
                    let ks = list
                        .split(',')
                        .map(|k| k.trim().parse::<usize>())
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|_| format!("--ks: numbers separated by commas, not {list}"))?;
                    flags.ks = Some(ks);
                }
                "--invocations" => {
                    flags.invocations = Some(value()?.parse().map_err(|_| "--invocations: number")?)
                }
                other => return Err(format!("unexpected argument {other}")),
            }
        }
        if flags.out.as_os_str().is_empty() {
            return Err("--out FILE is required".into());
        }
        Ok(flags)
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

// ---------------------------------------------------------------------------
// In-process: round trips and latency.

const EMULATOR_LATENCY: Duration = Duration::from_millis(50);

struct Sample {
    latency_ms: f64,
    round_trips: usize,
    requests: usize,
}

fn scenario_json(samples: &[Sample], expected_round_trips: Option<usize>) -> Value {
    let lat: Vec<f64> = samples.iter().map(|s| s.latency_ms).collect();
    let rts: Vec<usize> = samples.iter().map(|s| s.round_trips).collect();
    let reqs: Vec<usize> = samples.iter().map(|s| s.requests).collect();
    json!({
        "latency_ms": summary_ms(&lat),
        "round_trips": {"min": rts.iter().min(), "max": rts.iter().max()},
        "requests": {"min": reqs.iter().min(), "max": reqs.iter().max()},
        "expected_round_trips": expected_round_trips,
    })
}

/// Times one in-process handler call and counts the Twilio requests it made.
async fn timed<F, Fut>(emulator: &Emulator, expect: u16, call: F) -> Result<Sample>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = lambda_http::Response<lambda_http::Body>>,
{
    emulator.clear_requests();
    let started = Instant::now();
    let response = call().await;
    let latency = started.elapsed();
    if response.status().as_u16() != expect {
        return Err(format!(
            "expected status {expect}, got {}: {}",
            response.status(),
            String::from_utf8_lossy(response.body().as_ref())
        ));
    }
    let requests = emulator.requests();
    Ok(Sample {
        latency_ms: ms(latency),
        round_trips: sequential_round_trips(&requests),
        requests: requests.len(),
    })
}

struct Addresses(usize);

impl Addresses {
    fn take(&mut self, n: usize) -> Vec<String> {
        let out = (self.0..self.0 + n).map(address).collect();
        self.0 += n;
        out
    }
}

async fn creates(
    fx: &Fixture,
    fresh: &mut Addresses,
    participants: usize,
    iterations: usize,
) -> Result<Vec<Sample>> {
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let call = create_call(&fresh.take(participants));
        samples.push(
            timed(&fx.emulator, 201, || {
                sessions::handle(&fx.state, call.to_request())
            })
            .await
            .map_err(|e| format!("create({participants}): {e}"))?,
        );
    }
    Ok(samples)
}

async fn calls(fx: &Fixture, call: &Call, iterations: usize) -> Result<Vec<Sample>> {
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let sample = timed(&fx.emulator, 200, || async {
            let response = inbound_call::handle(&fx.state, call.to_request()).await;
            // A call that is not connected is answered 200 too: only a dial
            // counts as the call measured.
            let body = String::from_utf8_lossy(response.body().as_ref());
            if !body.contains("<Dial") {
                let mut refused = lambda_http::Response::new(lambda_http::Body::from(format!(
                    "the call was not connected: {body}"
                )));
                *refused.status_mut() = lambda_http::http::StatusCode::UNPROCESSABLE_ENTITY;
                return refused;
            }
            response
        })
        .await
        .map_err(|e| format!("inbound call: {e}"))?;
        samples.push(sample);
    }
    Ok(samples)
}

/// A 2-party session made through the handler; returns (caller, proxy) of its
/// first participant.
async fn one_session(fx: &Fixture, fresh: &mut Addresses) -> Result<(String, String)> {
    let response = sessions::handle(&fx.state, create_call(&fresh.take(2)).to_request()).await;
    if response.status() != 201 {
        return Err(format!("session create answered {}", response.status()));
    }
    let body: Value =
        serde_json::from_slice(response.body().as_ref()).map_err(|e| e.to_string())?;
    proxies_of(&body)
        .into_iter()
        .next()
        .ok_or_else(|| "session has no participants".to_owned())
}

/// The first `Location::of` in a process loads libphonenumber's metadata
/// (`phonenumber`'s lazily built database); every function pays it during init,
/// when the configured pool is parsed.
fn phonenumber_first_use() -> Value {
    use masked_comms::domain::address::PhoneNumber;
    use masked_comms::domain::geo::Location;
    let time = |n: &str| {
        let number = PhoneNumber::parse(n).expect("valid");
        let started = Instant::now();
        std::hint::black_box(Location::of(&number));
        ms(started.elapsed())
    };
    let first = time("+14155550100");
    let second = time("+14155550101");
    json!({"first_ms": first, "second_ms": second})
}

async fn inprocess(flags: &Flags) -> Result<Value> {
    // Before anything else touches phone-number metadata.
    let phonenumber = phonenumber_first_use();
    let quick = flags.quick;
    let n = |full: usize| if quick { 2 } else { full };
    let warmup = if quick { 1 } else { 5 };
    let mut fresh = Addresses(0);
    let mut failures: Vec<String> = Vec::new();
    let mut scenarios = serde_json::Map::new();

    let fx = Fixture::start(EMULATOR_LATENCY).await;
    // A warm function: the connection pool is open before anything is timed.
    creates(&fx, &mut fresh, 2, warmup).await?;

    for (name, participants, iterations, expected) in [
        ("create_2", 2, n(200), Some(2)),
        ("create_10", 10, n(100), Some(2)),
        ("create_50", 50, if quick { 1 } else { 5 }, None),
    ] {
        eprintln!("inprocess: {name} x{iterations}");
        fx.emulator.reset();
        let samples = creates(&fx, &mut fresh, participants, iterations).await?;
        check_round_trips(name, &samples, expected, &mut failures);
        scenarios.insert(name.into(), scenario_json(&samples, expected));
    }

    fx.emulator.reset();
    let (caller, proxy) = one_session(&fx, &mut fresh).await?;
    let call = inbound_call(&caller, &proxy);
    calls(&fx, &call, warmup).await?;
    eprintln!("inprocess: call_roster_hit x{}", n(200));
    let samples = calls(&fx, &call, n(200)).await?;
    check_round_trips("call_roster_hit", &samples, Some(1), &mut failures);
    scenarios.insert("call_roster_hit".into(), scenario_json(&samples, Some(1)));

    fx.emulator.reset();
    let people = fresh.take(2);
    let pool = pool_numbers(20);
    fx.seed_without_roster(&[
        (people[0].clone(), pool[0].clone()),
        (people[1].clone(), pool[1].clone()),
    ]);
    let fallback = inbound_call(&people[0], &pool[0]);
    eprintln!("inprocess: call_fallback x{}", n(100));
    let samples = calls(&fx, &fallback, n(100)).await?;
    check_round_trips("call_fallback", &samples, Some(2), &mut failures);
    scenarios.insert("call_fallback".into(), scenario_json(&samples, Some(2)));
    drop(fx);

    // No emulator latency: what our own code (plus loopback HTTP and the
    // emulator's processing) costs per invocation, as a distribution.
    let fx = Fixture::start(Duration::ZERO).await;
    let mut zero = serde_json::Map::new();
    creates(&fx, &mut fresh, 2, warmup * 4).await?;
    let mut lat = Vec::new();
    for chunk in 0..n(10) {
        if chunk % 2 == 0 {
            fx.emulator.reset();
        }
        lat.extend(
            creates(&fx, &mut fresh, 2, n(100))
                .await?
                .iter()
                .map(|s| s.latency_ms),
        );
    }
    zero.insert("create_2".into(), json!({"latency_ms": summary_ms(&lat)}));
    fx.emulator.reset();
    let (caller, proxy) = one_session(&fx, &mut fresh).await?;
    let call = inbound_call(&caller, &proxy);
    calls(&fx, &call, warmup * 4).await?;
    let lat: Vec<f64> = calls(&fx, &call, n(1000))
        .await?
        .iter()
        .map(|s| s.latency_ms)
        .collect();
    zero.insert(
        "call_roster_hit".into(),
        json!({"latency_ms": summary_ms(&lat)}),
    );

    Ok(json!({
        "kind": "inprocess",
        "quick": quick,
        "emulator_latency_ms": ms(EMULATOR_LATENCY),
        "phonenumber_first_use": phonenumber,
        "scenarios": scenarios,
        "zero_latency": zero,
        "failures": failures,
    }))
}

fn check_round_trips(
    name: &str,
    samples: &[Sample],
    expected: Option<usize>,
    failures: &mut Vec<String>,
) {
    let Some(expected) = expected else { return };
    if let Some(bad) = samples.iter().find(|s| s.round_trips != expected) {
        failures.push(format!(
            "{name}: {} round trips ({} requests), expected {expected}",
            bad.round_trips, bad.requests
        ));
    }
}

// ---------------------------------------------------------------------------
// Whole process: a Lambda Runtime API stand-in.

struct Invocation {
    request_id: String,
    at: Instant,
    /// Ok(response JSON) or Err(error report).
    outcome: Result<Value, String>,
}

struct RuntimeState {
    events: tokio::sync::Mutex<mpsc::Receiver<(String, Value)>>,
    first_next: Mutex<Option<Instant>>,
    done: mpsc::UnboundedSender<Invocation>,
}

/// One Runtime API endpoint, for one process (a fresh one per process, so a
/// killed process's pending `next` can never take the next process's event).
struct RuntimeApi {
    addr: SocketAddr,
    state: Arc<RuntimeState>,
    events: mpsc::Sender<(String, Value)>,
    done: mpsc::UnboundedReceiver<Invocation>,
    server: tokio::task::JoinHandle<()>,
    counter: usize,
}

impl RuntimeApi {
    async fn start() -> Result<RuntimeApi> {
        let (events_tx, events_rx) = mpsc::channel(4);
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let state = Arc::new(RuntimeState {
            events: tokio::sync::Mutex::new(events_rx),
            first_next: Mutex::new(None),
            done: done_tx,
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(invocation_response),
            )
            .route(
                "/2018-06-01/runtime/invocation/{id}/error",
                post(invocation_error),
            )
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(Arc::clone(&state));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(RuntimeApi {
            addr,
            state,
            events: events_tx,
            done: done_rx,
            server,
            counter: 0,
        })
    }

    fn first_next(&self) -> Option<Instant> {
        *self.state.first_next.lock().unwrap()
    }

    /// Queues one event; the function's next `next` takes it.
    async fn queue(&mut self, event: Value) -> String {
        self.counter += 1;
        let id = format!("bench-{:08}", self.counter);
        let _ = self.events.send((id.clone(), event)).await;
        id
    }

    async fn wait(&mut self, id: &str, timeout: Duration) -> Result<(Instant, Value)> {
        let invocation = tokio::time::timeout(timeout, self.done.recv())
            .await
            .map_err(|_| format!("no answer to {id} within {timeout:?}"))?
            .ok_or("runtime API stopped")?;
        if invocation.request_id != id {
            return Err(format!(
                "answer for {} while waiting for {id}: {:?}",
                invocation.request_id, invocation.outcome
            ));
        }
        invocation.outcome.map(|v| (invocation.at, v))
    }

    async fn invoke(&mut self, event: Value, timeout: Duration) -> Result<(Instant, Value)> {
        let id = self.queue(event).await;
        self.wait(&id, timeout).await
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

async fn next(State(state): State<Arc<RuntimeState>>) -> Response {
    {
        let mut first = state.first_next.lock().unwrap();
        if first.is_none() {
            *first = Some(Instant::now());
        }
    }
    let Some((id, event)) = state.events.lock().await.recv().await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let mut headers = HeaderMap::new();
    let mut put = |k: &'static str, v: String| {
        headers.insert(k, HeaderValue::from_str(&v).expect("header value"));
    };
    put("lambda-runtime-aws-request-id", id);
    put(
        "lambda-runtime-deadline-ms",
        (epoch_ms() + 15_000).to_string(),
    );
    put(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:bench".into(),
    );
    put(
        "lambda-runtime-trace-id",
        "Root=1-00000000-000000000000000000000000;Sampled=0".into(),
    );
    put("content-type", "application/json".into());
    (StatusCode::OK, headers, event.to_string()).into_response()
}

async fn invocation_response(
    State(state): State<Arc<RuntimeState>>,
    AxumPath(id): AxumPath<String>,
    body: axum::body::Bytes,
) -> StatusCode {
    let at = Instant::now();
    let outcome = serde_json::from_slice(&body).map_err(|e| format!("response is not JSON: {e}"));
    let _ = state.done.send(Invocation {
        request_id: id,
        at,
        outcome,
    });
    StatusCode::ACCEPTED
}

async fn invocation_error(
    State(state): State<Arc<RuntimeState>>,
    AxumPath(id): AxumPath<String>,
    body: axum::body::Bytes,
) -> StatusCode {
    let _ = state.done.send(Invocation {
        request_id: id,
        at: Instant::now(),
        outcome: Err(format!(
            "invocation error: {}",
            String::from_utf8_lossy(&body)
        )),
    });
    StatusCode::ACCEPTED
}

async fn init_error(State(state): State<Arc<RuntimeState>>, body: axum::body::Bytes) -> StatusCode {
    let _ = state.done.send(Invocation {
        request_id: "init".into(),
        at: Instant::now(),
        outcome: Err(format!("init error: {}", String::from_utf8_lossy(&body))),
    });
    StatusCode::ACCEPTED
}

// ---------------------------------------------------------------------------
// SSM: moto behind a counting proxy.

/// An SSM client for a local endpoint, with throwaway credentials; `http`
/// replaces the SDK's HTTP client (e.g. one trusting the test CA).
fn ssm_client(
    endpoint: &str,
    http: Option<aws_sdk_ssm::config::SharedHttpClient>,
) -> aws_sdk_ssm::Client {
    use aws_sdk_ssm::config::{BehaviorVersion, Credentials, Region};
    let mut config = aws_sdk_ssm::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "bench"))
        .endpoint_url(endpoint);
    config.set_http_client(http);
    aws_sdk_ssm::Client::from_conf(config.build())
}

/// moto's SSM with the bench configuration, behind a counting proxy (the
/// functions are pointed at the proxy).
struct Ssm {
    proxy: CountingProxy,
    moto: Moto,
}

const SSM_PREFIX: &str = "/masked-comms/bench";

impl Ssm {
    async fn start(moto: &Path, log: &Path) -> Result<Ssm> {
        let moto = Moto::start(moto, log).await?;
        let proxy = CountingProxy::start(&moto.url).await?;
        let ssm = Ssm { proxy, moto };
        // Straight to moto: setting up is not counted.
        ssm.put_configuration(&ssm.moto.url).await?;
        Ok(ssm)
    }

    fn proxy_url(&self) -> &str {
        &self.proxy.url
    }

    async fn put_configuration(&self, endpoint: &str) -> Result<()> {
        use aws_sdk_ssm::types::ParameterType;
        let client = ssm_client(endpoint, None);
        for (key, value) in config_values(&pool_numbers(20)) {
            let secret = key.contains("token") || key.contains("password");
            client
                .put_parameter()
                .name(format!("{SSM_PREFIX}/{key}"))
                .value(value)
                .r#type(if secret {
                    ParameterType::SecureString
                } else {
                    ParameterType::String
                })
                .overwrite(true)
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "put_parameter {key}: {}",
                        aws_sdk_ssm::error::DisplayErrorContext(e)
                    )
                })?;
        }
        Ok(())
    }

    fn requests(&self) -> usize {
        self.proxy.requests()
    }

    fn connections(&self) -> usize {
        self.proxy.connections()
    }
}

// ---------------------------------------------------------------------------
// Whole process: functions, events, cold start, warm invocations, memory.

#[derive(Clone, Copy, PartialEq, Eq)]
enum Function {
    Hello,
    Sessions,
    InboundCall,
    ConversationEvents,
    LandingPage,
}

impl Function {
    const ALL: [Function; 5] = [
        Function::Hello,
        Function::Sessions,
        Function::InboundCall,
        Function::ConversationEvents,
        Function::LandingPage,
    ];

    fn name(self) -> &'static str {
        match self {
            Function::Hello => "hello-lambda",
            Function::Sessions => "sessions",
            Function::InboundCall => "inbound-call",
            Function::ConversationEvents => "conversation-events",
            Function::LandingPage => "landing-page",
        }
    }

    fn expected_status(self) -> u64 {
        match self {
            Function::Sessions => 201,
            _ => 200,
        }
    }

    /// Twilio requests in flight at once in one invocation: the most
    /// connections a warm pool ever needs.
    fn max_parallel_requests(self) -> usize {
        match self {
            Function::Hello | Function::LandingPage => 0,
            // 2 participant lists + the create; then 2 adds + the roster write.
            Function::Sessions => 3,
            Function::InboundCall | Function::ConversationEvents => 1,
        }
    }

    /// The product's function, `None` for the baseline.
    fn product(self) -> Option<masked_comms::config::Function> {
        use masked_comms::config::Function as Product;
        match self {
            Function::Hello => None,
            Function::Sessions => Some(Product::Sessions),
            Function::InboundCall => Some(Product::InboundCall),
            Function::ConversationEvents => Some(Product::ConversationEvents),
            Function::LandingPage => Some(Product::LandingPage),
        }
    }

    /// GetParameters batches at init, sent together (one round trip).
    fn ssm_requests_at_init(self) -> usize {
        use masked_comms::config::SSM_NAMES_PER_REQUEST;
        self.product().map_or(0, |product| {
            product.keys().count().div_ceil(SSM_NAMES_PER_REQUEST)
        })
    }

    /// Twilio connections opened during init (these benchmarks run without
    /// the session index).
    fn preconnected(self) -> usize {
        self.product()
            .map_or(0, |product| product.twilio_connections_at_once(false))
    }
}

/// What each invocation of a function is asked to do.
struct Workload<'a> {
    function: Function,
    emulator: &'a Emulator,
    fresh: Addresses,
    /// For inbound calls: a caller and the proxy of its session.
    call: Option<(String, String)>,
}

impl<'a> Workload<'a> {
    async fn new(function: Function, emulator: &'a Emulator, base: usize) -> Result<Workload<'a>> {
        let mut fresh = Addresses(base);
        let call = if function == Function::InboundCall {
            // Made in-process, before any connection of the function is counted.
            let state = AppState::new(
                ConfigStore::fixed(config(&pool_numbers(20))),
                TwilioHttp::new(settings(&emulator.base_url())).map_err(|e| e.to_string())?,
            );
            let response = sessions::handle(&state, create_call(&fresh.take(2)).to_request()).await;
            let body: Value =
                serde_json::from_slice(response.body().as_ref()).map_err(|e| e.to_string())?;
            Some(
                proxies_of(&body)
                    .into_iter()
                    .next()
                    .ok_or("the inbound-call session was not created")?,
            )
        } else {
            None
        };
        Ok(Workload {
            function,
            emulator,
            fresh,
            call,
        })
    }

    fn event(&mut self, request_id: &str) -> Value {
        let call = match self.function {
            Function::Sessions => create_call(&self.fresh.take(2)),
            Function::InboundCall => {
                let (caller, proxy) = self.call.as_ref().expect("session made");
                inbound_call(caller, proxy)
            }
            Function::ConversationEvents => {
                let people = self.fresh.take(2);
                let pool = pool_numbers(20);
                let sid = self
                    .emulator
                    .seed_conversation(ConversationSeed {
                        bindings: vec![
                            (people[0].clone(), pool[0].clone()),
                            (people[1].clone(), pool[1].clone()),
                        ],
                        ..Default::default()
                    })
                    .expect("seed");
                conversation_closed(&sid)
            }
            Function::Hello | Function::LandingPage => landing_page(),
        };
        call.to_event(request_id)
    }
}

struct Env<'a> {
    ssm: &'a Ssm,
    emulator: &'a Emulator,
    home: PathBuf,
    logs: PathBuf,
    /// Where the functions reach Twilio and SSM: the emulator and the
    /// counting proxy, directly or through TLS ([`cold`]).
    twilio_url: String,
    ssm_url: String,
    /// More variables for the functions (e.g. `SSL_CERT_FILE`).
    extra: Vec<(&'static str, String)>,
}

/// moto's SSM and the emulator for the whole-process scenarios, and the
/// functions' home and log directories beside `out` (`<out stem>.d/`).
async fn stand_ins(out: &Path, moto: &Path) -> Result<(Ssm, Emulator, PathBuf, PathBuf)> {
    let work = out.with_extension("d");
    let home = work.join("home");
    let logs = work.join("logs");
    std::fs::create_dir_all(&home).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&logs).map_err(|e| e.to_string())?;
    let ssm = Ssm::start(moto, &logs.join("moto.log")).await?;
    let emulator = Emulator::start(EmulatorConfig::default())
        .await
        .map_err(|e| e.to_string())?;
    Ok((ssm, emulator, home, logs))
}

fn spawn(
    env: &Env<'_>,
    binary: &Path,
    function: Function,
    api: &RuntimeApi,
    log: &str,
) -> Result<(Instant, Child)> {
    let log = std::fs::File::create(env.logs.join(log)).map_err(|e| e.to_string())?;
    let mut command = Command::new(binary);
    command
        .env_clear()
        .env("HOME", &env.home)
        .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", function.name())
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_LAMBDA_LOG_LEVEL", "INFO")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_SESSION_TOKEN", "testing")
        .env("AWS_ENDPOINT_URL", &env.ssm_url)
        .env("SSM_PARAMETER_PREFIX", SSM_PREFIX)
        .env("TWILIO_CONVERSATIONS_URL", &env.twilio_url)
        .env("TWILIO_API_URL", &env.twilio_url)
        .envs(env.extra.iter().map(|(name, value)| (name, value)))
        .stdin(Stdio::null());
    // For investigating a slow init: e.g. BENCH_FUNCTION_RUST_LOG=debug.
    if let Ok(filter) = std::env::var("BENCH_FUNCTION_RUST_LOG") {
        command.env("RUST_LOG", filter);
    }
    command
        .stdout(Stdio::from(log.try_clone().map_err(|e| e.to_string())?))
        .stderr(Stdio::from(log))
        .kill_on_drop(true);
    let started = Instant::now();
    let child = command
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
    Ok((started, child))
}

fn check_response(function: Function, response: &Value) -> Result<()> {
    let status = response["statusCode"].as_u64().unwrap_or(0);
    if status != function.expected_status() {
        return Err(format!(
            "{} answered {status}: {}",
            function.name(),
            response["body"]
        ));
    }
    Ok(())
}

/// (VmHWM, VmRSS) in KiB.
fn memory_kib(pid: u32) -> Result<(u64, u64)> {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| e.to_string())?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .unwrap_or(0)
    };
    Ok((field("VmHWM:"), field("VmRSS:")))
}

async fn stop(mut child: Child) {
    let _ = child.start_kill();
    let _ = child.wait().await;
}

const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

async fn cold_starts(
    env: &Env<'_>,
    binary: &Path,
    function: Function,
    runs: usize,
    base: usize,
) -> Result<Value> {
    let mut init = Vec::new();
    let mut first = Vec::new();
    let mut ssm_at_init = Vec::new();
    let mut workload = Workload::new(function, env.emulator, base).await?;
    for run in 0..runs {
        let mut api = RuntimeApi::start().await?;
        let id = format!("bench-cold-{run}");
        let event = workload.event(&id);
        let ssm_before = env.ssm.requests();
        let queued = api.queue(event).await;
        let (started, child) = spawn(
            env,
            binary,
            function,
            &api,
            &format!("{}-cold.log", function.name()),
        )?;
        let answer = api.wait(&queued, ANSWER_TIMEOUT).await;
        let first_next = api.first_next();
        stop(child).await;
        let (at, response) =
            answer.map_err(|e| format!("{} cold start {run}: {e}", function.name()))?;
        check_response(function, &response)?;
        let first_next = first_next.ok_or("no `next` request seen")?;
        init.push(ms(first_next - started));
        first.push(ms(at - started));
        ssm_at_init.push(env.ssm.requests() - ssm_before);
    }
    Ok(json!({
        "runs": runs,
        "init_ms": summary_ms(&init),
        "first_response_ms": summary_ms(&first),
        "ssm_requests_per_start": {"min": ssm_at_init.iter().min(), "max": ssm_at_init.iter().max()},
    }))
}

async fn warm(
    env: &Env<'_>,
    binary: &Path,
    function: Function,
    invocations: usize,
    base: usize,
) -> Result<Value> {
    let mut workload = Workload::new(function, env.emulator, base).await?;
    let mut api = RuntimeApi::start().await?;
    let ssm_start = env.ssm.requests();
    let conns_start = env.emulator.connections_accepted();
    let (_, child) = spawn(
        env,
        binary,
        function,
        &api,
        &format!("{}-warm.log", function.name()),
    )?;
    let pid = child.id().ok_or("process exited at once")?;
    let mut latencies = Vec::with_capacity(invocations);
    let mut after_first = (0, 0);
    let mut connections_seen = conns_start;
    let mut new_connection_at: Vec<usize> = Vec::new();
    let mut at_1000 = None;
    let mut result = Ok(());
    for i in 1..=invocations {
        let id = format!("bench-warm-{i}");
        let event = workload.event(&id);
        let sent = Instant::now();
        let answer = api.invoke(event, ANSWER_TIMEOUT).await;
        let (at, response) = match answer {
            Ok(a) => a,
            Err(e) => {
                result = Err(format!("{} invocation {i}: {e}", function.name()));
                break;
            }
        };
        if let Err(e) = check_response(function, &response) {
            result = Err(format!("invocation {i}: {e}"));
            break;
        }
        if i > 1 {
            latencies.push(ms(at - sent));
        }
        let connections = env.emulator.connections_accepted();
        if connections > connections_seen && new_connection_at.len() < 20 {
            new_connection_at.extend(std::iter::repeat_n(i, connections - connections_seen));
        }
        connections_seen = connections;
        if i == 1 {
            after_first = (
                env.ssm.requests() - ssm_start,
                env.emulator.connections_accepted() - conns_start,
            );
        }
        if i == invocations.min(1000) {
            at_1000 = Some((i, memory_kib(pid)?));
        }
        if i % 1000 == 0 {
            env.emulator.clear_requests();
        }
    }
    let end = memory_kib(pid)?;
    stop(child).await;
    result?;
    let ssm_total = env.ssm.requests() - ssm_start;
    let conns_total = env.emulator.connections_accepted() - conns_start;
    let (n_1000, (hwm_1000, rss_1000)) = at_1000.unwrap_or((invocations, end));
    Ok(json!({
        "invocations": invocations,
        "warm_latency_ms": summary_ms(&latencies),
        "ssm_requests_first_invocation_incl_init": after_first.0,
        "ssm_requests_warm": ssm_total - after_first.0,
        "twilio_connections_first_invocation": after_first.1,
        "twilio_connections_warm": conns_total - after_first.1,
        "twilio_connections_total": conns_total,
        "twilio_new_connection_at_invocation": new_connection_at,
        "max_parallel_twilio_requests": function.max_parallel_requests(),
        "memory_kib": {
            "checkpoint": n_1000,
            "vm_hwm_at_checkpoint": hwm_1000,
            "vm_rss_at_checkpoint": rss_1000,
            "vm_hwm_end": end.0,
            "vm_rss_end": end.1,
            "vm_rss_growth_checkpoint_to_end": end.1 as i64 - rss_1000 as i64,
        },
    }))
}

async fn process(flags: &Flags) -> Result<Value> {
    let bin_dir = flags.bin_dir.clone().ok_or("--bin-dir is required")?;
    let hello = flags.hello.clone().ok_or("--hello is required")?;
    let moto = flags.moto.clone().ok_or("--moto is required")?;
    let runs = flags.runs.unwrap_or(if flags.quick { 2 } else { 20 });
    let invocations = flags
        .invocations
        .unwrap_or(if flags.quick { 20 } else { 10_000 });
    eprintln!("process: starting moto_server and the emulator");
    let (ssm, emulator, home, logs) = stand_ins(&flags.out, &moto).await?;
    let env = Env {
        ssm: &ssm,
        emulator: &emulator,
        home,
        logs,
        twilio_url: emulator.base_url(),
        ssm_url: ssm.proxy_url().to_owned(),
        extra: Vec::new(),
    };

    let mut failures = Vec::new();
    let mut functions = serde_json::Map::new();
    for (k, function) in Function::ALL.into_iter().enumerate() {
        let binary = match function {
            Function::Hello => hello.clone(),
            _ => bin_dir.join(function.name()),
        };
        if !binary.exists() {
            return Err(format!("{} is missing (build it first)", binary.display()));
        }
        let size = std::fs::metadata(&binary).map(|m| m.len()).unwrap_or(0);
        eprintln!("process: {} cold starts x{runs}", function.name());
        let base = 1_000_000 * (k + 1);
        let cold = cold_starts(&env, &binary, function, runs, base).await?;
        eprintln!("process: {} warm x{invocations}", function.name());
        let warm = warm(&env, &binary, function, invocations, base + 500_000).await?;

        let expected_ssm = function.ssm_requests_at_init();
        if cold["ssm_requests_per_start"]["max"] != json!(expected_ssm)
            || cold["ssm_requests_per_start"]["min"] != json!(expected_ssm)
        {
            failures.push(format!(
                "{}: SSM requests per start {}, expected {expected_ssm}",
                function.name(),
                cold["ssm_requests_per_start"]
            ));
        }
        if warm["ssm_requests_warm"] != json!(0) {
            failures.push(format!(
                "{}: {} SSM requests on warm invocations",
                function.name(),
                warm["ssm_requests_warm"]
            ));
        }
        // The pool may grow to the invocation's concurrency, and hyper opens a
        // spare connection when the next request starts before the previous
        // connection is back in the pool; anything beyond twice the concurrency
        // means connections are being made per invocation.
        let total = warm["twilio_connections_total"]
            .as_u64()
            .unwrap_or(u64::MAX);
        let bound = 2 * function.max_parallel_requests() as u64;
        if total > bound {
            failures.push(format!(
                "{}: {total} Twilio connections over {invocations} invocations (bound {bound}: twice the {} requests in flight at once)",
                function.name(),
                function.max_parallel_requests()
            ));
        }
        functions.insert(
            function.name().into(),
            json!({"binary": binary, "binary_bytes": size, "cold": cold, "warm": warm}),
        );
    }
    let ssm_ms = ssm.proxy.durations_ms();
    Ok(json!({
        "kind": "process",
        "quick": flags.quick,
        "runs": runs,
        "invocations": invocations,
        "ssm_round_trip_ms": summary_ms(&ssm_ms),
        "ssm_requests_total": ssm.requests(),
        "ssm_connections_total": ssm.connections(),
        "functions": functions,
        "failures": failures,
    }))
}
