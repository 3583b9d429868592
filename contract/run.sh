#!/usr/bin/env bash
# Contract tests against Twilio's published OpenAPI description (twilio-oai).
#
# Our Twilio client and our emulator are both ours; these tests hold them to Twilio's own
# description, as shipped in the npm package @twilio-alpha/mcp (versions pinned in
# package.json / package-lock.json):
#
#   shared/tests/integration/contract.rs (and contract_messages.rs)
#                                     every request our client makes, sent to Stoplight Prism
#                                     mocking the description (`prism mock --errors`: a request
#                                     that breaks it gets 422), through a proxy that also checks
#                                     every parameter name is declared; the client must parse
#                                     each of Twilio's example responses.
#   dev/twilio-emulator/tests/integration/schema.rs
#                                     every answer of our emulator validated against the
#                                     description's response schema for that operation.
#
# Both are #[ignore]d in a plain `cargo test` (they need what this script sets up) and run
# here with --include-ignored, selected by module name from each crate's one integration
# test binary. This script:
#   1. runs `npm ci` in contract/ when node_modules is missing or older than the lock file;
#   2. starts Prism for the Conversations v1 and API 2010 descriptions on free loopback ports
#      and waits until both accept connections;
#   3. runs both test files with TWILIO_CONVERSATIONS_URL / TWILIO_API_URL pointing at Prism;
#   4. stops Prism on exit, whatever happened (trap).
#
# Usage: contract/run.sh [extra arguments for the test binaries, e.g. a test name filter]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
spec_dir="$here/node_modules/@twilio-alpha/mcp/twilio-oai/spec/json"
prism="$here/node_modules/.bin/prism"
stamp="$here/node_modules/.contract-installed"

for tool in node npm cargo; do
    command -v "$tool" >/dev/null || { echo "contract: $tool is required" >&2; exit 1; }
done

# 1. Install the pinned tools when missing or stale.
lock_sum="$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)"
if [[ ! -x "$prism" || ! -f "$spec_dir/twilio_conversations_v1.json" \
      || ! -f "$stamp" || "$(cat "$stamp")" != "$lock_sum" ]]; then
    echo "contract: npm ci (Prism and Twilio's OpenAPI description)" >&2
    # No install scripts: neither tool needs one, and none should run here.
    (cd "$here" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
    echo "$lock_sum" > "$stamp"
fi

# 2. Start Prism, one per description, and stop it on exit.
work="$(mktemp -d)"
pids=()
cleanup() {
    local status=$?
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    node -e 'const s = require("net").createServer();
             s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

start_prism() { # name spec-file -> sets port
    local name="$1" file="$2"
    port="$(free_port)"
    "$prism" mock --errors -h 127.0.0.1 -p "$port" "$spec_dir/$file" \
        >"$work/$name.log" 2>&1 </dev/null &
    pids+=("$!")
}

wait_for() { # name port pid
    local name="$1" port="$2" pid="$3"
    for _ in $(seq 1 240); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "contract: Prism ($name) exited before listening:" >&2
            tail -n 30 "$work/$name.log" >&2
            return 1
        fi
        sleep 0.25
    done
    echo "contract: Prism ($name) did not listen on port $port within 60 s:" >&2
    tail -n 30 "$work/$name.log" >&2
    return 1
}

start_prism conversations twilio_conversations_v1.json
conversations_port="$port"
start_prism api twilio_api_v2010.json
api_port="$port"
wait_for conversations "$conversations_port" "${pids[0]}"
wait_for api "$api_port" "${pids[1]}"
echo "contract: Prism on 127.0.0.1:$conversations_port (Conversations v1)" \
     "and 127.0.0.1:$api_port (API 2010-04-01)" >&2

# 3. The tests.
export TWILIO_CONVERSATIONS_URL="http://127.0.0.1:$conversations_port"
export TWILIO_API_URL="http://127.0.0.1:$api_port"
export TWILIO_OPENAPI_DIR="$spec_dir"
cd "$root"
cargo test -p masked-comms -p twilio-emulator --no-fail-fast --test integration \
    -- --include-ignored contract:: contract_messages:: schema:: "$@"
