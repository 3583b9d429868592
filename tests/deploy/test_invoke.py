"""Every function binary built and invoked through `cargo lambda invoke
--data-file events/...` against one `cargo lambda watch`, with its
configuration in (moto's) SSM as `make params` writes it and Twilio played by
the emulator binary.

Statuses are for a fresh emulator holding only what the events themselves
create: the sample sid in sessions-read/close.json names no session here
(404; shared/tests/integration/events.rs seeds it and sees 200/204)."""

from __future__ import annotations

import json
import os
import subprocess

from deploy_support import ARTIFACTS, BINARIES, REPO, child_env, env_json

BUILD_TIMEOUT = float(os.environ.get("DEPLOY_BUILD_TIMEOUT", "1800"))

# In this order: the creates come before the list that finds them.
INVOCATIONS = [
    ("landing-page", "landing-page-get.json", 200),
    ("sessions", "sessions-create-unauthorised.json", 401),
    ("sessions", "sessions-create-json.json", 201),
    ("sessions", "sessions-create-form.json", 201),
    ("sessions", "sessions-list.json", 200),
    ("sessions", "sessions-read.json", 404),
    ("sessions", "sessions-close.json", 404),
    ("inbound-call", "inbound-call.json", 200),
    ("conversation-events", "conversation-closed.json", 200),
]


def invoke(function: str, event: str, port: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["cargo", "lambda", "invoke", function, "--invoke-address", "127.0.0.1", "--invoke-port", str(port),
         "--data-file", str(REPO / "events" / event), "--output-format", "json"],
        cwd=REPO, env=child_env(), capture_output=True, text=True, timeout=BUILD_TIMEOUT,
    )


def test_every_binary_answers_its_events(watch):
    child, port = watch
    results = []
    for function, event, expected in INVOCATIONS:
        done = invoke(function, event, port)
        assert done.returncode == 0, child.describe(f"{function} {event}: {done.stderr}")
        response = json.loads(done.stdout)
        results.append({"function": function, "event": event, "status": response["statusCode"]})
        body = response.get("body") or ""
        assert response["statusCode"] == expected, f"{function} {event}: {body[:500]}"
        if event == "inbound-call.json":
            assert response["headers"]["content-type"] == "text/xml"
            assert body.startswith('<?xml version="1.0" encoding="UTF-8"?><Response>')
        if event == "landing-page-get.json":
            assert "text/html" in response["headers"]["content-type"]
        if event == "sessions-list.json":
            assert body.count('"sid"') >= 2, "both sessions created above are listed"
    (ARTIFACTS / "invocations.json").write_text(json.dumps(results, indent=2))
    assert {r["function"] for r in results} == set(BINARIES)
    # The functions logged JSON, one line per request, and never a secret.
    log = child.log_text()
    request_lines = [json.loads(line) for line in log.splitlines() if line.startswith("{") and '"request"' in line]
    assert {r["route"] for r in request_lines} >= {"/", "/sessions", "/sessions/{sid}", "/inbound-call",
                                                   "/conversation-events"}
    env = env_json()
    assert env["TWILIO_AUTH_TOKEN"] not in log and env["AUTH_PASSWORD"] not in log
