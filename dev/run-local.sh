#!/usr/bin/env bash
# `make dev`: the whole product on http://127.0.0.1:9000 without AWS or Twilio
# accounts. Starts the Twilio emulator (unless .env holds real Twilio
# credentials) and `cargo lambda watch` with every function routed at its real
# path. Ctrl-C stops all of it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PORT="${PORT:-9000}"
EMULATOR_PORT="${EMULATOR_PORT:-4010}"
RUN_DIR="$ROOT/.dev-run"
mkdir -p "$RUN_DIR"

bash dev/bootstrap-venv.sh
export PATH="$ROOT/.venv/bin:$PATH"

# Sample config, then the user's .env on top.
ENV_FILE="$RUN_DIR/functions.env"
cp dev/local.env "$ENV_FILE"
# Twilio (here: the emulator) signs the URL it calls, which is this port.
echo "PUBLIC_BASE_URL=http://127.0.0.1:$PORT" >>"$ENV_FILE"
real_twilio=false
if [[ -f .env ]]; then
    cat .env >>"$ENV_FILE"
    if grep -q '^TWILIO_ACCOUNT_SID=AC' .env && grep -q '^TWILIO_AUTH_TOKEN=.' .env; then
        real_twilio=true
    fi
fi
value_of() { grep "^$1=" "$ENV_FILE" | tail -n 1 | cut -d= -f2-; }
# Later lines win in an env file; keep only the last of each key.
tac "$ENV_FILE" | awk -F= '/^[A-Z_]+=/{ if (!seen[$1]++) print }' | tac >"$ENV_FILE.tmp"
mv "$ENV_FILE.tmp" "$ENV_FILE"

pids=()
cleanup() {
    trap - INT TERM EXIT
    for pid in "${pids[@]}"; do
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    echo "stopped."
}
trap cleanup INT TERM EXIT

echo "building (first run compiles the workspace; later runs are quick)..."
cargo build -q --bin twilio-emulator --bin sessions --bin inbound-call --bin conversation-events --bin landing-page

if [[ "$real_twilio" == false ]]; then
    echo "TWILIO_CONVERSATIONS_URL=http://127.0.0.1:$EMULATOR_PORT" >>"$ENV_FILE"
    echo "TWILIO_API_URL=http://127.0.0.1:$EMULATOR_PORT" >>"$ENV_FILE"
    TWILIO_ACCOUNT_SID="$(value_of TWILIO_ACCOUNT_SID)" TWILIO_AUTH_TOKEN="$(value_of TWILIO_AUTH_TOKEN)" \
        setsid target/debug/twilio-emulator serve --port "$EMULATOR_PORT" \
        --voice-url "http://127.0.0.1:$PORT/inbound-call" \
        --events-url "http://127.0.0.1:$PORT/conversation-events" >"$RUN_DIR/emulator.log" 2>&1 &
    pids+=("$!")
fi

setsid cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$PORT" --env-file "$ENV_FILE" \
    >"$RUN_DIR/watch.log" 2>&1 &
pids+=("$!")

# Warm every function so the first click is not a compile.
watch_pid="${pids[-1]}"
until curl -s -o /dev/null "http://127.0.0.1:$PORT/sessions"; do
    if ! kill -0 "$watch_pid" 2>/dev/null; then
        echo "cargo lambda watch stopped:" >&2
        tail -n 20 "$RUN_DIR/watch.log" >&2
        exit 1
    fi
    sleep 0.5
done
for path in / /sessions /inbound-call /conversation-events; do
    curl -s -o /dev/null -m 120 -X POST "http://127.0.0.1:$PORT$path" || true
done

cat <<MSG

  masked-comms is running: http://127.0.0.1:$PORT/
  operator login: $(value_of AUTH_USERNAME) / $(value_of AUTH_PASSWORD)
  Twilio: $([[ "$real_twilio" == true ]] && echo "REAL Twilio (credentials from .env)" || echo "the emulator on http://127.0.0.1:$EMULATOR_PORT (state: /_emulator/conversations)")

  Create a session on the page (or with curl, see README), then simulate a call
  from a participant to their proxy number and see the TwiML we answer:
      make call FROM=+14155550101 TO=<their proxy number>
  Close a session as Twilio would (fires the conversation-events webhook):
      make close SID=CH...
  Logs: .dev-run/watch.log, .dev-run/emulator.log.  Ctrl-C stops everything.

MSG
wait
