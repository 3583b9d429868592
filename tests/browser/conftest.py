"""The stack for the browser test, started by tests/support/stack.py:

    twilio-emulator serve        (Twilio stand-in)
    cargo lambda watch           every function at its real path (the router in
                                 the root Cargo.toml), configured from the
                                 environment with the keys they require
    chromedriver                 drives Debian's Chromium (headless, loopback only)

`site` (session) gives their addresses and the operator's credentials.
Logs and screenshots: test-artifacts/browser/. Chromium missing is a
failure, never a skip; and so is any skipped test in this suite: a browser
test that did not run must not look like one that passed.
"""

from __future__ import annotations

import secrets
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: `support`
from support import project, settings, stack  # noqa: E402
from support.pytest_stack import *  # noqa: E402,F401,F403  (SIGTERM and StackError hooks)

ARTIFACTS = stack.ARTIFACTS / "browser"
POOL = ["+15005550001", "+15005550002", "+15005550003"]


@dataclass(frozen=True)
class Site:
    base: str  # the page and the API, http://127.0.0.1:PORT
    username: str
    password: str
    pool: list[str]
    emulator: str
    driver_url: str  # chromedriver
    chromium: str


@pytest.fixture(scope="session")
def stack_options() -> dict:
    """Logs and screenshots of this run only, in test-artifacts/browser/."""
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    return {"suite": "browser", "log_dir": ARTIFACTS, "build_timeout": 900}


@pytest.fixture(scope="session")
def site(suite_stack):
    found = stack.find_chromium()
    if not found:
        pytest.fail(
            "Chromium and chromedriver are needed (Debian: apt-get install chromium chromium-driver; "
            "macOS: brew install --cask chromium chromedriver; or set CHROMIUM_BIN and CHROMEDRIVER_BIN)",
            pytrace=False,
        )
    chromium, driver = found
    account_sid = "AC" + secrets.token_hex(16)
    auth_token = secrets.token_hex(16)
    username, password = "operator", "browser-" + secrets.token_hex(8)
    _, emulator = suite_stack.emulator(account_sid, auth_token)

    functions = stack.watched_functions(project.router())
    port = stack.free_port()
    base = f"http://127.0.0.1:{port}"
    values = {
        "TWILIO_ACCOUNT_SID": account_sid,
        "TWILIO_AUTH_TOKEN": auth_token,
        "NUMBER_POOL": POOL,
        "AUTH_USERNAME": username,
        "AUTH_PASSWORD": password,
        # The page's origin: under watch the functions would otherwise take
        # their own address to be https://Host and refuse the page's writes
        # as cross-site.
        "PUBLIC_BASE_URL": base,
    }
    chosen = settings.choose(settings.required_keys(b for b, _ in functions), values, extra=["PUBLIC_BASE_URL"])
    # Configuration from the environment (no SSM), as the functions read it.
    function_env = {
        **settings.as_env(chosen),
        "TWILIO_CONVERSATIONS_URL": emulator,
        "TWILIO_API_URL": emulator,
        "RUST_LOG": "info",
    }
    suite_stack.watch(port, function_env, functions, warm_timeout=900)
    _, driver_url = suite_stack.chromedriver(driver)
    print(f"\nbrowser-test: stack up: page {base}/, emulator {emulator}, chromedriver {driver_url}")
    yield Site(base, username, password, list(POOL), emulator, driver_url, chromium)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """CI keeps only the output: on a failure, show what the server side saw."""
    if exitstatus == 0:
        return
    logs = [ARTIFACTS / "lambda-watch.log", ARTIFACTS / "twilio-emulator.log"]
    errors = stack.server_errors(logs)
    terminalreporter.write_sep("-", f"server side, errors and warnings (full logs: {ARTIFACTS})")
    terminalreporter.write_line(errors or "(none)")
    terminalreporter.write_sep("-", "last lines of lambda-watch.log")
    try:
        tail = logs[0].read_text(errors="replace").splitlines()[-25:]
        terminalreporter.write_line("\n".join(line[:300] for line in tail))
    except OSError:
        terminalreporter.write_line("(no log)")


def pytest_sessionfinish(session, exitstatus):
    skipped = session.config.pluginmanager.get_plugin("terminalreporter").stats.get("skipped", [])
    if skipped and exitstatus == 0:
        names = ", ".join(r.nodeid for r in skipped)
        print(f"\nbrowser-test: FAILED: {len(skipped)} test(s) skipped ({names}); a skipped browser test is not a pass")
        session.exitstatus = 1
