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
import shutil
import socket
import subprocess
import sys

import pytest
import requests

from deploy_support import (
    ARTIFACTS,
    AWS_REGION,
    DUMMY_CREDENTIALS,
    REPO,
    VENV_BIN,
    Child,
    child_env,
    free_port,
    ssm_client,
    wait_until,
)

BUILD_TIMEOUT = float(os.environ.get("DEPLOY_BUILD_TIMEOUT", "1800"))
PREFIX = "/masked-comms/deploy-check"
BINARIES = ["sessions", "inbound-call", "conversation-events", "landing-page"]

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


def env_json() -> dict[str, str]:
    return json.loads((REPO / "events" / "env.json").read_text())["Parameters"]


@pytest.fixture(scope="module")
def built():
    """`cargo build` of the four functions and the emulator (dev profile)."""
    shutil.which("cargo") or pytest.fail("cargo is not on PATH")
    argv = ["cargo", "build"]
    for binary in BINARIES + ["twilio-emulator"]:
        argv += ["--bin", binary]
    build = Child("build", argv, child_env())
    try:
        rc = build.proc.wait(timeout=BUILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(build.describe(f"cargo build: not done after {BUILD_TIMEOUT:.0f}s"))
    finally:
        build.stop()
    if rc != 0:
        pytest.fail(build.describe(f"cargo build failed ({rc})"))


@pytest.fixture(scope="module")
def ssm_config(deploy_moto):
    """The configuration in SSM, written by dev/params.py from events/env.json's values."""
    env = env_json()
    env_file = ARTIFACTS / "params.env"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    keys = ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "NUMBER_POOL", "AUTH_USERNAME", "AUTH_PASSWORD",
            "CONNECTING_CALL_ANNOUNCEMENT"]
    env_file.write_text("".join(f"{k}={env[k]}\n" for k in keys if env.get(k)))
    done = subprocess.run(
        [sys.executable, str(REPO / "dev" / "params.py"), "--env-file", str(env_file), "--prefix", PREFIX,
         "--endpoint-url", deploy_moto, "--region", AWS_REGION, "--backend", "boto3"],
        cwd=REPO, env=child_env(DUMMY_CREDENTIALS), capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    names = {p["Name"] for p in ssm_client(deploy_moto).get_parameters_by_path(Path=PREFIX, Recursive=True)["Parameters"]}
    assert f"{PREFIX}/twilio/auth-token" in names
    return PREFIX


@pytest.fixture(scope="module")
def emulator(built):
    env = env_json()
    port = free_port()
    child = Child(
        "twilio-emulator",
        [REPO / "target" / "debug" / "twilio-emulator", "serve", "--host", "127.0.0.1", "--port", str(port)],
        child_env({"TWILIO_ACCOUNT_SID": env["TWILIO_ACCOUNT_SID"], "TWILIO_AUTH_TOKEN": env["TWILIO_AUTH_TOKEN"]}),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until("twilio-emulator",
                   lambda: requests.get(f"{url}/_emulator/requests", timeout=2).status_code == 200,
                   child, timeout=60)
        yield url
    finally:
        child.stop()


@pytest.fixture(scope="module")
def watch(built, deploy_moto, ssm_config, emulator):
    """`cargo lambda watch` on 127.0.0.1:PORT serving every function, whose
    environment points at SSM (moto) and the emulator: the same settings a
    deployed function gets from template.yaml, plus the local endpoints."""
    function_env = {
        "SSM_PARAMETER_PREFIX": ssm_config,
        "CONFIG_TTL_SECONDS": "300",
        "AWS_ENDPOINT_URL": deploy_moto,
        "AWS_REGION": AWS_REGION,
        **DUMMY_CREDENTIALS,
        "AWS_EC2_METADATA_DISABLED": "true",
        "TWILIO_CONVERSATIONS_URL": emulator,
        "TWILIO_API_URL": emulator,
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_LAMBDA_LOG_LEVEL": "INFO",
    }
    env_file = ARTIFACTS / "watch.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in function_env.items()))
    port = free_port()
    argv = ["cargo", "lambda", "watch", "--ignore-changes", "--invoke-address", "127.0.0.1",
            "--invoke-port", str(port), "--env-file", env_file]
    child = Child("lambda-watch", argv, child_env(function_env))

    def listening():
        with socket.socket() as s:
            s.settimeout(1)
            return s.connect_ex(("127.0.0.1", port)) == 0

    try:
        wait_until("cargo lambda watch", listening, child, timeout=120)
        yield child, port
    finally:
        child.stop()


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
