"""Fixtures for the deployment checks (tests/deploy), run by tests/deploy/check.sh.

    suite_stack   the suite's children (tests/support/stack.py), logs in test-artifacts/deploy/
    deploy_moto   a moto_server on 127.0.0.1 (SSM for dev/params.py and the functions)
    template      template.yaml, loaded with its short-form tags (!Ref, !Sub, ...)

Helpers live in deploy_support.py (not here: test modules import them, and
another directory's conftest.py may already own the module name `conftest`).
"""

from __future__ import annotations

import pytest

from deploy_support import ARTIFACTS, load_template
from support.pytest_stack import *  # noqa: F401,F403  (SIGTERM and StackError hooks)


@pytest.fixture(scope="session")
def stack_options() -> dict:
    """The children's logs go to test-artifacts/deploy/ (`suite_stack`, `moto`)."""
    return {"suite": "deploy", "log_dir": ARTIFACTS}


@pytest.fixture(scope="session")
def deploy_moto(moto):
    """URL of a moto_server on 127.0.0.1 (in-memory AWS)."""
    return moto


@pytest.fixture(scope="session")
def template() -> dict:
    return load_template()
