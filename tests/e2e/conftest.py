"""Session-scoped fixtures for the end-to-end tests.

    moto          a local AWS endpoint (moto_server) for SSM (support/pytest_stack.py)
    watch_port    the port `cargo lambda watch` will listen on (chosen up front:
                  the functions' `public-base-url` names it)
    ssm_params    the functions' configuration, written to SSM under /masked-comms/e2e:
                  every key a served function requires (the facts file,
                  through tests/support/project.py), plus public-base-url
    ssm_override  (per test) changes SSM parameters and puts them back afterwards
    emulator      the Twilio emulator (target/debug/twilio-emulator serve)
    lambda_watch  `cargo lambda watch` serving every function of the router in
                  the root Cargo.toml at its real path, each warmed up, with the
                  emulator's voice and events webhooks pointed at it
    emulator_webhooks  (per test) points the emulator's webhooks at the watch
                  again (a test may have reset the emulator)
    api_spec      openapi.yaml as a checker (support/api_spec.py)
    checked_answers  (autouse, whole run) every answer a test gets from the
                  functions through `requests` is checked against openapi.yaml
                  before the test sees it: one the document does not describe
                  fails that test (support.api_spec.SpecMismatch)
    checked_webhook_answers  (autouse, per test using the emulator) the same
                  for the answers the functions gave the emulator's webhooks
                  (the emulator records them), after the test

Run with the repo's venv (the children get .venv/bin first on PATH, so
moto_server and `cargo lambda` are found whatever the caller's PATH):

    bash dev/bootstrap-venv.sh test
    .venv/bin/pytest tests/e2e

The processes are started by tests/support/stack.py: each in its own process
group with its output in test-artifacts/e2e/<name>.log, all of them stopped at
the end of the session, also when a fixture or test fails, when pytest is
interrupted or gets SIGTERM.

Knobs (environment): E2E_WARMUP_TIMEOUT (seconds for building and warming the
functions, default 1800), E2E_EMULATOR_LATENCY_MS (latency the emulator adds to
every Twilio request so that concurrent requests overlap in time, default 50).

Twilio signs the URL it requested. Under watch a function would rebuild that URL
from X-Forwarded-Proto (default https) and Host, so SSM holds `public-base-url`
= http://127.0.0.1:<watch port>, which is what the emulator (and the oracle
tests) sign. The functions run with CONFIG_TTL_SECONDS=0: they reload their
configuration from SSM on every request, so a test can change a setting with
ssm_override without a second watch instance.
"""

from __future__ import annotations

import os
import secrets
import time
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: `support`
from support import api_spec as spec_checker, project, settings, stack  # noqa: E402
from support.pytest_stack import *  # noqa: E402,F401,F403  (SIGTERM and StackError hooks)
from support.stack import REPO, TARGET_DIR, free_port  # noqa: E402,F401  (test modules import these)

SSM_PREFIX = "/masked-comms/e2e"
AWS_REGION = "us-east-1"
AWS_ACCESS_KEY_ID = "testing"
AWS_SECRET_ACCESS_KEY = "testing"
NUMBER_POOL = ["+15005550001", "+15005550002", "+15005550003"]

# Every function, at a path the router in the root Cargo.toml sends to it.
WATCHED_FUNCTIONS = stack.watched_functions(project.router())

WARMUP_TIMEOUT = float(os.environ.get("E2E_WARMUP_TIMEOUT", "1800"))
EMULATOR_LATENCY_MS = int(os.environ.get("E2E_EMULATOR_LATENCY_MS", "50"))


@pytest.fixture(scope="session")
def stack_options() -> dict:
    """The children's logs go to test-artifacts/e2e/ (`suite_stack`, `moto`)."""
    return {"suite": "e2e", "build_timeout": WARMUP_TIMEOUT}


@pytest.fixture(scope="session")
def watch_port() -> int:
    """The port for `cargo lambda watch`, known before SSM is written."""
    return stack.free_port()


@dataclass(frozen=True)
class SsmParams:
    prefix: str
    account_sid: str
    auth_token: str
    number_pool: list[str]
    username: str
    password: str
    # What Twilio (the emulator, the oracle tests) signs webhook URLs against.
    public_base_url: str
    # Every parameter written: full name -> (type, value as stored).
    written: dict[str, tuple[str, str]] = field(default_factory=dict)


def ssm_client(endpoint_url: str):
    # Explicit dummy credentials: never picks up a developer's real ones.
    session = boto3.session.Session(
        aws_access_key_id=AWS_ACCESS_KEY_ID,
        aws_secret_access_key=AWS_SECRET_ACCESS_KEY,
        region_name=AWS_REGION,
    )
    return session.client("ssm", endpoint_url=endpoint_url)


@pytest.fixture(scope="session")
def ssm(moto):
    """A boto3 SSM client for the moto endpoint."""
    return ssm_client(moto)


@pytest.fixture(scope="session")
def ssm_params(ssm, watch_port) -> SsmParams:
    """Writes the functions' configuration to SSM under SSM_PREFIX: the keys
    the served functions require, and public-base-url."""
    params = SsmParams(
        prefix=SSM_PREFIX,
        account_sid="AC" + secrets.token_hex(16),
        auth_token=secrets.token_hex(16),
        number_pool=list(NUMBER_POOL),
        username="e2e-operator",
        password="e2e-" + secrets.token_hex(12),
        public_base_url=f"http://127.0.0.1:{watch_port}",
    )
    values = {
        "TWILIO_ACCOUNT_SID": params.account_sid,
        "TWILIO_AUTH_TOKEN": params.auth_token,
        "NUMBER_POOL": params.number_pool,
        "AUTH_USERNAME": params.username,
        "AUTH_PASSWORD": params.password,
        "PUBLIC_BASE_URL": params.public_base_url,
    }
    keys = settings.required_keys(binary for binary, _ in WATCHED_FUNCTIONS)
    chosen = settings.choose(keys, values, extra=["PUBLIC_BASE_URL"])
    for name, (kind, value) in settings.as_ssm(chosen).items():
        full = f"{SSM_PREFIX}/{name}"
        ssm.put_parameter(Name=full, Type=kind, Value=value, Overwrite=True)
        params.written[full] = (kind, value)
    return params


@contextmanager
def ssm_overridden(ssm, prefix: str, values: dict[str, str | None]):
    """Sets (a string) or deletes (None) parameters below `prefix` for the
    duration of the block, then restores exactly what was there before."""
    saved: dict[str, tuple[str, str] | None] = {}
    try:
        for name, value in values.items():
            full = f"{prefix}/{name}"
            try:
                p = ssm.get_parameter(Name=full, WithDecryption=True)["Parameter"]
                saved[full] = (p["Type"], p["Value"])
            except ssm.exceptions.ParameterNotFound:
                saved[full] = None
            if value is None:
                if saved[full] is not None:
                    ssm.delete_parameter(Name=full)
            else:
                ssm.put_parameter(Name=full, Type="String", Value=value, Overwrite=True)
        yield
    finally:
        for full, old in saved.items():
            if old is None:
                try:
                    ssm.delete_parameter(Name=full)
                except ssm.exceptions.ParameterNotFound:
                    pass
            else:
                ssm.put_parameter(Name=full, Type=old[0], Value=old[1], Overwrite=True)


@pytest.fixture
def ssm_override(ssm, ssm_params):
    """`with ssm_override({"call/voice": "Polly.Amy", "public-base-url": None}):`
    changes SSM for the block (None deletes); the functions see the change on
    their next request (CONFIG_TTL_SECONDS=0)."""
    return lambda values: ssm_overridden(ssm, ssm_params.prefix, values)


@pytest.fixture(scope="session")
def emulator(suite_stack, ssm_params):
    """Base URL of the Twilio emulator, holding the account from SSM."""
    child, url = suite_stack.emulator(
        ssm_params.account_sid,
        ssm_params.auth_token,
        latency_ms=EMULATOR_LATENCY_MS,
        rust_log=os.environ.get("E2E_EMULATOR_RUST_LOG", "info"),
    )
    yield url
    child.stop()


@pytest.fixture(scope="session")
def lambda_watch(suite_stack, moto, emulator, ssm_params, watch_port):
    """Base URL of `cargo lambda watch` serving WATCHED_FUNCTIONS, each with a
    first request already answered by the function itself (so it is compiled
    and running, its configuration loaded from SSM), and the emulator's
    webhooks pointed at it."""
    function_env = {
        "SSM_PARAMETER_PREFIX": ssm_params.prefix,
        "AWS_ENDPOINT_URL": moto,
        "AWS_REGION": AWS_REGION,
        "AWS_ACCESS_KEY_ID": AWS_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": AWS_SECRET_ACCESS_KEY,
        "AWS_EC2_METADATA_DISABLED": "true",
        "TWILIO_CONVERSATIONS_URL": emulator,
        "TWILIO_API_URL": emulator,
        "CONFIG_TTL_SECONDS": "0",  # reload SSM on every request (ssm_override)
        "RUST_LOG": "info",
        # The session index, as the stack deploys it (moto's DynamoDB).
        **suite_stack.session_index(moto),
    }
    child, url = suite_stack.watch(watch_port, function_env, WATCHED_FUNCTIONS)
    stack.point_emulator_webhooks(emulator, url)
    yield url
    child.stop()


@pytest.fixture
def emulator_webhooks(lambda_watch, emulator) -> dict[str, str]:
    """The emulator's webhook targets, (re)pointed at the watch for this test."""
    return stack.point_emulator_webhooks(emulator, lambda_watch)


# --------------------------------------------------------------------------
# every answer of ours, checked against openapi.yaml


@pytest.fixture(scope="session")
def api_spec() -> spec_checker.ApiSpec:
    return spec_checker.ApiSpec()


@pytest.fixture(scope="session", autouse=True)
def checked_answers(api_spec, watch_port):
    """The answers of the functions (at the watch's address) that the tests
    got so far, each checked against openapi.yaml as it arrived. Answers of
    the emulator (Twilio's API and its control endpoints) are not ours and
    are not checked."""
    with spec_checker.checking_requests(api_spec, f"http://127.0.0.1:{watch_port}") as checked:
        yield checked


def _webhook_deliveries(emulator: str) -> list[dict]:
    response = requests.get(f"{emulator}/_emulator/webhooks", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["deliveries"]


@pytest.fixture(scope="session")
def _webhook_record() -> dict[str, list]:
    """The emulator's webhook deliveries as last read (and checked)."""
    return {"seen": []}


@pytest.fixture(autouse=True)
def checked_webhook_answers(request, api_spec, watch_port, _webhook_record):
    """After each test that used the emulator: the answers our webhooks gave
    it since the last such test (calls placed, conversations closed...; one
    the emulator sent after a test ended is checked after the next),
    checked against openapi.yaml. A mismatch is an error of that test."""
    yield
    if "emulator" not in request.fixturenames:
        return
    emulator = request.getfixturevalue("emulator")
    response = requests.get(f"{emulator}/_emulator/webhooks", timeout=10)
    assert response.status_code == 200, response.text
    seen, now = _webhook_record["seen"], response.json()["deliveries"]
    # A test that reset the emulator cleared its record: all of it is new.
    new = now[len(seen) :] if now[: len(seen)] == seen else now
    _webhook_record["seen"] = now
    ours = f"http://127.0.0.1:{watch_port}/"
    for delivery in new:
        answered = delivery["outcome"].get("Ok")
        if answered is None or not delivery["url"].startswith(ours):
            continue
        form = [tuple(pair) for pair in delivery["params"]] if delivery["method"] == "POST" else []
        api_spec.check_answer(delivery["method"], delivery["url"], spec_checker.answer_of(answered), form)


# --------------------------------------------------------------------------
# sessions for webhook tests

_address_counter = iter(range(1, 10_000))
_address_block = secrets.randbelow(900) + 100


def _fresh_address() -> str:
    return f"+1415{_address_block}{next(_address_counter):04d}"


@pytest.fixture
def fresh_address():
    """`fresh_address()` is a participant number no other test in this run
    uses (so Twilio's pair rule never ties it to another test's session)."""
    return _fresh_address


@pytest.fixture
def create_session(lambda_watch, ssm_params):
    """`create_session(n)` makes an n-party session of fresh addresses through
    POST /sessions and returns the response body (sid, participants...)."""

    def create(parties: int) -> dict:
        addresses = [_fresh_address() for _ in range(parties)]
        response = requests.post(
            f"{lambda_watch}/sessions",
            auth=(ssm_params.username, ssm_params.password),
            json={"addresses": addresses},
            timeout=60,
        )
        assert response.status_code == 201, response.text
        body = response.json()
        got = [p["messaging_binding"]["address"] for p in body["participants"]]
        assert sorted(got) == sorted(addresses), body
        return body

    return create


def settled_twilio_requests(emulator: str, quiet: float = 0.4, timeout: float = 15) -> list[dict]:
    """The emulator's request log once nothing has been added to it for
    `quiet` seconds: the work the functions do after an answer (the call log,
    events) has finished too, so a count taken now is complete."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        response = requests.get(f"{emulator}/_emulator/requests", timeout=10)
        assert response.status_code == 200, response.text
        now = response.json()
        if now == last or time.monotonic() > deadline:
            return now
        last = now
        time.sleep(quiet)
