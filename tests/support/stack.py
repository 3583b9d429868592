"""The local stack, started and stopped the same way by every suite and by
`make dev`: moto_server (SSM), the Twilio emulator, `cargo lambda watch`
serving the functions at their real paths, and chromedriver.

    from support import stack                      # tests/ on sys.path

    run = stack.Stack("e2e")                       # logs in test-artifacts/e2e/
    moto, moto_url = run.moto()
    emulator, emulator_url = run.emulator(account_sid, auth_token)
    watch, watch_url = run.watch(port, function_env)
    ...
    run.stop()                                     # or `with stack.Stack(...) as run:`

Every child runs in its own process group, gets SIGTERM when its parent dies
(Linux: PR_SET_PDEATHSIG, even when the parent is SIGKILLed), writes its
output to <log dir>/<name>.log, and is stopped with its whole process tree:
SIGTERM, then SIGKILL for whatever is left after a grace period. Waiting for a
child to be ready fails at once when it exits, and every failure (StackError)
names the child, its state and the last lines of its log.

Standard library only (make dev runs this with the system Python); pytest
suites turn StackError into a plain test failure with support.pytest_stack.
"""

from __future__ import annotations

import atexit
import ctypes
from http.client import HTTPException
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from base64 import b64encode
from pathlib import Path
from typing import Callable, Iterable

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = REPO / ".venv" / "bin"
ARTIFACTS = REPO / "test-artifacts"
# cargo runs in REPO, so a relative CARGO_TARGET_DIR is relative to it.
TARGET_DIR = REPO / os.environ.get("CARGO_TARGET_DIR", "target")
DEBUG_DIR = TARGET_DIR / "debug"
# The session index's table name in local stacks (moto's DynamoDB).
SESSION_INDEX_TABLE = "masked-comms-sessions"
# What a function needs to reach moto as if it were AWS.
LOCAL_AWS = {
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
}

# Tells a function it runs locally (shared/src/callback_url.rs LOCAL_FLAG).
LOCAL_FLAG = "MASKED_COMMS_LOCAL"

# Lines in the watch log meaning a function will never answer: cargo-lambda
# keeps an HTTP request waiting forever when the function does not compile.
WATCH_FATAL_MARKERS = ("error: could not compile", "ERROR command exited")

# Never handed to a child: a developer's real AWS or Twilio settings.
PRIVATE_PREFIXES = ("AWS_", "TWILIO_", "SSM_", "CARGO_LAMBDA_", "PARAMETER_PREFIX")


class StackError(Exception):
    """A child did not build, start or answer; the message says which, and why."""


# ---------------------------------------------------------------- small helpers


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Our environment without AWS/Twilio/SSM settings (a developer's real
    credentials or profile never reach a child), .venv/bin first on PATH (so
    `cargo lambda` finds .venv/bin/cargo-lambda), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(PRIVATE_PREFIXES)}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra or {})
    return env


def env_file_text(values: dict[str, str]) -> str:
    """KEY=VALUE lines in dotenv syntax: a value with spaces, quotes, `#`,
    `$` or backslashes is single-quoted (taken literally), or double-quoted
    with escapes when it holds a single quote itself."""
    lines = []
    for key, value in values.items():
        value = str(value)
        if any(c in value for c in " \t'\"#\\$"):
            if "'" not in value:
                value = f"'{value}'"
            else:
                value = '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"'
        lines.append(f"{key}={value}\n")
    return "".join(lines)


def write_private(path: Path, text: str) -> None:
    """Writes `text` to a file only its owner can read (it may hold secrets)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)


def http(
    url: str,
    method: str = "GET",
    *,
    timeout: float = 10,
    auth: tuple[str, str] | None = None,
    json_body: object | None = None,
) -> tuple[int, str]:
    """(status, body) of one request; an HTTP error status is an answer, not
    an exception. Connection problems raise OSError."""
    data, headers = None, {}
    if json_body is not None:
        data = json.dumps(json_body).encode()
        headers["content-type"] = "application/json"
    elif method in ("POST", "PUT"):
        data = b""
    if auth:
        headers["authorization"] = "Basic " + b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _process_table() -> dict[int, list[int]]:
    """ppid -> child pids, for every process we can see."""
    children: dict[int, list[int]] = {}
    if os.path.isdir("/proc"):
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            # comm may contain spaces or parentheses: the fields after the last ')' are fixed.
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    else:  # macOS
        out = subprocess.run(["ps", "-A", "-o", "pid=,ppid="], capture_output=True, text=True).stdout
        for line in out.splitlines():
            pid, ppid = (int(x) for x in line.split())
            children.setdefault(ppid, []).append(pid)
    return children


def descendants(pid: int) -> list[int]:
    """Every live descendant of pid, children before grandchildren."""
    children = _process_table()
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(0), []):
            out.append(c)
            todo.append(c)
    return out


def _pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        pass
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    """Linux: the child gets SIGTERM when its parent dies, even by SIGKILL, so
    that no server outlives the run (cargo-lambda then stops its own children).
    Elsewhere a no-op."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def terminate_on_sigterm() -> None:
    """Turn SIGTERM into KeyboardInterrupt (unless someone already handles
    it), so that `finally` blocks and fixture teardown stop the children."""
    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):

        def on_term(signum, frame):
            raise KeyboardInterrupt(f"signal {signum}")

        signal.signal(signal.SIGTERM, on_term)


# ---------------------------------------------------------------- a child process


class Child:
    """A child process in its own process group, output to <log_dir>/<name>.log."""

    registry: list["Child"] = []

    def __init__(self, name: str, argv: Iterable, env: dict[str, str], log_dir: Path, cwd: Path = REPO):
        log_dir.mkdir(parents=True, exist_ok=True)
        argv = [str(a) for a in argv]
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "wb")
        self._log.write(f"$ {' '.join(argv)}\n".encode())
        self._log.flush()
        self.proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self._stopped = False
        Child.registry.append(self)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def describe(self, what: str, lines: int = 60) -> str:
        """`what`, whether the child still runs, and the end of its log."""
        state = "running" if self.alive() else f"exited with {self.proc.returncode}"
        return f"{what}\n{self.name} is {state}; last lines of {self.log_path}:\n{self.log_tail(lines)}"

    def fail(self, what: str) -> "StackError":
        return StackError(self.describe(what))

    def wait(self, timeout: float, what: str) -> None:
        """Waits for a child that should finish (a build), stopping it and
        failing with its log when it fails or takes longer than `timeout`."""
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise self.fail(f"{what}: not done after {timeout:.0f}s") from None
        finally:
            self.stop()  # also kills what a timeout or an interrupt left behind
        if rc != 0:
            raise self.fail(f"{what} failed ({rc})")

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the process group and any descendant that left it, then
        SIGKILL whatever is still there after `grace` seconds. Only once: the
        pid may belong to another process later."""
        if self._stopped:
            return
        self._stopped = True
        if self in Child.registry:
            Child.registry.remove(self)
        stray = descendants(self.proc.pid) if self.alive() else []
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)  # start_new_session: pgid == pid
            except (ProcessLookupError, PermissionError):
                pass
            for pid in stray:
                try:
                    os.kill(pid, sig)
                except (ProcessLookupError, PermissionError):
                    pass
            if sig == signal.SIGTERM:
                try:
                    self.proc.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    pass
                deadline = time.monotonic() + grace
                while time.monotonic() < deadline and any(_pid_alive(p) for p in stray):
                    time.sleep(0.1)
                if not self.alive() and not any(_pid_alive(p) for p in stray):
                    break
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self._log.close()


def stop_all(grace: float = 3) -> None:
    for child in list(reversed(Child.registry)):
        child.stop(grace=grace)


# A safety net for an interpreter that exits without running its teardown.
atexit.register(stop_all)


def wait_until(what: str, check: Callable[[], object], child: Child, timeout: float, interval: float = 0.2):
    """Polls check() until it returns something truthy and returns that;
    fails at once when `child` exits, and after `timeout` seconds.
    OSError or HTTPException from check() (connection refused, timeouts;
    requests' errors are OSErrors too) means "not yet"."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if not child.alive():
            raise child.fail(f"{what}: process exited")
        try:
            result = check()
            if result:
                return result
        except (OSError, HTTPException) as e:
            last_error = e
        time.sleep(interval)
    raise child.fail(f"{what}: not ready after {timeout:.0f}s ({last_error})")


# ---------------------------------------------------------------- the stack


def watched_functions(router: dict[str, str]) -> list[tuple[str, str]]:
    """(binary, a path that reaches it) for every function in a cargo-lambda
    router (path -> binary), in router order: the first path without a
    parameter that names it."""
    chosen: dict[str, str] = {}
    for path, binary in router.items():
        if "{" not in path:
            chosen.setdefault(binary, path)
    missing = sorted(set(router.values()) - set(chosen))
    if missing:
        raise StackError(f"the cargo-lambda router has no fixed path for {missing}")
    return list(chosen.items())


def _is_watch_error(status: int, body: str) -> bool:
    """cargo-lambda's own answers (no such function, no default function) are
    JSON objects with `title` and `detail`; a function's errors are not."""
    if status != 404:
        return False
    try:
        parsed = json.loads(body)
    except ValueError:
        return False
    return isinstance(parsed, dict) and "title" in parsed and "detail" in parsed


class Stack:
    """The children of one suite (or of `make dev`), with their logs in
    `log_dir` (default test-artifacts/<suite>)."""

    def __init__(self, suite: str, log_dir: Path | None = None, build_timeout: float = 1800):
        self.log_dir = log_dir or ARTIFACTS / suite
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.build_timeout = build_timeout
        self.children: list[Child] = []

    def __enter__(self) -> "Stack":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, name: str, argv: Iterable, env: dict[str, str] | None = None) -> Child:
        child = Child(name, argv, env if env is not None else child_env(), self.log_dir)
        self.children.append(child)
        return child

    def stop(self) -> None:
        """Stops every child this stack started, the last started first."""
        while self.children:
            self.children.pop().stop()

    # -- builds

    def cargo_build(self, binaries: Iterable[str], name: str = "build") -> None:
        """`cargo build --bin A --bin B ...` (dev profile) in one cargo run;
        fails with the compiler output when it does not build. The workspace
        unifies features (dev/workspace-hack), so this builds exactly what
        `cargo lambda watch` later runs with `cargo run --bin NAME`."""
        argv = ["cargo", "build"]
        for binary in binaries:
            argv += ["--bin", binary]
        build = self.start(name, argv)
        try:
            build.wait(self.build_timeout, f"`{' '.join(argv)}`")
        finally:
            self.children.remove(build)

    # -- the services

    def moto(self) -> tuple[Child, str]:
        """moto_server on a free port (in-memory AWS: SSM, DynamoDB)."""
        server = VENV_BIN / "moto_server"
        if not server.exists():
            raise StackError(f"{server} is missing: run `bash dev/bootstrap-venv.sh dev`")
        port = free_port()
        child = self.start("moto", [server, "-H", "127.0.0.1", "-p", port])
        url = f"http://127.0.0.1:{port}"
        wait_until("moto_server", lambda: http(f"{url}/moto-api/", timeout=2)[0] == 200, child, timeout=60)
        return child, url

    def session_index(self, moto_url: str, table: str = SESSION_INDEX_TABLE) -> dict[str, str]:
        """The session index table in moto's DynamoDB, made as template.yaml
        declares it (dev/session_index.py); answers the functions' settings
        for it (with AWS_ENDPOINT_URL pointing them at moto)."""
        done = subprocess.run(
            [VENV_BIN / "python", REPO / "dev" / "session_index.py", "create", "--endpoint", moto_url,
             "--table", table],
            cwd=REPO, env=child_env(), capture_output=True, text=True, timeout=120,
        )
        if done.returncode != 0:
            raise StackError(f"dev/session_index.py create {table} failed: {done.stderr.strip()[-2000:]}")
        return {"SESSION_INDEX_TABLE": table}

    def emulator(
        self,
        account_sid: str,
        auth_token: str,
        *,
        port: int | None = None,
        latency_ms: int = 0,
        voice_url: str | None = None,
        events_url: str | None = None,
        rust_log: str = "info",
        build: bool = True,
        numbers: Iterable[str] = (),
        name: str = "twilio-emulator",
    ) -> tuple[Child, str]:
        """The Twilio emulator (target/debug/twilio-emulator serve) holding
        one account, on `port` (default: a free one), owning `numbers`
        (IncomingPhoneNumbers, as the account's pool numbers are). `name`
        names the child and its log, for a second emulator."""
        if build:
            self.cargo_build(["twilio-emulator"], name="build-twilio-emulator")
        port = port or free_port()
        argv = [DEBUG_DIR / "twilio-emulator", "serve", "--host", "127.0.0.1", "--port", port]
        if latency_ms:
            argv += ["--latency-ms", latency_ms]
        if voice_url:
            argv += ["--voice-url", voice_url]
        if events_url:
            argv += ["--events-url", events_url]
        numbers = list(numbers)
        if numbers:
            argv += ["--numbers", ",".join(numbers)]
        env = child_env({"TWILIO_ACCOUNT_SID": account_sid, "TWILIO_AUTH_TOKEN": auth_token, "RUST_LOG": rust_log})
        child = self.start(name, argv, env)
        url = f"http://127.0.0.1:{port}"
        wait_until(name, lambda: http(f"{url}/_emulator/requests", timeout=2)[0] == 200, child, 60)
        return child, url

    def watch(
        self,
        port: int,
        function_env: dict[str, str],
        functions: list[tuple[str, str]],
        *,
        reload: bool = False,
        warm_timeout: float | None = None,
    ) -> tuple[Child, str]:
        """`cargo lambda watch` on 127.0.0.1:`port`, serving `functions`
        ((binary, path) pairs, e.g. from watched_functions(project.router()))
        at the paths the router in the root Cargo.toml gives them, each
        already built and answering a first request itself.

        The functions are built first, outside watch: a compile error then
        fails here with the compiler output (under watch the request would
        just hang), and watch's own `cargo run --bin NAME` finds them fresh.
        `function_env` is given to watch both as its environment (which the
        functions inherit) and as --env-file (a record in the logs); not as
        --env-var, which splits values at commas. With `reload`, watch
        rebuilds and restarts a function when its sources change."""
        warm_timeout = warm_timeout or self.build_timeout
        if not (VENV_BIN / "cargo-lambda").exists():
            raise StackError(f"{VENV_BIN / 'cargo-lambda'} is missing: run `bash dev/bootstrap-venv.sh`")
        self.cargo_build([binary for binary, _ in functions], name="build-functions")
        # The functions run on this machine: loopback http URLs (the emulator, a test's
        # receiver) are theirs to call. On Lambda loopback is the Runtime API, and
        # template.yaml never sets this (shared/src/callback_url.rs).
        function_env = {**function_env, LOCAL_FLAG: "1"}

        env_file = self.log_dir / "functions.env"
        write_private(env_file, env_file_text(function_env))
        argv = ["cargo", "lambda", "watch", "--invoke-address", "127.0.0.1", "--invoke-port", port]
        if not reload:
            argv.append("--ignore-changes")  # no rebuild or restart when files change mid-run
        argv += ["--env-file", env_file]
        child = self.start("lambda-watch", argv, child_env(function_env))
        url = f"http://127.0.0.1:{port}"

        warmups: dict[str, dict] = {}

        def warmed(binary: str, path: str) -> bool:
            text = child.log_text()
            for marker in WATCH_FATAL_MARKERS:
                if marker in text:
                    raise child.fail(f"cargo lambda watch: `{marker}`")
            # The first request waits while watch starts the function.
            status, body = http(f"{url}{path}", timeout=120)
            if _is_watch_error(status, body):
                raise child.fail(
                    f"cargo lambda watch did not route {path} to {binary} (is \"{path}\" = "
                    f"\"{binary}\" in the router in Cargo.toml?): {status} {body}"
                )
            warmups[path] = {"function": binary, "status": status}
            return True

        # One function at a time: each first request starts `cargo run`.
        for binary, path in functions:
            wait_until(f"cargo lambda watch ({binary} at {path})", lambda: warmed(binary, path), child,
                       timeout=warm_timeout, interval=1)
        (self.log_dir / "lambda-warmup.json").write_text(json.dumps(warmups, indent=2))
        return child, url

    def chromedriver(self, driver: str) -> tuple[Child, str]:
        """chromedriver on a free port."""
        port = free_port()
        argv = [driver, f"--port={port}", f"--log-path={self.log_dir / 'chromedriver-detail.log'}"]
        child = self.start("chromedriver", argv)
        url = f"http://127.0.0.1:{port}"
        wait_until("chromedriver", lambda: http(f"{url}/status", timeout=2)[0] == 200, child, timeout=60)
        return child, url


def find_chromium() -> tuple[str, str] | None:
    """(chromium, chromedriver) from CHROMIUM_BIN / CHROMEDRIVER_BIN or PATH,
    or None when either is missing."""
    import shutil

    candidates = [shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")] + [
        "/Applications/Chromium.app/Contents/MacOS/Chromium",  # macOS: brew install --cask chromium
        "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
    ]
    chromium = os.environ.get("CHROMIUM_BIN") or next((p for p in candidates if p and os.path.exists(p)), None)
    driver = os.environ.get("CHROMEDRIVER_BIN") or shutil.which("chromedriver")
    if chromium and driver and os.access(chromium, os.X_OK) and os.access(driver, os.X_OK):
        return chromium, driver
    return None


def point_emulator_webhooks(emulator: str, watch_url: str) -> dict[str, str]:
    """Sends the emulator's inbound calls and conversation events to the watch."""
    targets = {"voice_url": f"{watch_url}/inbound-call", "events_url": f"{watch_url}/conversation-events"}
    status, body = http(f"{emulator}/_emulator/webhooks", "POST", json_body=targets)
    if status not in (200, 204):
        raise StackError(f"the emulator refused its webhook targets: {status} {body}")
    return targets


def server_errors(paths: Iterable[Path], lines: int = 40) -> str:
    """The errors and warnings in server logs (what CI shows when a browser
    or e2e test fails, since it keeps only the output)."""
    found = []
    for path in paths:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            if any(m in line for m in (" WARN ", " ERROR ", "panicked")) or "status=5" in line:
                found.append(f"{path.name}: {line[:300]}")
    return "\n".join(found[-lines:])


if __name__ == "__main__":  # pragma: no cover
    sys.exit("tests/support/stack.py is a module: see dev/run-local.py and the suites' conftest.py")
