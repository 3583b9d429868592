"""pytest hooks and fixtures for suites that start the stack (support.stack).
A suite's conftest.py takes them with

    from support.pytest_stack import *  # noqa: F401,F403  (hooks and fixtures)

and says which suite it is with a `stack_options` fixture (the keyword
arguments of stack.Stack, e.g. {"suite": "e2e"}). Fixtures:

    suite_stack   the suite's Stack (session); whatever it started and is still
                  running at the end is stopped
    moto          URL of a moto_server on 127.0.0.1 (in-memory AWS: SSM)

Hooks:

- SIGTERM becomes KeyboardInterrupt, so pytest runs fixture teardown and
  every child is stopped (SIGKILL of pytest itself: PR_SET_PDEATHSIG does it);
- a StackError (a child that did not build, start or answer) is reported as
  its message alone, which names the child and shows the end of its log,
  instead of a traceback through the launcher.
"""

from __future__ import annotations

import pytest

from support.stack import Stack, StackError, terminate_on_sigterm

__all__ = ["pytest_configure", "pytest_runtest_makereport", "suite_stack", "moto"]


def pytest_configure(config):
    terminate_on_sigterm()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if call.excinfo is not None and call.excinfo.errisinstance(StackError):
        report.longrepr = f"{call.excinfo.value}"
    return report


@pytest.fixture(scope="session")
def suite_stack(stack_options):
    with Stack(**stack_options) as run:
        yield run


@pytest.fixture(scope="session")
def moto(suite_stack):
    child, url = suite_stack.moto()
    yield url
    child.stop()
