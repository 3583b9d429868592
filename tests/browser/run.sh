#!/usr/bin/env bash
# Browser test of the operator's page: a real headless Chromium, driven over
# WebDriver (chromedriver) by Python/selenium, against the real stack:
#
#   twilio-emulator serve        (Twilio stand-in)
#   cargo lambda watch           (routes / -> landing-page, /sessions -> sessions,
#                                 from [workspace.metadata.lambda.watch.router])
#   chromedriver + chromium      (headless, no network but loopback)
#
#   bash tests/browser/run.sh                 # run the test
#   bash tests/browser/run.sh --update-docs   # also refresh docs/landing.png
#
# Installs what is missing: chromium + chromium-driver with apt-get (as root),
# the repo venv (.venv, for cargo-lambda) and the test's own venv
# (target/browser/venv, pinned in tests/browser/requirements.txt). Every
# process it starts is stopped on exit, also on failure or Ctrl-C.
#
# Without Chromium it prints "skipped: no chromium" and exits 0, except when
# CI=true, where that is a failure. Artifacts (logs, screenshots):
# test-artifacts/browser/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
ARTIFACTS="$ROOT/test-artifacts/browser"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
VENV="$ROOT/target/browser/venv"
REQ="$ROOT/tests/browser/requirements.txt"
UPDATE_DOCS=false
for arg in "$@"; do
    case "$arg" in
        --update-docs) UPDATE_DOCS=true ;;
        *) echo "usage: $0 [--update-docs]" >&2; exit 2 ;;
    esac
done

say() { echo "browser-test: $*" >&2; }

# Never hand a developer's real cloud or Twilio settings to the stack.
while read -r name; do unset "$name"; done < <(compgen -e | grep -E '^(AWS_|TWILIO_|SSM_|CARGO_LAMBDA_)' || true)

# ---------------------------------------------------------------- chromium

find_browser() {
    CHROMIUM="${CHROMIUM_BIN:-$(command -v chromium || command -v chromium-browser || true)}"
    CHROMEDRIVER="${CHROMEDRIVER_BIN:-$(command -v chromedriver || true)}"
    [[ -n "$CHROMIUM" && -x "$CHROMIUM" && -n "$CHROMEDRIVER" && -x "$CHROMEDRIVER" ]]
}
if ! find_browser && [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    say "installing chromium and chromium-driver with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq chromium chromium-driver; } >"${TMPDIR:-/tmp}/browser-test-apt.log" 2>&1 ||
        say "apt-get failed (see ${TMPDIR:-/tmp}/browser-test-apt.log)"
fi
if ! find_browser; then
    if [[ "${CI:-}" == true ]]; then
        say "FAILED: chromium and chromedriver are required in CI and could not be installed"
        exit 1
    fi
    echo "skipped: no chromium (install the Debian packages chromium and chromium-driver)"
    exit 0
fi
say "$("$CHROMIUM" --version 2>/dev/null | head -n 1); $("$CHROMEDRIVER" --version | head -n 1)"

# ---------------------------------------------------------------- tooling

bash dev/bootstrap-venv.sh # .venv: cargo-lambda
export PATH="$ROOT/.venv/bin:$PATH"
want="$(sha256sum "$REQ" | cut -d' ' -f1)"
if [[ ! -f "$VENV/.requirements.sha256" || "$(cat "$VENV/.requirements.sha256")" != "$want" ]] ||
    ! "$VENV/bin/python" -c 'import selenium, pytest, requests' 2>/dev/null; then
    say "creating $VENV"
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQ"
    echo "$want" >"$VENV/.requirements.sha256"
fi

# ---------------------------------------------------------------- build

rm -rf "$ARTIFACTS"
mkdir -p "$ARTIFACTS"
say "building twilio-emulator, sessions, landing-page"
if ! cargo build --bin twilio-emulator --bin sessions --bin landing-page >"$ARTIFACTS/build.log" 2>&1; then
    tail -n 60 "$ARTIFACTS/build.log" >&2
    say "FAILED: build (log: $ARTIFACTS/build.log)"
    exit 1
fi

# ---------------------------------------------------------------- processes

PIDS=()
PROFILE_DIR="$(mktemp -d "${TMPDIR:-/tmp}/browser-test-profile.XXXXXX")"

descendants() { # pid -> every live descendant pid, children first
    local child
    for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do
        echo "$child"
        descendants "$child"
    done
}
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    local all=() pid
    for pid in "${PIDS[@]}"; do
        all+=("$pid" $(descendants "$pid"))
    done
    if ((${#all[@]})); then
        # SIGTERM first: cargo lambda watch then stops its functions, which
        # run in process groups of their own.
        for pid in "${PIDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
        kill -TERM "${all[@]}" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "${all[@]}" 2>/dev/null || break
            sleep 0.1
        done
        for pid in "${PIDS[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
        kill -KILL "${all[@]}" 2>/dev/null || true
    fi
    wait 2>/dev/null || true
    rm -rf "$PROFILE_DIR"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start() { # name argv... : a process group of its own, output to ARTIFACTS/name.log
    local name="$1"
    shift
    setsid "$@" </dev/null >"$ARTIFACTS/$name.log" 2>&1 &
    PIDS+=("$!")
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for() { # what pid timeout command... : poll until the command succeeds
    local what="$1" pid="$2" timeout="$3"
    shift 3
    local deadline=$((SECONDS + timeout))
    until "$@" >/dev/null 2>&1; do
        if ! kill -0 "$pid" 2>/dev/null; then
            say "FAILED: $what exited; see $ARTIFACTS"
            exit 1
        fi
        if ((SECONDS > deadline)); then
            say "FAILED: $what not ready after ${timeout}s; see $ARTIFACTS"
            exit 1
        fi
        sleep 0.3
    done
}

ACCOUNT_SID="AC$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
AUTH_TOKEN="$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
USERNAME="operator"
PASSWORD="browser-$(python3 -c 'import secrets; print(secrets.token_hex(8))')"
POOL="+15005550001,+15005550002,+15005550003"
EMULATOR_PORT="$(free_port)"
WATCH_PORT="$(free_port)"
DRIVER_PORT="$(free_port)"

TWILIO_ACCOUNT_SID="$ACCOUNT_SID" TWILIO_AUTH_TOKEN="$AUTH_TOKEN" \
    start twilio-emulator "$TARGET_DIR/debug/twilio-emulator" serve --host 127.0.0.1 --port "$EMULATOR_PORT"
EMULATOR_PID="${PIDS[-1]}"
wait_for twilio-emulator "$EMULATOR_PID" 60 curl -sf "http://127.0.0.1:$EMULATOR_PORT/_emulator/requests"

# Configuration from the environment (no SSM): the variables the functions read.
cat >"$ARTIFACTS/functions.env" <<EOF
TWILIO_ACCOUNT_SID=$ACCOUNT_SID
TWILIO_AUTH_TOKEN=$AUTH_TOKEN
NUMBER_POOL=$POOL
AUTH_USERNAME=$USERNAME
AUTH_PASSWORD=$PASSWORD
TWILIO_CONVERSATIONS_URL=http://127.0.0.1:$EMULATOR_PORT
TWILIO_API_URL=http://127.0.0.1:$EMULATOR_PORT
RUST_LOG=info
EOF
start lambda-watch cargo lambda watch --ignore-changes --invoke-address 127.0.0.1 \
    --invoke-port "$WATCH_PORT" --env-file "$ARTIFACTS/functions.env"
WATCH_PID="${PIDS[-1]}"
BASE="http://127.0.0.1:$WATCH_PORT"
# The first request to each function waits for `cargo run` (already built).
page_ready() {
    grep -qE 'error: could not compile|ERROR command exited' "$ARTIFACTS/lambda-watch.log" && {
        say "FAILED: a function did not start under cargo lambda watch"
        tail -n 40 "$ARTIFACTS/lambda-watch.log" >&2
        exit 1
    }
    [[ "$(curl -s -m 300 -o /dev/null -w '%{http_code}' -u "$USERNAME:$PASSWORD" "$BASE/")" == 200 ]]
}
sessions_ready() {
    [[ "$(curl -s -m 300 -o /dev/null -w '%{http_code}' -u "$USERNAME:$PASSWORD" "$BASE/sessions")" =~ ^(200|400|405)$ ]]
}
wait_for "cargo lambda watch (GET /)" "$WATCH_PID" 900 page_ready
wait_for "cargo lambda watch (/sessions)" "$WATCH_PID" 900 sessions_ready

start chromedriver "$CHROMEDRIVER" --port="$DRIVER_PORT" --log-path="$ARTIFACTS/chromedriver-detail.log"
DRIVER_PID="${PIDS[-1]}"
wait_for chromedriver "$DRIVER_PID" 60 curl -sf "http://127.0.0.1:$DRIVER_PORT/status"

# ---------------------------------------------------------------- test

say "stack up: page $BASE/, emulator http://127.0.0.1:$EMULATOR_PORT, chromedriver :$DRIVER_PORT"
set +e
BROWSER_BASE_URL="$BASE" BROWSER_USERNAME="$USERNAME" BROWSER_PASSWORD="$PASSWORD" \
    BROWSER_POOL="$POOL" BROWSER_DRIVER_URL="http://127.0.0.1:$DRIVER_PORT" \
    BROWSER_CHROMIUM="$CHROMIUM" BROWSER_PROFILE_DIR="$PROFILE_DIR" BROWSER_ARTIFACTS="$ARTIFACTS" \
    PYTHONDONTWRITEBYTECODE=1 "$VENV/bin/python" -m pytest -p no:cacheprovider -q -rs tests/browser 2>&1 | tee "$ARTIFACTS/pytest.log"
status="${PIPESTATUS[0]}"
set -e
if [[ "$status" != 0 ]]; then
    # CI keeps only this output: show what the server side saw.
    say "server side, errors and warnings (full logs: $ARTIFACTS):"
    grep -hE ' (WARN|ERROR) |status=5[0-9][0-9]|panicked' "$ARTIFACTS/lambda-watch.log" "$ARTIFACTS/twilio-emulator.log" | tail -n 40 >&2 || true
    say "last lines of lambda-watch.log:"
    tail -n 25 "$ARTIFACTS/lambda-watch.log" >&2
fi
if [[ "$status" == 0 && "$UPDATE_DOCS" == true ]]; then
    mkdir -p docs
    cp "$ARTIFACTS/landing.png" docs/landing.png
    say "updated docs/landing.png"
fi
exit "$status"
