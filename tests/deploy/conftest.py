"""Fixtures for the deployment checks (tests/deploy), run by tests/deploy/check.sh.

    deploy_moto   a moto_server on 127.0.0.1 (SSM for dev/params.py and the functions)
    template      template.yaml, loaded with its short-form tags (!Ref, !Sub, ...)

Helpers live in deploy_support.py (not here: test modules import them, and
another directory's conftest.py may already own the module name `conftest`).
"""

from __future__ import annotations

import signal

import pytest
import requests

from deploy_support import VENV_BIN, Child, child_env, free_port, load_template, wait_until


def pytest_configure(config):
    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):

        def on_term(signum, frame):
            raise KeyboardInterrupt(f"signal {signum}")

        signal.signal(signal.SIGTERM, on_term)


@pytest.fixture(scope="session")
def deploy_moto():
    """URL of a moto_server on 127.0.0.1 (in-memory AWS)."""
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
def template() -> dict:
    return load_template()
