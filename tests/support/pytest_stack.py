"""pytest hooks for suites that start the stack (support.stack). A suite's
conftest.py takes them with

    from support.pytest_stack import *  # noqa: F401,F403  (hooks)

- SIGTERM becomes KeyboardInterrupt, so pytest runs fixture teardown and
  every child is stopped (SIGKILL of pytest itself: PR_SET_PDEATHSIG does it);
- a StackError (a child that did not build, start or answer) is reported as
  its message alone, which names the child and shows the end of its log,
  instead of a traceback through the launcher.
"""

from __future__ import annotations

import pytest

from support.stack import StackError, terminate_on_sigterm

__all__ = ["pytest_configure", "pytest_runtest_makereport"]


def pytest_configure(config):
    terminate_on_sigterm()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if call.excinfo is not None and call.excinfo.errisinstance(StackError):
        report.longrepr = f"{call.excinfo.value}"
    return report
