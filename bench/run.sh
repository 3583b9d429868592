#!/usr/bin/env bash
# Benchmarks: `make bench` (full; writes BENCHMARKS.md) and `make bench-quick`
# (CI: everything once with tiny counts; asserts the counts, not the timings;
# never touches BENCHMARKS.md).
#
#   bash bench/run.sh                 full: opt-level "z" (deployed) and 3, arm64 sizes
#   bash bench/run.sh --quick         one iteration of everything, debug builds, no arm64
#   bash bench/run.sh --no-o3         full, without the opt-level 3 comparison
#   bash bench/run.sh --no-arm64      full, without `cargo lambda build --arm64` sizes
#   bash bench/run.sh --report-only   rewrite BENCHMARKS.md from the last full run's results
#   bash bench/run.sh --busy-only     only the busy-participant scenario (release build of the
#                                     bench package), replacing only its parts of BENCHMARKS.md
#   bash bench/run.sh --cold-only     only the cold start over TLS (release builds of the
#                                     functions), replacing only its parts of BENCHMARKS.md
#   BENCH_BEFORE_REV=REV bash bench/run.sh --busy-before-after
#                                     create, call and close of a busy participant (k =
#                                     BENCH_BUSY_KS, default 1,5000) with this checkout's
#                                     harness built against REV's library and this one's,
#                                     one after the other; writes BENCHMARKS.md section 7b
#
# Environment knobs:
#   BENCH_MAX_LOAD   (1.5)  timed phases wait until the 1-minute load is below this ...
#   BENCH_LOAD_WAIT  (900)  ... for at most this many seconds, then run anyway; the
#                           load seen is written into BENCHMARKS.md either way.
#   BENCH_BEFORE_REV        a git revision: its functions are built too (a worktree in a
#                           temporary directory) and the cold start over TLS measures them
#                           beside the current ones, alternately, in the same run.
#   BENCH_BEFORE_DIR        or: a directory holding those functions, already built
#                           (release); its name is what BENCHMARKS.md calls "before".
#   BENCH_TARGET_DIR (target), BENCH_O3_TARGET_DIR (target/bench-o3): where the bench
#                           package and the opt-level 3 builds go. The opt-level "z"
#                           builds share the root target dir with the tests, `make build`
#                           and the functions (one workspace, one set of dependencies).
#
# What runs (see bench/README.md):
#   1. bench-harness inprocess: round trips (emulator timestamps) and latency with
#      50 ms emulator latency, handlers in-process.
#   8. bench-harness message: a message from the backend to one participant, session
#      index on (one Twilio round trip) and off (two), 50 ms emulator latency;
#      `bench-harness message --moto .venv/bin/moto_server --out FILE` (not yet in
#      BENCHMARKS.md's report).
#   7. bench-harness busy: a participant holding k = 1, 50, 500, 5,000 open sessions
#      (1 and 50 in quick mode); calls and creates with the session index off (Twilio's
#      participant list paged) and on (moto's DynamoDB behind a counting proxy).
#   1b. bench-harness intercept: a call's answer time with no intercept and with a
#      backend allowing after 0, 50 and 200 ms (emulator latency 50 ms).
#   2. Criterion (benches/overhead.rs): our overhead with no emulator latency, and
#      number choice at scale.
#   3+4. bench-harness process: the real function binaries behind a Lambda Runtime
#      API stand-in, SSM from moto (counted by a proxy), Twilio = the emulator:
#      cold start vs. a hello-world lambda_http baseline, warm invocations,
#      peak RSS and RSS growth.
#   3b. bench-harness cold: the same binaries with Twilio and SSM behind TLS listeners:
#      init, the first invocation and a warm one; Twilio connections opened in init and
#      by the first invocation (none); the version before (BENCH_BEFORE_REV) alongside.
#   5. sizes: `cargo lambda build --release --arm64 --output-format zip`; and
#      `bench-harness linked` (every mode): the page's assets only in landing-page,
#      the twilio-setup CLI in no function binary, read from the built binaries.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

QUICK=0 ARM64=1 O3=1 REPORT_ONLY=0 BUSY_ONLY=0 COLD_ONLY=0 BEFORE_AFTER=0
for arg in "$@"; do
    case "$arg" in
        --quick) QUICK=1 ARM64=0 O3=0 ;;
        --no-arm64) ARM64=0 ;;
        --no-o3) O3=0 ;;
        --report-only) REPORT_ONLY=1 ;;
        --busy-only) BUSY_ONLY=1 ARM64=0 O3=0 ;;
        --cold-only) COLD_ONLY=1 ARM64=0 O3=0 ;;
        --busy-before-after) BEFORE_AFTER=1 ARM64=0 O3=0 ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "bench/run.sh: unknown argument $arg (try --help)" >&2
            exit 2
            ;;
    esac
done

FUNCTIONS=(sessions inbound-call conversation-events landing-page)
PACKAGES=()
for f in "${FUNCTIONS[@]}"; do PACKAGES+=(-p "$f"); done

ROOT_TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
unset CARGO_TARGET_DIR
BENCH_TARGET="${BENCH_TARGET_DIR:-$ROOT_TARGET}"
O3_TARGET="${BENCH_O3_TARGET_DIR:-$ROOT_TARGET/bench-o3}"
MAX_LOAD="${BENCH_MAX_LOAD:-1.5}"
LOAD_WAIT="${BENCH_LOAD_WAIT:-900}"
ART="$ROOT/test-artifacts/bench"
[[ $QUICK == 1 ]] && ART="$ART/quick"
STARTED=$(date +%s)

log() { printf 'bench [%4ss] %s\n' "$(($(date +%s) - STARTED))" "$*" >&2; }

report() {
    python3 "$ROOT/bench/report.py" --artifacts "$ART" --out "$ROOT/BENCHMARKS.md" "$@"
}

if [[ $REPORT_ONLY == 1 ]]; then
    report
    exit 0
fi

bash dev/bootstrap-venv.sh
export PATH="$ROOT/.venv/bin:$PATH"
MOTO="$ROOT/.venv/bin/moto_server"

mkdir -p "$ART"
if [[ $QUICK == 0 && $BUSY_ONLY == 0 && $COLD_ONLY == 0 ]]; then
    rm -rf "$ART/s" "$ART/3" "$ART/loads.jsonl"
fi
mkdir -p "$ART/s"

# cargo for the bench package (a workspace member) with a given target dir.
bench_cargo() {
    local target="$1"
    shift
    (cd "$ROOT/bench" && CARGO_TARGET_DIR="$target" cargo "$@")
}

# Waits (bounded) for a quiet machine, then records the load for the report.
wait_quiet() {
    local phase="$1" waited=0 load
    while :; do
        load=$(cut -d' ' -f1 /proc/loadavg)
        if awk -v l="$load" -v m="$MAX_LOAD" 'BEGIN { exit !(l < m) }'; then break; fi
        if ((waited >= LOAD_WAIT)); then
            log "load $load still >= $MAX_LOAD after ${waited}s; measuring $phase anyway (recorded)"
            break
        fi
        log "load $load >= $MAX_LOAD; waiting before $phase (${waited}s of ${LOAD_WAIT}s)"
        sleep 15
        waited=$((waited + 15))
    done
    printf '{"phase": "%s", "when": "before", "loadavg": "%s", "waited_s": %d}\n' \
        "$phase" "$(cut -d' ' -f1-3 /proc/loadavg)" "$waited" >>"$ART/loads.jsonl"
}

after() {
    printf '{"phase": "%s", "when": "after", "loadavg": "%s", "waited_s": 0}\n' \
        "$1" "$(cut -d' ' -f1-3 /proc/loadavg)" >>"$ART/loads.jsonl"
}

if [[ $QUICK == 1 ]]; then
    log "quick: building the functions (debug) and the bench package"
    cargo build -q "${PACKAGES[@]}"
    bench_cargo "$BENCH_TARGET" build -q --bins
    log "quick: what each function binary carries (the page only in landing-page)"
    "$BENCH_TARGET/debug/bench-harness" linked --bin-dir "$ROOT_TARGET/debug" --out "$ART/s/linked.json"
    log "quick: bench library tests and each Criterion benchmark once"
    bench_cargo "$BENCH_TARGET" test -q --lib --benches
    log "quick: in-process round trips"
    "$BENCH_TARGET/debug/bench-harness" inprocess --quick --out "$ART/s/inprocess.json"
    log "quick: a call's answer time with an intercept backend"
    "$BENCH_TARGET/debug/bench-harness" intercept --quick --out "$ART/s/intercept.json"
    log "quick: a busy participant, session index off and on"
    "$BENCH_TARGET/debug/bench-harness" busy --quick --moto "$MOTO" --out "$ART/s/busy.json"
    log "quick: a message to one participant, session index on (1 round trip) and off (2)"
    "$BENCH_TARGET/debug/bench-harness" message --quick --moto "$MOTO" --out "$ART/s/message.json"
    log "quick: whole-process cold start, warm invocations, memory"
    "$BENCH_TARGET/debug/bench-harness" process --quick \
        --bin-dir "$ROOT_TARGET/debug" --hello "$BENCH_TARGET/debug/hello-lambda" \
        --moto "$MOTO" --out "$ART/s/process.json"
    log "quick: cold start over TLS (connections opened in init, none by the first invocation)"
    "$BENCH_TARGET/debug/bench-harness" cold --quick \
        --bin-dir "$ROOT_TARGET/debug" --hello "$BENCH_TARGET/debug/hello-lambda" \
        --moto "$MOTO" --out "$ART/s/cold.json"
    report --quick
    exit 0
fi

if [[ $BUSY_ONLY == 1 ]]; then
    log "busy only: bench package (release)"
    bench_cargo "$BENCH_TARGET" build --release --bin bench-harness
    wait_quiet "s/busy"
    log "a busy participant, session index off and on (50 ms emulator latency)"
    "$BENCH_TARGET/release/bench-harness" busy --moto "$MOTO" --out "$ART/s/busy.json"
    after "s/busy"
    report --busy-only --command "bash bench/run.sh $*"
    log "updated the busy-participant parts of BENCHMARKS.md"
    exit 0
fi

if [[ $BEFORE_AFTER == 1 ]]; then
    [[ -n "${BENCH_BEFORE_REV:-}" ]] || { echo "bench/run.sh: --busy-before-after needs BENCH_BEFORE_REV" >&2; exit 2; }
    KS="${BENCH_BUSY_KS:-1,5000}"
    mkdir -p "$ART/before" "$ART/after"
    # This checkout's harness against REV's library: a worktree outside the
    # checkout (so only its own .cargo settings apply) with bench/ replaced.
    tree="$(mktemp -d)/before"
    git worktree add --detach --force "$tree" "$BENCH_BEFORE_REV" >/dev/null
    rm -rf "$tree/bench"
    cp -r "$ROOT/bench" "$tree/bench"
    log "before: bench package (release) against $BENCH_BEFORE_REV's library"
    (cd "$tree/bench" && CARGO_TARGET_DIR="$BENCH_TARGET" cargo build --release --bin bench-harness)
    cp "$BENCH_TARGET/release/bench-harness" "$ART/before/bench-harness"
    # The worktree stays until both have run: the harness finds its tools
    # (dev/session_index.py) beside the sources it was built from.
    trap 'git worktree remove --force "$tree"; rmdir "$(dirname "$tree")"' EXIT
    log "after: bench package (release)"
    bench_cargo "$BENCH_TARGET" build --release --bin bench-harness
    cp "$BENCH_TARGET/release/bench-harness" "$ART/after/bench-harness"
    wait_quiet "busy-before-after"
    for side in before after; do
        log "[$side] a busy participant, k = $KS, session index off and on"
        "$ART/$side/bench-harness" busy --ks "$KS" --moto "$MOTO" --out "$ART/$side/busy.json"
    done
    after "busy-before-after"
    report --busy-before-after --before-name "$BENCH_BEFORE_REV" \
        --command "BENCH_BEFORE_REV=$BENCH_BEFORE_REV bash bench/run.sh $*"
    log "updated section 7b of BENCHMARKS.md"
    exit 0
fi

# The functions of BENCH_BEFORE_REV (release, x86_64), copied to $ROOT_TARGET/bench-before.
BEFORE_DIR="${BENCH_BEFORE_DIR:-}"
BEFORE_NAME="${BENCH_BEFORE_REV:-$BEFORE_DIR}"
build_before() {
    [[ -n "${BENCH_BEFORE_REV:-}" ]] || return 0
    # Outside the checkout: cargo would otherwise also read this checkout's
    # .cargo/config.toml, which the revision may not have had.
    local tree
    tree="$(mktemp -d)/before"
    log "before: cargo build --release (functions) at $BENCH_BEFORE_REV"
    git worktree add --detach --force "$tree" "$BENCH_BEFORE_REV" >/dev/null
    (cd "$tree" && CARGO_TARGET_DIR="$ROOT_TARGET" cargo build --release "${PACKAGES[@]}")
    BEFORE_DIR="$ROOT_TARGET/bench-before"
    mkdir -p "$BEFORE_DIR"
    for f in "${FUNCTIONS[@]}"; do cp "$ROOT_TARGET/release/$f" "$BEFORE_DIR/$f"; done
    git worktree remove --force "$tree"
    rmdir "$(dirname "$tree")"
}

# $1: the release bench target dir. Needs the release functions and hello-lambda.
measure_cold() {
    local bench_target="$1" before=()
    [[ -n "$BEFORE_DIR" ]] && before=(--before-dir "$BEFORE_DIR")
    wait_quiet "s/cold"
    log "cold start over TLS${BEFORE_DIR:+, before ($BEFORE_NAME) and after}"
    "$bench_target/release/bench-harness" cold --bin-dir "$ROOT_TARGET/release" "${before[@]}" \
        --hello "$bench_target/release/hello-lambda" --moto "$MOTO" --out "$ART/s/cold.json"
    after "s/cold"
}

if [[ $COLD_ONLY == 1 ]]; then
    build_before
    log "cold only: cargo build --release (functions) and the bench package"
    cargo build --release "${PACKAGES[@]}"
    bench_cargo "$BENCH_TARGET" build --release --bin bench-harness --bin hello-lambda
    "$BENCH_TARGET/release/bench-harness" linked --bin-dir "$ROOT_TARGET/release" --out "$ART/s/linked.json"
    measure_cold "$BENCH_TARGET"
    report --cold-only --before-name "$BEFORE_NAME" \
        --command "${BENCH_BEFORE_REV:+BENCH_BEFORE_REV=$BENCH_BEFORE_REV }${BENCH_BEFORE_DIR:+BENCH_BEFORE_DIR=$BENCH_BEFORE_DIR }bash bench/run.sh $*"
    log "updated the cold-start parts of BENCHMARKS.md"
    exit 0
fi

# ---- builds (all before any timing) ----------------------------------------

# $1 variant (s|3), $2 root target dir, $3 bench target dir; extra env from caller.
build_variant() {
    local variant="$1" root_target="$2" bench_target="$3"
    log "[$variant] cargo build --release (functions, x86_64)"
    CARGO_TARGET_DIR="$root_target" cargo build --release "${PACKAGES[@]}"
    log "[$variant] bench package (release; benches use the same profile)"
    bench_cargo "$bench_target" build --release --bins
    bench_cargo "$bench_target" bench --no-run --bench overhead
    log "[$variant] what each function binary carries (the page only in landing-page)"
    "$bench_target/release/bench-harness" linked --bin-dir "$root_target/release" \
        --out "$ART/$variant/linked.json"
    if [[ $ARM64 == 1 ]]; then
        # The zip holds the bootstrap; report.py reads both sizes from it.
        log "[$variant] cargo lambda build --release --arm64 --output-format zip"
        CARGO_TARGET_DIR="$root_target" cargo lambda build --release --arm64 \
            --output-format zip "${PACKAGES[@]}"
    fi
    python3 "$ROOT/bench/report.py" --sizes "$root_target" --variant "$variant" \
        --functions "${FUNCTIONS[*]}" --hello "$bench_target/release/hello-lambda" \
        >"$ART/$variant/sizes.json"
}

O3_ENV=(CARGO_PROFILE_RELEASE_OPT_LEVEL=3 CARGO_PROFILE_BENCH_OPT_LEVEL=3)

build_before
build_variant s "$ROOT_TARGET" "$BENCH_TARGET"
if [[ $O3 == 1 ]]; then
    mkdir -p "$ART/3"
    export "${O3_ENV[@]}"
    build_variant 3 "$O3_TARGET" "$O3_TARGET"
    unset CARGO_PROFILE_RELEASE_OPT_LEVEL CARGO_PROFILE_BENCH_OPT_LEVEL
fi

# ---- measurements ------------------------------------------------------------

# $1 variant, $2 root target dir, $3 bench target dir, $4 warm invocations
measure_variant() {
    local variant="$1" root_target="$2" bench_target="$3" invocations="$4"
    local harness="$bench_target/release/bench-harness"

    wait_quiet "$variant/criterion"
    log "[$variant] Criterion (overhead, number choice)"
    CRITERION_HOME="$ART/$variant/criterion" \
        bench_cargo "$bench_target" bench --bench overhead -- --noplot \
        >"$ART/$variant/criterion.log" 2>&1 ||
        { tail -30 "$ART/$variant/criterion.log" >&2; return 1; }
    after "$variant/criterion"

    wait_quiet "$variant/inprocess"
    log "[$variant] in-process round trips and latency (50 ms emulator latency)"
    "$harness" inprocess --out "$ART/$variant/inprocess.json"
    after "$variant/inprocess"

    if [[ $variant == s ]]; then
        wait_quiet "$variant/intercept"
        log "[$variant] a call's answer time with an intercept backend at 0, 50, 200 ms"
        "$harness" intercept --out "$ART/$variant/intercept.json"
        after "$variant/intercept"

        # Round trips and moto's latency: the opt-level makes no difference here.
        wait_quiet "$variant/busy"
        log "[$variant] a busy participant, session index off and on (50 ms emulator latency)"
        "$harness" busy --moto "$MOTO" --out "$ART/$variant/busy.json"
        after "$variant/busy"
    fi

    wait_quiet "$variant/process"
    log "[$variant] whole process: cold start, warm, memory ($invocations invocations)"
    "$harness" process --bin-dir "$root_target/release" \
        --hello "$bench_target/release/hello-lambda" --moto "$MOTO" \
        --invocations "$invocations" --out "$ART/$variant/process.json"
    after "$variant/process"
}

measure_variant s "$ROOT_TARGET" "$BENCH_TARGET" 10000
measure_cold "$BENCH_TARGET"
if [[ $O3 == 1 ]]; then
    export "${O3_ENV[@]}"
    measure_variant 3 "$O3_TARGET" "$O3_TARGET" 1000
    unset CARGO_PROFILE_RELEASE_OPT_LEVEL CARGO_PROFILE_BENCH_OPT_LEVEL
fi

report --before-name "$BEFORE_NAME" --elapsed "$(($(date +%s) - STARTED))" \
    --command "${BENCH_BEFORE_REV:+BENCH_BEFORE_REV=$BENCH_BEFORE_REV }${BENCH_BEFORE_DIR:+BENCH_BEFORE_DIR=$BENCH_BEFORE_DIR }bash bench/run.sh $*"
log "wrote BENCHMARKS.md"
