"""Helpers for the deployment checks (tests/deploy); fixtures are in conftest.py.

A trimmed copy of the process handling in tests/e2e/conftest.py (kept separate
so the two suites can change independently): every child runs in its own
process group with its output in test-artifacts/deploy/<name>.log and is
stopped at the end, also when a test fails or pytest is interrupted.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import signal
import socket
import subprocess
import time
import tomllib
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "deploy"
VENV_BIN = REPO / ".venv" / "bin"
AWS_REGION = "us-east-1"
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Our environment without AWS/Twilio/SSM settings (a developer's real
    credentials never reach a child), .venv/bin first on PATH, plus extra."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "TWILIO_", "SSM_", "CARGO_LAMBDA_", "PARAMETER_PREFIX"))
    }
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra or {})
    return env


def _die_with_parent() -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Child:
    """A child process in its own process group, output to ARTIFACTS/<name>.log."""

    registry: list["Child"] = []

    def __init__(self, name: str, argv: list, env: dict[str, str]):
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

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def describe(self, what: str) -> str:
        state = "running" if self.alive() else f"exited with {self.proc.returncode}"
        tail = "\n".join(self.log_text().splitlines()[-60:])
        return f"{what}\n{self.name} is {state}; last lines of {self.log_path}:\n{tail}"

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the process group (watch stops the function it spawned in
        its own group), then SIGKILL what is left after `grace` seconds."""
        if self in Child.registry:
            Child.registry.remove(self)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue
        self._log.close()


def _stop_all() -> None:
    for child in list(reversed(Child.registry)):
        child.stop(grace=3)


atexit.register(_stop_all)


def wait_until(what: str, check, child: Child, timeout: float, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        if not child.alive():
            pytest.fail(child.describe(f"{what}: process exited"))
        try:
            result = check()
            if result:
                return result
        except requests.RequestException as e:
            last_error = e
        time.sleep(interval)
    pytest.fail(child.describe(f"{what}: not ready after {timeout:.0f}s ({last_error})"))


def ssm_client(endpoint_url: str):
    import boto3

    session = boto3.session.Session(region_name=AWS_REGION, **{
        "aws_access_key_id": DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    })
    return session.client("ssm", endpoint_url=endpoint_url)


def load_template(path: Path = REPO / "template.yaml") -> dict:
    """template.yaml as CloudFormation sees it: short-form tags become their
    long forms (!Ref X -> {"Ref": "X"}, !Sub s -> {"Fn::Sub": s}, ...)."""
    from cfnlint.decode import cfn_yaml

    return cfn_yaml.load(str(path))


# ---------------------------------------------------------------- template helpers

SERVERLESS_FUNCTION = "AWS::Serverless::Function"


def functions(template: dict) -> dict[str, dict]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == SERVERLESS_FUNCTION}


def binary_of(resource: dict) -> str:
    assert resource["Metadata"]["BuildMethod"] == "rust-cargolambda"
    return resource["Metadata"]["BuildProperties"]["Binary"]


def ref(value) -> str | None:
    return value.get("Ref") if isinstance(value, dict) else None


def getatt(value) -> list | None:
    return value.get("Fn::GetAtt") if isinstance(value, dict) else None


def sub(value) -> str | None:
    return value.get("Fn::Sub") if isinstance(value, dict) else None


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def router_table() -> dict[str, str]:
    cargo = tomllib.loads((REPO / "Cargo.toml").read_text())
    return dict(cargo["workspace"]["metadata"]["lambda"]["watch"]["router"])


def api_routes(template: dict) -> dict[tuple[str, str], str]:
    """(method, path) -> binary for every HttpApi event."""
    routes: dict[tuple[str, str], str] = {}
    for name, fn in functions(template).items():
        for event_name, event in fn["Properties"].get("Events", {}).items():
            assert event["Type"] == "HttpApi", f"{name}.{event_name}"
            props = event["Properties"]
            assert ref(props["ApiId"]) == "HttpApi", f"{name}.{event_name}: one HTTP API"
            assert str(props.get("PayloadFormatVersion", "2.0")) == "2.0", f"{name}.{event_name}"
            key = (props["Method"].upper(), props["Path"])
            assert key not in routes, f"route {key} is declared twice"
            routes[key] = binary_of(fn)
    return routes
