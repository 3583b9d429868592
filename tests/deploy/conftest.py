"""Fixtures for the deployment checks (tests/deploy), run by tests/deploy/check.sh.

    deploy_stack  the suite's children (tests/support/stack.py), logs in test-artifacts/deploy/
    deploy_moto   a moto_server on 127.0.0.1 (SSM for dev/params.py and the functions)
    template      template.yaml, loaded with its short-form tags (!Ref, !Sub, ...)

Helpers live in deploy_support.py (not here: test modules import them, and
another directory's conftest.py may already own the module name `conftest`).
"""

from __future__ import annotations

import pytest

from deploy_support import ARTIFACTS, load_template, stack
from support.pytest_stack import *  # noqa: F401,F403  (SIGTERM and StackError hooks)


@pytest.fixture(scope="session")
def deploy_stack():
    with stack.Stack("deploy", log_dir=ARTIFACTS) as run:
        yield run


@pytest.fixture(scope="session")
def deploy_moto(deploy_stack):
    """URL of a moto_server on 127.0.0.1 (in-memory AWS)."""
    child, url = deploy_stack.moto()
    yield url
    child.stop()


@pytest.fixture(scope="session")
def template() -> dict:
    return load_template()
