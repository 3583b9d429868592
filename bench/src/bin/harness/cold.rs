//! Cold start over TLS: what the first invocation after a cold start costs.
//!
//! Twilio (the emulator) and SSM (moto behind the counting proxy) are each
//! reached through a TLS listener (`twilio_emulator::tls::TlsFront`), so every
//! connection pays a real handshake, as on AWS. The functions trust the
//! machine's bundle plus the test CA (`SSL_CERT_FILE`). Each start is measured
//! three ways: exec → first `next` (init), then one event (the first
//! invocation) and a second (warm), each from queueing to the response.
//! Twilio connections opened during init and during the first invocation are
//! counted. The binaries of `--before-dir` (the version before) and `--bin-dir`
//! start alternately, so both see the same machine. The baseline is the
//! hello-world function's init; one SSM read is a GetParametersByPath on a new
//! connection (handshake included), from this process.

use std::path::Path;
use std::time::{Duration, Instant};

use masked_comms::trust_roots::TrustRoots;
use serde_json::{json, Value};
use twilio_emulator::tls::{TlsFront, TEST_CA_PEM};

use super::{
    check_response, ms, spawn, ssm_client, stop, summary_ms, Env, Flags, Function, Result,
    RuntimeApi, Workload, ANSWER_TIMEOUT, SSM_PREFIX,
};

/// The functions measured: every one, after the baseline.
const FUNCTIONS: [Function; 4] = [
    Function::Sessions,
    Function::InboundCall,
    Function::ConversationEvents,
    Function::LandingPage,
];

/// One start of one binary.
struct Start {
    init: f64,
    first: f64,
    warm: f64,
    twilio_connections_init: usize,
    twilio_connections_first: usize,
}

#[derive(Default)]
struct Starts(Vec<Start>);

impl Starts {
    fn json(&self) -> Value {
        let of = |f: fn(&Start) -> f64| self.0.iter().map(f).collect::<Vec<_>>();
        let count = |f: fn(&Start) -> usize| {
            let values: Vec<usize> = self.0.iter().map(f).collect();
            json!({"min": values.iter().min(), "max": values.iter().max()})
        };
        json!({
            "starts": self.0.len(),
            "init_ms": summary_ms(&of(|s| s.init)),
            "first_invocation_ms": summary_ms(&of(|s| s.first)),
            "warm_invocation_ms": summary_ms(&of(|s| s.warm)),
            "twilio_connections_init": count(|s| s.twilio_connections_init),
            "twilio_connections_first_invocation": count(|s| s.twilio_connections_first),
        })
    }
}

/// The machine's bundle with the test CA added: what the functions trust here.
fn bundle_with_test_ca(dir: &Path) -> Result<std::path::PathBuf> {
    let system = openssl_probe::probe()
        .cert_file
        .ok_or("no system certificate bundle found")?;
    let mut pem = std::fs::read(&system).map_err(|e| format!("{}: {e}", system.display()))?;
    pem.extend_from_slice(b"\n");
    pem.extend_from_slice(TEST_CA_PEM.as_bytes());
    let path = dir.join("bundle.pem");
    std::fs::write(&path, pem).map_err(|e| e.to_string())?;
    Ok(path)
}

async fn wait_for_init(api: &RuntimeApi) -> Result<Instant> {
    let deadline = Instant::now() + ANSWER_TIMEOUT;
    loop {
        if let Some(at) = api.first_next() {
            return Ok(at);
        }
        if Instant::now() > deadline {
            return Err("no `next` request: init did not finish".into());
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
}

/// One event through the Runtime API: queued → response, in ms.
async fn invoke(api: &mut RuntimeApi, function: Function, event: Value) -> Result<f64> {
    let sent = Instant::now();
    let (answered, response) = api.invoke(event, ANSWER_TIMEOUT).await?;
    check_response(function, &response)?;
    Ok(ms(answered - sent))
}

async fn one_start(
    env: &Env<'_>,
    binary: &Path,
    function: Function,
    workload: &mut Workload<'_>,
    label: &str,
) -> Result<Start> {
    let mut api = RuntimeApi::start().await?;
    let connections = || env.emulator.connections_accepted();
    let at_exec = connections();
    let (started, child) = spawn(env, binary, function, &api, &format!("{label}.log"))?;
    let measured = async {
        let init_done = wait_for_init(&api).await?;
        let at_init = connections();
        let first = invoke(&mut api, function, workload.event(&format!("{label}-0"))).await?;
        // Counted before the second event: the first invocation's alone.
        let twilio_connections_first = connections() - at_init;
        let warm = invoke(&mut api, function, workload.event(&format!("{label}-1"))).await?;
        Ok::<_, String>(Start {
            init: ms(init_done - started),
            first,
            warm,
            twilio_connections_init: at_init - at_exec,
            twilio_connections_first,
        })
    }
    .await;
    stop(child).await;
    measured.map_err(|e| format!("{label}: {e}"))
}

/// GetParametersByPath on a new client (so a new connection and handshake),
/// trusting only the test CA.
async fn fresh_ssm_read(endpoint: &str, roots: &TrustRoots) -> Result<f64> {
    let client = ssm_client(endpoint, Some(roots.aws_http_client()));
    let started = Instant::now();
    client
        .get_parameters_by_path()
        .path(SSM_PREFIX)
        .recursive(true)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| format!("{}", aws_sdk_ssm::error::DisplayErrorContext(e)))?;
    Ok(ms(started.elapsed()))
}

pub(super) async fn cold(flags: &Flags) -> Result<Value> {
    let after_dir = flags.bin_dir.clone().ok_or("--bin-dir is required")?;
    let hello = flags.hello.clone().ok_or("--hello is required")?;
    let moto = flags.moto.clone().ok_or("--moto is required")?;
    let runs = flags.runs.unwrap_or(if flags.quick { 2 } else { 20 });
    let mut variants = vec![("after", after_dir)];
    if let Some(before) = &flags.before_dir {
        variants.insert(0, ("before", before.clone()));
    }
    eprintln!("cold: starting moto_server, the emulator and their TLS listeners");
    let (ssm, emulator, home, logs) = super::stand_ins(&flags.out, &moto).await?;
    let twilio_tls = TlsFront::start(&emulator.base_url())
        .await
        .map_err(|e| e.to_string())?;
    let ssm_tls = TlsFront::start(ssm.proxy_url())
        .await
        .map_err(|e| e.to_string())?;
    let bundle = bundle_with_test_ca(&home)?;
    let env = Env {
        ssm: &ssm,
        emulator: &emulator,
        home,
        logs,
        twilio_url: twilio_tls.base_url(),
        ssm_url: ssm_tls.base_url(),
        extra: vec![("SSL_CERT_FILE", bundle.display().to_string())],
    };

    let test_ca = TrustRoots::from_pem(TEST_CA_PEM.as_bytes());
    let mut ssm_reads = Vec::new();
    for _ in 0..runs {
        ssm_reads.push(fresh_ssm_read(&ssm_tls.base_url(), &test_ca).await?);
    }

    let mut hello_starts = Starts::default();
    let mut results: Vec<Vec<Starts>> = FUNCTIONS
        .iter()
        .map(|_| variants.iter().map(|_| Starts::default()).collect())
        .collect();
    let mut workloads = Vec::new();
    for (k, function) in FUNCTIONS.into_iter().enumerate() {
        workloads.push(Workload::new(function, &emulator, 3_000_000 + 1_000_000 * k).await?);
    }
    let mut hello_workload = Workload::new(Function::Hello, &emulator, 9_000_000).await?;
    for run in 0..runs {
        eprintln!("cold: start {} of {runs}", run + 1);
        hello_starts.0.push(
            one_start(
                &env,
                &hello,
                Function::Hello,
                &mut hello_workload,
                &format!("hello-{run}"),
            )
            .await?,
        );
        for (k, function) in FUNCTIONS.into_iter().enumerate() {
            for (v, (variant, dir)) in variants.iter().enumerate() {
                let label = format!("{}-{variant}-{run}", function.name());
                let start = one_start(
                    &env,
                    &dir.join(function.name()),
                    function,
                    &mut workloads[k],
                    &label,
                )
                .await?;
                results[k][v].0.push(start);
            }
        }
    }

    let mut failures = Vec::new();
    let mut functions = serde_json::Map::new();
    for (k, function) in FUNCTIONS.into_iter().enumerate() {
        let mut entry = serde_json::Map::new();
        for (v, (variant, dir)) in variants.iter().enumerate() {
            let binary = dir.join(function.name());
            let bytes = std::fs::metadata(&binary).map(|m| m.len()).unwrap_or(0);
            let mut figures = results[k][v].json();
            figures["binary_bytes"] = json!(bytes);
            if *variant == "after" {
                // The connections the first invocation needs were opened in init.
                let expected = function.preconnected();
                let first = &figures["twilio_connections_first_invocation"];
                let init = &figures["twilio_connections_init"];
                if first["max"] != json!(0) {
                    failures.push(format!(
                        "{}: the first invocation opened {} Twilio connections (expected none)",
                        function.name(),
                        first["max"]
                    ));
                }
                if init["min"] != json!(expected) || init["max"] != json!(expected) {
                    failures.push(format!(
                        "{}: {init} Twilio connections during init, expected {expected}",
                        function.name()
                    ));
                }
            }
            entry.insert((*variant).into(), figures);
        }
        functions.insert(function.name().into(), Value::Object(entry));
    }
    Ok(json!({
        "kind": "cold",
        "quick": flags.quick,
        "runs": runs,
        "variants": variants.iter().map(|(v, dir)| json!({"name": v, "bin_dir": dir})).collect::<Vec<_>>(),
        "ssm_fresh_read_ms": summary_ms(&ssm_reads),
        "hello": hello_starts.json(),
        "functions": functions,
        "failures": failures,
    }))
}
