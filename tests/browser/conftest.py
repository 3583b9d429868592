"""The stack for the browser test, started by tests/support/stack.py:

    moto_server                  in-memory DynamoDB holding the session index
    twilio-emulator serve        (Twilio stand-in), its voice webhook pointed at
                                 the watch
    cargo lambda watch           every function at its real path (the router in
                                 the root Cargo.toml), configured from the
                                 environment with the keys they require, and
                                 with the session index (SESSION_INDEX_TABLE)
    chromedriver                 drives Debian's Chromium (headless, loopback only)

`site` (session) gives their addresses and the operator's credentials.
`site_without_index` is a second watch, serving only the page and the session
API, without the index: what the page says when nothing is counted and no
call log is kept. Logs and screenshots: test-artifacts/browser/ (the second
watch's in without-index/). Chromium missing is a failure, never a skip; and
so is any skipped test in this suite: a browser test that did not run must not
look like one that passed.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: `support`
from support import project, settings, stack  # noqa: E402
from support.pytest_stack import *  # noqa: E402,F401,F403  (SIGTERM and StackError hooks)

ARTIFACTS = stack.ARTIFACTS / "browser"
POOL = ["+15005550001", "+15005550002", "+15005550003"]
INDEX_TABLE = "masked-comms-browser"
# What the page needs without an index: itself and the session API.
PAGE_AND_API = ("landing-page", "sessions")


@dataclass(frozen=True)
class Site:
    base: str  # the page and the API, http://127.0.0.1:PORT
    username: str
    password: str
    pool: list[str]
    emulator: str
    driver_url: str  # chromedriver
    chromium: str


@dataclass(frozen=True)
class Account:
    """The Twilio account the emulator holds and the operator's login."""

    sid: str
    token: str
    username: str
    password: str


@pytest.fixture(scope="session")
def stack_options() -> dict:
    """Logs and screenshots of this run only, in test-artifacts/browser/."""
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    return {"suite": "browser", "log_dir": ARTIFACTS, "build_timeout": 900}


@pytest.fixture(scope="session")
def chromium():
    found = stack.find_chromium()
    if not found:
        pytest.fail(
            "Chromium and chromedriver are needed (Debian: apt-get install chromium chromium-driver; "
            "macOS: brew install --cask chromium chromedriver; or set CHROMIUM_BIN and CHROMEDRIVER_BIN)",
            pytrace=False,
        )
    return found


@pytest.fixture(scope="session")
def account() -> Account:
    return Account("AC" + secrets.token_hex(16), secrets.token_hex(16), "operator", "browser-" + secrets.token_hex(8))


@pytest.fixture(scope="session")
def session_index(moto) -> dict[str, str]:
    """The index table, created in moto as template.yaml declares it (the
    tool `make dev` and the integration tests use), and the environment that
    points the functions at it."""
    subprocess.run(
        [sys.executable, str(stack.REPO / "dev" / "session_index.py"), "create", "--endpoint", moto, "--table", INDEX_TABLE],
        check=True,
        env=stack.child_env(),
    )
    return {
        "SESSION_INDEX_TABLE": INDEX_TABLE,
        "AWS_ENDPOINT_URL": moto,
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def function_env(functions, account: Account, emulator: str, base: str, extra: dict[str, str]) -> dict[str, str]:
    """Configuration from the environment (no SSM), as the functions read it."""
    values = {
        "TWILIO_ACCOUNT_SID": account.sid,
        "TWILIO_AUTH_TOKEN": account.token,
        "NUMBER_POOL": POOL,
        "AUTH_USERNAME": account.username,
        "AUTH_PASSWORD": account.password,
        # The page's origin: under watch the functions would otherwise take
        # their own address to be https://Host and refuse the page's writes
        # as cross-site (and the webhooks' signatures).
        "PUBLIC_BASE_URL": base,
    }
    chosen = settings.choose(settings.required_keys(b for b, _ in functions), values, extra=["PUBLIC_BASE_URL"])
    return {
        **settings.as_env(chosen),
        "TWILIO_CONVERSATIONS_URL": emulator,
        "TWILIO_API_URL": emulator,
        "RUST_LOG": "info",
        **extra,
    }


def point_voice_webhook(emulator: str, base: str) -> None:
    """Calls placed through the emulator reach the watch (their ends come back
    through the <Dial action> URL the webhook answers). Not the conversation
    events: on a close they would delete the conversation (the default
    closed-conversations setting), and the page's lookup shows closed sessions."""
    response = requests.post(f"{emulator}/_emulator/webhooks", json={"voice_url": f"{base}/inbound-call"}, timeout=10)
    assert response.status_code in (200, 204), response.text


@pytest.fixture(scope="session")
def site(suite_stack, chromium, account, session_index):
    browser, driver = chromium
    # The account owns the pool numbers: Twilio sends messages only from its own.
    _, emulator = suite_stack.emulator(account.sid, account.token, numbers=POOL)
    functions = stack.watched_functions(project.router())
    port = stack.free_port()
    base = f"http://127.0.0.1:{port}"
    suite_stack.watch(port, function_env(functions, account, emulator, base, session_index), functions, warm_timeout=900)
    point_voice_webhook(emulator, base)
    _, driver_url = suite_stack.chromedriver(driver)
    print(f"\nbrowser-test: stack up: page {base}/, emulator {emulator}, chromedriver {driver_url}")
    yield Site(base, account.username, account.password, list(POOL), emulator, driver_url, browser)


@pytest.fixture(scope="session")
def site_without_index(site, account):
    """The page and the session API on a watch of their own, same emulator
    and login, no index. Its own Stack: its logs go to without-index/."""
    functions = [f for f in stack.watched_functions(project.router()) if f[0] in PAGE_AND_API]
    port = stack.free_port()
    base = f"http://127.0.0.1:{port}"
    with stack.Stack("browser", log_dir=ARTIFACTS / "without-index", build_timeout=900) as run:
        run.watch(port, function_env(functions, account, site.emulator, base, {}), functions, warm_timeout=900)
        yield Site(base, site.username, site.password, site.pool, site.emulator, site.driver_url, site.chromium)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """CI keeps only the output: on a failure, show what the server side saw."""
    if exitstatus == 0:
        return
    logs = [
        ARTIFACTS / "lambda-watch.log",
        ARTIFACTS / "twilio-emulator.log",
        ARTIFACTS / "without-index" / "lambda-watch.log",
    ]
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
