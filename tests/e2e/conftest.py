"""Session-scoped fixtures for the end-to-end tests.

    moto          a local AWS endpoint (moto_server) for SSM
    watch_port    the port `cargo lambda watch` will listen on (chosen up front:
                  the functions' `public-base-url` names it)
    ssm_params    the functions' configuration, written to SSM under /masked-comms/e2e
    ssm_override  (per test) changes SSM parameters and puts them back afterwards
    emulator      the Twilio emulator (target/debug/twilio-emulator serve)
    lambda_watch  `cargo lambda watch` serving the `sessions`, `inbound-call` and
                  `conversation-events` functions, each warmed up, with the
                  emulator's voice and events webhooks pointed at it
    emulator_webhooks  (per test) points the emulator's webhooks at the watch
                  again (a test may have reset the emulator)

Run with the repo's venv (the children get .venv/bin first on PATH, so
moto_server and `cargo lambda` are found whatever the caller's PATH):

    bash dev/bootstrap-venv.sh
    .venv/bin/pytest tests/e2e

Every child process runs in its own process group with its output in
test-artifacts/e2e/<name>.log; all of them are killed at the end of the session,
also when a fixture or test fails, when pytest is interrupted or gets SIGTERM.

Knobs (environment): E2E_WARMUP_TIMEOUT (seconds for building and warming the
function, default 1800), E2E_EMULATOR_LATENCY_MS (latency the emulator adds to
every Twilio request so that concurrent requests overlap in time, default 50).

Twilio signs the URL it requested. Under watch a function would rebuild that URL
from X-Forwarded-Proto (default https) and Host, so SSM holds `public-base-url`
= http://127.0.0.1:<watch port>, which is what the emulator (and the oracle
tests) sign. The functions run with CONFIG_TTL_SECONDS=0: they reload their
configuration from SSM on every request, so a test can change a setting with
ssm_override without a second watch instance.
"""

from __future__ import annotations

import atexit
import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "e2e"
VENV_BIN = REPO / ".venv" / "bin"
TARGET_DIR = REPO / os.environ.get("CARGO_TARGET_DIR", "target")  # cargo runs in REPO

SSM_PREFIX = "/masked-comms/e2e"
AWS_REGION = "us-east-1"
AWS_ACCESS_KEY_ID = "testing"
AWS_SECRET_ACCESS_KEY = "testing"
NUMBER_POOL = ["+15005550001", "+15005550002", "+15005550003"]

# The functions `cargo lambda watch` serves here: (package, binary, a path the
# router in the root Cargo.toml sends to it). Each is built before watch starts
# and warmed up with a GET, which every one of them answers itself (401/405).
WATCHED_FUNCTIONS = [
    ("sessions", "sessions", "/sessions"),
    ("inbound-call", "inbound-call", "/inbound-call"),
    ("conversation-events", "conversation-events", "/conversation-events"),
]

WARMUP_TIMEOUT = float(os.environ.get("E2E_WARMUP_TIMEOUT", "1800"))
EMULATOR_LATENCY_MS = int(os.environ.get("E2E_EMULATOR_LATENCY_MS", "50"))

# Lines in the watch log meaning the function will never answer: cargo-lambda
# keeps an HTTP request waiting forever when the function does not compile.
WATCH_FATAL_MARKERS = ("error: could not compile", "ERROR command exited")


# --------------------------------------------------------------------------
# helpers


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a child: ours without AWS/Twilio/SSM settings (so a
    developer's real credentials or profile never reach a child), .venv/bin
    first on PATH (so `cargo lambda` finds .venv/bin/cargo-lambda), plus extra."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "TWILIO_", "SSM_", "CARGO_LAMBDA_"))
    }
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra or {})
    return env


def _descendants(pid: int) -> list[int]:
    """All live descendants of pid (Linux /proc), children before grandchildren."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # comm may contain spaces/parens: fields after the last ')' are fixed.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(0), []):
            out.append(c)
            todo.append(c)
    return out


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    """Linux: the child gets SIGTERM when pytest dies, even by SIGKILL, so that
    no server outlives the test run (cargo-lambda then stops its own children)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


class Child:
    """A child process in its own process group, output to ARTIFACTS/<name>.log."""

    registry: list["Child"] = []

    def __init__(self, name: str, argv: list[str], env: dict[str, str]):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.log_path = ARTIFACTS / f"{name}.log"
        self._log = open(self.log_path, "wb")
        self._log.write(f"$ {' '.join(map(str, argv))}\n".encode())
        self._log.flush()
        self.proc = subprocess.Popen(
            [str(a) for a in argv],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        Child.registry.append(self)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 80) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def describe_failure(self, what: str) -> str:
        state = "running" if self.alive() else f"exited with {self.proc.returncode}"
        return (
            f"{what}\n{self.name} is {state}; last lines of {self.log_path}:\n"
            f"{self.log_tail()}"
        )

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the process group (and any descendant that left it), then
        SIGKILL whatever is still there after `grace` seconds."""
        if self in Child.registry:
            Child.registry.remove(self)
        pgid = self.proc.pid  # start_new_session: pgid == pid
        stray = _descendants(self.proc.pid) if self.alive() else []
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                pass
            for pid in stray:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            if sig == signal.SIGTERM:
                try:
                    self.proc.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    pass
                deadline = time.monotonic() + grace
                while time.monotonic() < deadline and any(_pid_alive(p) for p in stray):
                    time.sleep(0.1)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self._log.close()


def _pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _stop_all() -> None:
    for child in list(reversed(Child.registry)):
        child.stop(grace=3)


# Safety nets: normal teardown stops children through the fixtures; these cover
# a pytest process that is exiting abnormally.
atexit.register(_stop_all)


def pytest_configure(config):
    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        # Turn SIGTERM into an interrupt so that pytest runs fixture teardown.
        def on_term(signum, frame):
            raise KeyboardInterrupt(f"signal {signum}")

        signal.signal(signal.SIGTERM, on_term)


def wait_until(what: str, check, child: Child, timeout: float, interval: float = 0.2):
    """Poll check() until it returns a truthy value; fail early if child dies."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        if not child.alive():
            pytest.fail(child.describe_failure(f"{what}: process exited"))
        try:
            result = check()
            if result:
                return result
        except requests.RequestException as e:
            last_error = e
        time.sleep(interval)
    pytest.fail(child.describe_failure(f"{what}: not ready after {timeout:.0f}s ({last_error})"))


def cargo_build(package: str, binary: str, timeout: float) -> Path:
    """`cargo build -p PACKAGE --bin BINARY` (dev profile), output to the
    artifacts; fails the fixture with the compiler output when it does not build."""
    build = Child(f"build-{binary}", ["cargo", "build", "--package", package, "--bin", binary], child_env())
    try:
        rc = build.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(build.describe_failure(f"cargo build of {binary}: not done after {timeout:.0f}s"))
    finally:
        build.stop()  # also kills rustc/build scripts left behind by a timeout or interrupt
    if rc != 0:
        pytest.fail(build.describe_failure(f"cargo build of {binary} failed ({rc})"))
    return TARGET_DIR / "debug" / binary


# --------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="session")
def moto():
    """URL of a moto_server on 127.0.0.1 (in-memory AWS, used for SSM)."""
    server = VENV_BIN / "moto_server"
    if not server.exists():
        pytest.fail(f"{server} is missing: run dev/bootstrap-venv.sh")
    port = free_port()
    child = Child("moto", [server, "-H", "127.0.0.1", "-p", str(port)], child_env())
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            "moto_server",
            lambda: requests.get(f"{url}/moto-api/", timeout=2).status_code == 200,
            child,
            timeout=60,
        )
        yield url
    finally:
        child.stop()


@pytest.fixture(scope="session")
def watch_port() -> int:
    """The port for `cargo lambda watch`, known before SSM is written."""
    return free_port()


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
    """Writes the functions' configuration to SSM under SSM_PREFIX."""
    params = SsmParams(
        prefix=SSM_PREFIX,
        account_sid="AC" + secrets.token_hex(16),
        auth_token=secrets.token_hex(16),
        number_pool=list(NUMBER_POOL),
        username="e2e-operator",
        password="e2e-" + secrets.token_hex(12),
        public_base_url=f"http://127.0.0.1:{watch_port}",
    )
    entries = {
        "twilio/account-sid": ("String", params.account_sid),
        "twilio/auth-token": ("SecureString", params.auth_token),
        "number-pool": ("StringList", ",".join(params.number_pool)),
        "auth/username": ("String", params.username),
        "auth/password": ("SecureString", params.password),
        "public-base-url": ("String", params.public_base_url),
    }
    for name, (kind, value) in entries.items():
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
def emulator(ssm_params):
    """Base URL of the Twilio emulator, holding the account from SSM."""
    binary = cargo_build("twilio-emulator", "twilio-emulator", timeout=WARMUP_TIMEOUT)
    port = free_port()
    env = child_env(
        {
            "TWILIO_ACCOUNT_SID": ssm_params.account_sid,
            "TWILIO_AUTH_TOKEN": ssm_params.auth_token,
            "RUST_LOG": os.environ.get("E2E_EMULATOR_RUST_LOG", "info"),
        }
    )
    argv = [binary, "serve", "--host", "127.0.0.1", "--port", str(port)]
    if EMULATOR_LATENCY_MS:
        argv += ["--latency-ms", str(EMULATOR_LATENCY_MS)]
    child = Child("twilio-emulator", argv, env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            "twilio-emulator",
            lambda: requests.get(f"{url}/_emulator/requests", timeout=2).status_code == 200,
            child,
            timeout=60,
        )
        yield url
    finally:
        child.stop()


def _is_watch_error(response: requests.Response) -> bool:
    """cargo-lambda's own answers (no such function / no default function) are
    JSON objects with `title` and `detail`; the function's errors are not."""
    if response.status_code != 404:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and "title" in body and "detail" in body


def point_emulator_webhooks(emulator: str, watch_url: str) -> dict[str, str]:
    """Sends the emulator's inbound calls and conversation events to the watch."""
    targets = {
        "voice_url": f"{watch_url}/inbound-call",
        "events_url": f"{watch_url}/conversation-events",
    }
    response = requests.post(f"{emulator}/_emulator/webhooks", json=targets, timeout=10)
    assert response.status_code in (200, 204), response.text
    return targets


@pytest.fixture(scope="session")
def lambda_watch(moto, emulator, ssm_params, watch_port):
    """Base URL of `cargo lambda watch` serving the functions in
    WATCHED_FUNCTIONS, each with a first request already answered by the
    function itself (so it is compiled and running, its configuration loaded
    from SSM), and the emulator's webhooks pointed at it."""
    shutil.which("cargo") or pytest.fail("cargo is not on PATH")
    if not (VENV_BIN / "cargo-lambda").exists():
        pytest.fail(f"{VENV_BIN / 'cargo-lambda'} is missing: run dev/bootstrap-venv.sh")
    # Build first, outside watch: a compile error then fails here with the
    # compiler output (under watch a request would just hang), and watch's own
    # `cargo run --bin NAME` finds the binary up to date. One at a time, the
    # way watch runs them, so that features resolve the same.
    for package, binary, _ in WATCHED_FUNCTIONS:
        cargo_build(package, binary, timeout=WARMUP_TIMEOUT)

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
    }
    # Given to watch both as its own environment (which the function inherits)
    # and as --env-file, which also leaves a record in the artifacts. Not with
    # --env-var: it splits values at commas. [*.metadata.lambda.env] in a
    # Cargo.toml would override all of these.
    env_file = ARTIFACTS / "lambda.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in function_env.items()))

    # Paths reach functions through [workspace.metadata.lambda.watch.router]
    # in the root Cargo.toml ("/sessions" = "sessions"); the function then sees
    # the full path. (Without a route, only /lambda-url/sessions/... would reach
    # it, with that prefix stripped.)
    port = watch_port
    argv = [
        "cargo", "lambda", "watch",
        "--ignore-changes",  # no rebuild/restart when files change mid-run
        "--invoke-address", "127.0.0.1",
        "--invoke-port", str(port),
        "--env-file", env_file,
    ]
    child = Child("lambda-watch", argv, child_env(function_env))
    url = f"http://127.0.0.1:{port}"

    warmups: dict[str, dict] = {}

    def warmed(path: str, function: str):
        text = child.log_text()
        for marker in WATCH_FATAL_MARKERS:
            if marker in text:
                pytest.fail(child.describe_failure(f"cargo lambda watch: `{marker}`"))
        # The first request waits while watch builds and starts the function.
        response = requests.get(f"{url}{path}", timeout=120)
        if _is_watch_error(response):
            pytest.fail(
                child.describe_failure(
                    f"cargo lambda watch did not route {path} to the function "
                    f"(is \"{path}\" = \"{function}\" in the router in Cargo.toml?): "
                    f"{response.status_code} {response.text}"
                )
            )
        warmups[path] = {"status": response.status_code, "body": response.text}
        return True

    try:
        # One function at a time: each first request starts `cargo run`.
        for _, binary, path in WATCHED_FUNCTIONS:
            wait_until(
                f"cargo lambda watch ({binary})",
                lambda: warmed(path, binary),
                child,
                timeout=WARMUP_TIMEOUT,
                interval=1,
            )
        (ARTIFACTS / "lambda-warmup.json").write_text(json.dumps(warmups, indent=2))
        point_emulator_webhooks(emulator, url)
        yield url
    finally:
        child.stop()


@pytest.fixture
def emulator_webhooks(lambda_watch, emulator) -> dict[str, str]:
    """The emulator's webhook targets, (re)pointed at the watch for this test."""
    return point_emulator_webhooks(emulator, lambda_watch)


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
