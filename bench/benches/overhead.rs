//! Criterion: our own overhead per invocation, and number choice at scale.
//!
//! - `overhead/inbound_call_roster_hit`, `overhead/create_2`: the in-process
//!   handler against the emulator with **no** added latency. This still includes
//!   loopback HTTP to the emulator and the emulator's own request handling
//!   (1 request for the call, 6 for the create), so it is an upper bound on our code.
//! - `number_choice/pool_5000_bindings_1000_participants_50`: the first candidate for 50
//!   participants, each with 1,000 earlier bindings (500 in open conversations,
//!   500 closed), over a pool of 5,000 numbers in four locations; `..._in_all_...`:
//!   the same with 1,000 bindings in all (20 each).
//!
//! `cargo bench --bench overhead` measures; `cargo test --benches` runs each once.
// The in-process handlers nest deeply enough to need a higher limit.
#![recursion_limit = "256"]

use std::hint::black_box;
use std::time::{Duration, Instant};

use bench_support::*;
use criterion::{criterion_group, criterion_main, Criterion};
use masked_comms::domain::pool::{candidates, ChoiceSettings};
use masked_comms::handlers::{inbound_call, sessions};
use tokio::runtime::Runtime;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn overhead(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("overhead");

    // Inbound call, roster hit: one ListParticipantConversations.
    let fx = rt.block_on(Fixture::start(Duration::ZERO));
    let call = rt.block_on(async {
        let response = sessions::handle(
            &fx.state,
            create_call(&[address(0), address(1)]).to_request(),
        )
        .await;
        assert_eq!(response.status(), 201);
        let session: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        let (caller, proxy) = proxies_of(&session).into_iter().next().unwrap();
        inbound_call(&caller, &proxy)
    });
    group.bench_function("inbound_call_roster_hit", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                fx.emulator.clear_requests();
                let started = Instant::now();
                for _ in 0..iters {
                    let response = inbound_call::handle(&fx.state, call.to_request()).await;
                    assert_eq!(response.status(), 200);
                    black_box(response);
                }
                started.elapsed()
            })
        })
    });
    drop(fx);

    // Create with 2 participants: 2 lists + create, then 2 adds + roster write.
    let fx = rt.block_on(Fixture::start(Duration::ZERO));
    let mut next_address = 10usize;
    group.bench_function("create_2", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for i in 0..iters {
                    if i % 250 == 0 {
                        // Untimed: keep the emulator's state small.
                        fx.emulator.reset();
                    }
                    next_address = (next_address + 2) % 5_000_000;
                    let request = create_call(&[address(next_address), address(next_address + 1)]);
                    let started = Instant::now();
                    let response = sessions::handle(&fx.state, request.to_request()).await;
                    total += started.elapsed();
                    assert_eq!(response.status(), 201);
                    black_box(response);
                }
                total
            })
        })
    });
    group.finish();
}

fn number_choice(c: &mut Criterion) {
    let settings = ChoiceSettings::default();
    let mut group = c.benchmark_group("number_choice");
    // Two readings of "1,000 bindings": per participant (the worst case, 50,000
    // in all) and in all (20 per participant).
    for (name, per_participant) in [
        ("pool_5000_bindings_1000_participants_50", 1_000),
        ("pool_5000_bindings_1000_in_all_participants_50", 20),
    ] {
        let inputs = ChoiceInputs::new(5_000, per_participant, 50);
        group.bench_function(name, |b| {
            b.iter(|| {
                for p in 0..inputs.participants.len() {
                    let history = inputs.history(p);
                    // What a session takes: the best candidate (the rest is
                    // read only when a race takes that one).
                    let best =
                        candidates(&inputs.pool, &inputs.participants[p], &history, settings)
                            .next();
                    black_box(best.expect("a free number"));
                }
            })
        });
    }
    group.finish();
}

/// What every cold start pays once for its trust roots: the machine's bundle
/// read and checked, and the Twilio client built on it.
fn trust_roots(c: &mut Criterion) {
    let Some(bundle) = openssl_probe::probe().cert_file else {
        return;
    };
    let mut group = c.benchmark_group("trust_roots");
    group.bench_function("read_system_bundle", |b| {
        b.iter(|| masked_comms::trust_roots::TrustRoots::read(&bundle).expect("a bundle"))
    });
    let roots = masked_comms::trust_roots::TrustRoots::read(&bundle).expect("a bundle");
    group.bench_function("twilio_client_with_them", |b| {
        b.iter(|| {
            masked_comms::twilio::TwilioHttp::with_roots(
                masked_comms::twilio::TwilioSettings::default(),
                Some(&roots),
            )
            .expect("a client")
        })
    });
    group.finish();
}

criterion_group!(benches, overhead, number_choice, trust_roots);
criterion_main!(benches);
