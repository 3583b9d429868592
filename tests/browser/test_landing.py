"""The operator's page (GET /) in a real headless Chromium, against the real
stack: the functions under `cargo lambda watch` and the Twilio emulator,
driven over WebDriver (chromedriver). conftest.py starts all of that (the
`site` fixture).

    bash tests/browser/run.sh                 # or: make browser
"""

from __future__ import annotations

import base64
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chromium.remote_connection import ChromiumRemoteConnection
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.command import Command
from selenium.webdriver.support.ui import WebDriverWait

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--password-store=basic",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
]
DESKTOP = (1024, 1500)
PHONE = (390, 844)


def authed(site) -> str:
    """The page as a person opens it after the basic-auth prompt: Chromium
    answers the 401 challenge with these credentials and keeps them for the
    origin, so the page's own fetch() calls to /sessions carry them too."""
    credentials = f"{quote(site.username, safe='')}:{quote(site.password, safe='')}@"
    return site.base.replace("://", f"://{credentials}", 1)


@pytest.fixture(scope="module")
def driver(site, tmp_path_factory):
    options = webdriver.ChromeOptions()
    options.binary_location = site.chromium
    for flag in FLAGS + [f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    connection = ChromiumRemoteConnection(
        remote_server_addr=site.driver_url,
        vendor_prefix="goog",
        browser_name="chrome",
        ignore_proxy=True,
    )
    browser = webdriver.Remote(command_executor=connection, options=options)
    browser.set_page_load_timeout(60)
    browser.set_window_size(*DESKTOP)
    try:
        yield browser
    finally:
        browser.quit()


@pytest.fixture(autouse=True)
def own_console(driver):
    """Each test judges only the console messages of its own pages."""
    console(driver)
    yield


def wait(browser, what, condition, timeout=30):
    try:
        return WebDriverWait(browser, timeout).until(lambda b: condition(b))
    except TimeoutException:
        browser.save_screenshot(str(ARTIFACTS / "failure.png"))
        (ARTIFACTS / "failure.html").write_text(browser.page_source)
        # CI keeps only the output: say what the browser was showing instead.
        shown = browser.find_element(By.TAG_NAME, "body").text[:600]
        pytest.fail(f"timed out waiting for {what}; the page at {browser.title!r} shows: {shown!r}")


def console(browser) -> list[dict]:
    """Console messages since the last call (CSP violations show up here)."""
    return browser.execute(Command.GET_LOG, {"type": "browser"})["value"]


def assert_clean_console(browser):
    problems = [m for m in console(browser) if m.get("level") in ("SEVERE", "WARNING")]
    # A 4xx answer to fetch() is logged as a failed resource load; that is the
    # API speaking (the error case below), not a page problem.
    problems = [m for m in problems if "the server responded with a status of 4" not in m.get("message", "")]
    assert not problems, problems


def full_page_screenshot(browser, path: Path):
    """The whole page, not just the window (Chrome DevTools Protocol)."""
    size = browser.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    shot = browser.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
        },
    )
    path.write_bytes(base64.b64decode(shot["data"]))


def pool_settled(browser) -> bool:
    """No count of the pool in flight (the page's own GET /pool)."""
    return browser.execute_script(
        "var card = document.getElementById('pool-card');"
        "return !card || card.getAttribute('aria-busy') === 'false';"
    )


def page_url(browser, site, query: str = "") -> str:
    """The page's address: with the credentials in it the first time, so that
    Chromium answers the basic-auth challenge; after that without, and
    Chromium sends the credentials it remembered for the origin, as a
    person's browser does. (Not a 401 and its retry back to back each time:
    `cargo lambda watch` now and then answers such a retry with a 500 of its
    own, its function never asked.)"""
    signed_in = browser.__dict__.setdefault("signed_in", set())
    base = site.base if site.base in signed_in else authed(site)
    signed_in.add(site.base)
    return f"{base}/{query}"


def open_page(browser, site):
    # Nor two requests to one function at once (the page in the window may
    # still be counting the pool): watch runs one at a time.
    wait(browser, "the previous page's pool count", pool_settled)
    browser.get(page_url(browser, site))
    wait(browser, "the create form", lambda b: b.find_elements(By.ID, "create-form"))
    wait(browser, "the pool count", pool_settled)


def rows(browser):
    return browser.find_elements(By.CSS_SELECTOR, "#address-rows li.row")


def fill(browser, element_id, value):
    field = browser.find_element(By.ID, element_id)
    field.clear()
    field.send_keys(value)


def pool_bars(browser):
    return browser.find_elements(By.CSS_SELECTOR, "#pool-bars li.bar")


def charted(browser) -> dict[str, int]:
    """Each bar's number and count, read in one go: a refresh replaces the bars."""
    pairs = browser.execute_script(
        "return Array.from(document.querySelectorAll('#pool-bars li.bar'))"
        ".map(function (b) { return [b.getAttribute('data-number'), Number(b.getAttribute('data-in-use'))]; });"
    )
    return dict(pairs)


def api(site, method, path, **kwargs):
    """The session API itself, as a client other than the page calls it."""
    return requests.request(method, f"{site.base}{path}", auth=(site.username, site.password), timeout=60, **kwargs)


def api_session(site, sid) -> dict:
    response = api(site, "GET", f"/sessions/{sid}")
    assert response.status_code == 200, response.text
    return response.json()


def create_via_api(site, addresses, **fields) -> dict:
    response = api(site, "POST", "/sessions", json={"addresses": addresses, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def addresses_of(session) -> list[str]:
    return [p["messaging_binding"]["address"] for p in session["participants"]]


def pool_usage(site) -> dict[str, int]:
    response = api(site, "GET", "/pool")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["counted"] is True, body
    return {entry["number"]: entry["in_use"] for entry in body["pool"]}


def near_exhaustion(usage: dict[str, int]) -> set[str]:
    """The rule the page's caption states: at least 80% of the busiest
    number's count and at least twice the pool's average (never an idle number)."""
    busiest, total = max(usage.values()), sum(usage.values())
    return {n for n, c in usage.items() if c > 0 and c * 100 >= 80 * busiest and c * len(usage) >= 2 * total}


def create_on_page(browser, site, addresses, name):
    open_page(browser, site)
    for i, address in enumerate(addresses):
        fill(browser, f"address-{i}", address)
    fill(browser, "friendly-name", name)


def submit_create(browser) -> str:
    """Submits the create form and waits for its card; the new session's sid."""
    browser.find_element(By.ID, "create-submit").click()
    wait(browser, "the session to be created", lambda b: b.find_element(By.ID, "create-status").text == "Session created.")
    return browser.find_element(By.CSS_SELECTOR, "#create-result .sid code").text


def participant_rows(card):
    return card.find_elements(By.CSS_SELECTOR, ".participants-table tbody tr")


def shown_addresses(card) -> list[str]:
    return [row.find_element(By.TAG_NAME, "td").text for row in participant_rows(card)]


def test_page_loads_with_its_script_and_style_under_the_csp(driver, site):
    open_page(driver, site)
    assert driver.title == "masked-comms · sessions"
    # The script draws the pool from GET /pool: a bar a number, in pool order.
    bars = wait(driver, "the pool chart", lambda b: len(pool_bars(b)) == len(site.pool) and pool_bars(b))
    assert [bar.get_attribute("data-number") for bar in bars] == sorted(site.pool)
    assert driver.find_element(By.ID, "pool-chart").is_displayed()
    assert not driver.find_element(By.ID, "pool").is_displayed(), "the plain list stands in only without the chart"
    assert not driver.find_element(By.ID, "pool-uncounted").is_displayed()
    # The hashed inline style applied...
    radius = driver.execute_script(
        "return getComputedStyle(document.querySelector('.card')).borderTopLeftRadius"
    )
    assert radius == "12px"
    # ...and the hashed inline script runs: participant rows come and go.
    assert len(rows(driver)) == 2
    driver.find_element(By.ID, "add-row").click()
    assert len(rows(driver)) == 3
    assert driver.switch_to.active_element.get_attribute("id") == "address-2"
    assert driver.find_element(By.CSS_SELECTOR, "label[for='address-2']").text == "Participant 3"
    driver.find_element(By.CSS_SELECTOR, "button[aria-label='Remove participant 3']").click()
    assert len(rows(driver)) == 2
    assert driver.find_element(By.CSS_SELECTOR, "label[for='address-1']").text == "Participant 2"
    assert_clean_console(driver)


def test_prefills_the_form_from_the_address_bar(driver, site):
    hostile = "<img src=x onerror=alert(1)>"
    wait(driver, "the previous page's pool count", pool_settled)
    driver.get(
        page_url(
            driver,
            site,
            "?address=%2B14155550199&address=whatsapp%3A%2B447700900123&address=%2B14155550198"
            + "&friendlyName="
            + quote(hostile),
        )
    )
    wait(driver, "the create form", lambda b: b.find_elements(By.ID, "create-form"))
    values = [r.find_element(By.TAG_NAME, "input").get_attribute("value") for r in rows(driver)]
    assert values == ["+14155550199", "whatsapp:+447700900123", "+14155550198"]
    assert driver.find_element(By.ID, "friendly-name").get_attribute("value") == hostile
    assert not driver.find_elements(By.CSS_SELECTOR, "img")
    assert_clean_console(driver)


def test_creates_a_session_and_shows_each_participants_proxy(driver, site):
    open_page(driver, site)
    participants = ["+14155550101", "+14155550102"]
    fill(driver, "address-0", participants[0])
    fill(driver, "address-1", participants[1])
    fill(driver, "friendly-name", "Ride 42")
    fill(driver, "timer-closed", "P1D")
    driver.find_element(By.ID, "create-submit").click()

    table_rows = wait(
        driver,
        "the result table",
        lambda b: b.find_elements(By.CSS_SELECTOR, "#create-result .participants-table tbody tr"),
    )
    cells = [[td.text for td in tr.find_elements(By.TAG_NAME, "td")] for tr in table_rows]
    assert [c[0] for c in cells] == participants
    for address, proxy, channel, participant_sid, action in cells:
        assert proxy in site.pool, (address, proxy)
        assert channel == "sms"
        assert participant_sid.startswith("MB"), participant_sid
        assert action == "Remove"
    headers = [th.text for th in driver.find_elements(By.CSS_SELECTOR, "#create-result .participants-table thead th")]
    assert headers == ["Participant", "Proxy number", "Channel", "Participant SID", "Actions"]
    # Both capabilities and no recording unless asked for.
    assert driver.find_element(By.CSS_SELECTOR, "#create-result .facts").text == (
        "Voice calls and messages · calls are not recorded."
    )
    assert driver.find_element(By.CSS_SELECTOR, "#create-result h3").text == "Ride 42"
    assert driver.find_element(By.ID, "create-status").text == "Session created."
    assert driver.find_element(By.CSS_SELECTOR, "#create-result .sid code").text.startswith("CH")
    # The raw answer is there, folded away.
    details = driver.find_element(By.CSS_SELECTOR, "#create-result details")
    assert details.get_attribute("open") is None
    assert_clean_console(driver)

    full_page_screenshot(driver, ARTIFACTS / "landing.png")
    driver.set_window_size(*PHONE)
    try:
        wide = driver.execute_script("return document.documentElement.scrollWidth > window.innerWidth")
        assert not wide, "the page scrolls sideways on a phone-sized screen"
        driver.save_screenshot(str(ARTIFACTS / "landing-phone.png"))
    finally:
        driver.set_window_size(*DESKTOP)


def test_shows_the_apis_error_next_to_the_field_it_names(driver, site):
    open_page(driver, site)
    fill(driver, "address-0", "+14155550111")
    fill(driver, "address-1", "+1415")
    driver.find_element(By.ID, "create-submit").click()

    error = wait(
        driver,
        "the field error",
        lambda b: (e := b.find_element(By.ID, "address-1-error")).is_displayed() and e,
    )
    # What the API itself says about this body.
    api = requests.post(
        f"{site.base}/sessions",
        json={"addresses": ["+14155550111", "+1415"]},
        auth=(site.username, site.password),
        timeout=60,
    )
    assert api.status_code == 400, api.text
    problem = api.json()["error"]
    assert problem["field"] == "addresses[1]"
    assert problem["message"].startswith("addresses[1] ")
    assert error.text == "Participant 2 " + problem["message"][len("addresses[1] ") :]

    field = driver.find_element(By.ID, "address-1")
    assert field.get_attribute("aria-invalid") == "true"
    assert "address-1-error" in field.get_attribute("aria-describedby").split()
    assert driver.switch_to.active_element.get_attribute("id") == "address-1"
    # Only that field is marked; no form-level error.
    assert driver.find_element(By.ID, "address-0").get_attribute("aria-invalid") is None
    assert not driver.find_element(By.ID, "create-error").is_displayed()
    driver.save_screenshot(str(ARTIFACTS / "landing-error.png"))

    # Correcting it clears the error on the next submit.
    fill(driver, "address-1", "+14155550112")
    driver.find_element(By.ID, "create-submit").click()
    wait(driver, "the second session", lambda b: b.find_element(By.ID, "create-status").text == "Session created.")
    assert not driver.find_element(By.ID, "address-1-error").is_displayed()
    assert field.get_attribute("aria-invalid") is None
    assert_clean_console(driver)


def test_looks_up_and_closes_a_session(driver, site):
    # The API's own list, which the page's lookup shows.
    probe = requests.get(
        f"{site.base}/sessions", params={"address": "+14155550101"}, auth=(site.username, site.password), timeout=60
    )
    assert probe.status_code == 200, probe.text
    assert "Ride 42" in [s["friendly_name"] for s in probe.json()["sessions"]]
    open_page(driver, site)
    fill(driver, "lookup-address", "+14155550101")
    driver.find_element(By.ID, "lookup-submit").click()
    cards = wait(driver, "lookup results", lambda b: b.find_elements(By.CSS_SELECTOR, "#lookup-results .session"))
    card = next(c for c in cards if c.find_element(By.TAG_NAME, "h3").text == "Ride 42")
    card.find_element(By.CSS_SELECTOR, "button.danger").click()
    driver.switch_to.alert.accept()
    wait(driver, "the session to close", lambda b: card.find_element(By.CSS_SELECTOR, ".badge").text == "closed")
    assert card.find_element(By.CSS_SELECTOR, ".session-status").text == "Session closed."

    # Closed for the API too, and deleted with everything it held (closed-conversations
    # defaults to delete): no list shows it, open sessions or all.
    def titles():
        driver.find_element(By.ID, "lookup-submit").click()
        wait(driver, "the lookup", lambda b: b.find_element(By.ID, "lookup-status").text.endswith("."))
        return [
            (c.find_element(By.TAG_NAME, "h3").text, c.find_element(By.CSS_SELECTOR, ".badge").text)
            for c in driver.find_elements(By.CSS_SELECTOR, "#lookup-results .session")
        ]

    assert ("Ride 42", "active") not in titles()
    assert all(state != "closed" for _, state in titles())
    driver.find_element(By.ID, "lookup-all").click()
    assert "Ride 42" not in [title for title, _ in titles()]
    assert_clean_console(driver)


def test_creates_a_voice_only_recorded_session(driver, site):
    participants = ["+14155550201", "+14155550202"]
    create_on_page(driver, site, participants, "Voice 7")
    assert driver.find_element(By.ID, "cap-voice").is_selected()
    assert driver.find_element(By.ID, "cap-message").is_selected()
    assert not driver.find_element(By.ID, "record").is_selected()

    # Neither capability: refused on the page, and nothing typed is lost.
    driver.find_element(By.ID, "cap-voice").click()
    driver.find_element(By.ID, "cap-message").click()
    driver.find_element(By.ID, "create-submit").click()
    error = wait(driver, "the capabilities error", lambda b: (e := b.find_element(By.ID, "capabilities-error")).is_displayed() and e)
    assert error.text == "Choose at least one: voice calls, messages, or both."
    assert driver.switch_to.active_element.get_attribute("id") == "cap-voice"
    assert [driver.find_element(By.ID, f"address-{i}").get_attribute("value") for i in (0, 1)] == participants
    assert driver.find_element(By.ID, "friendly-name").get_attribute("value") == "Voice 7"
    assert driver.find_element(By.ID, "create-status").text == ""
    assert not driver.find_element(By.ID, "create-result").is_displayed()
    listed = api(site, "GET", "/sessions", params={"address": participants[0]})
    assert listed.status_code == 200 and listed.json()["sessions"] == [], "the page sent the request anyway"

    # Voice only, recorded: the API gets exactly that.
    driver.find_element(By.ID, "cap-voice").click()
    driver.find_element(By.ID, "record").click()
    sid = submit_create(driver)
    assert not driver.find_element(By.ID, "capabilities-error").is_displayed()
    session = api_session(site, sid)
    assert session["capabilities"] == ["voice"]
    assert session["record"] is True
    assert sorted(addresses_of(session)) == participants
    card = driver.find_element(By.CSS_SELECTOR, "#create-result .session")
    assert card.find_element(By.CSS_SELECTOR, ".facts").text == "Voice calls only · calls are recorded."
    assert_clean_console(driver)


def test_adds_and_removes_participants_of_a_live_session(driver, site):
    create_on_page(driver, site, ["+14155550211", "+14155550212"], "Ride 43")
    sid = submit_create(driver)
    card = driver.find_element(By.CSS_SELECTOR, "#create-result .session")
    field = card.find_element(By.CSS_SELECTOR, ".add-participant input")
    add = card.find_element(By.CSS_SELECTOR, ".add-participant button[type=submit]")
    error_slot = card.find_element(By.ID, field.get_attribute("aria-describedby"))
    assert card.find_element(By.CSS_SELECTOR, f"label[for='{field.get_attribute('id')}']").text == "Add a participant"

    # Nothing typed: said on the page, no request.
    add.click()
    wait(driver, "the empty-field message", lambda b: error_slot.is_displayed())
    assert error_slot.text == "Enter the number to add, such as +14155550101."

    # A number the API refuses: its words next to the field, the text kept.
    field.send_keys("+1415")
    add.click()
    wait(driver, "the API's message", lambda b: error_slot.text.startswith("New participant "))
    refused = api(site, "POST", f"/sessions/{sid}/participants", json={"address": "+1415"})
    assert refused.status_code == 400, refused.text
    problem = refused.json()["error"]
    assert problem["field"] == "address" and problem["message"].startswith("address ")
    assert error_slot.text == "New participant " + problem["message"][len("address ") :]
    assert field.get_attribute("value") == "+1415"
    assert field.get_attribute("aria-invalid") == "true"

    # Added: the list is read again and shows them; so does the API.
    field.clear()
    field.send_keys("+14155550213")
    add.click()
    wait(driver, "the third participant", lambda b: len(participant_rows(card)) == 3)
    assert shown_addresses(card) == addresses_of(api_session(site, sid))
    assert "+14155550213" in shown_addresses(card)
    assert card.find_element(By.CSS_SELECTOR, ".session-status").text == "Participant added."
    assert field.get_attribute("value") == "" and not error_slot.is_displayed()
    assert field.get_attribute("aria-invalid") is None

    # The same address again: the API's conflict, next to the field.
    field.send_keys("+14155550213")
    add.click()
    wait(driver, "the conflict", lambda b: error_slot.is_displayed())
    assert error_slot.text == "The address is already a participant of this session."
    assert field.get_attribute("value") == "+14155550213"
    field.clear()

    # Removed, after a confirmation.
    row = next(r for r in participant_rows(card) if r.find_element(By.TAG_NAME, "td").text == "+14155550213")
    row.find_element(By.CSS_SELECTOR, "button.remove-participant").click()
    assert "+14155550213" in driver.switch_to.alert.text
    driver.switch_to.alert.accept()
    wait(driver, "the list without them", lambda b: len(participant_rows(card)) == 2)
    assert sorted(shown_addresses(card)) == ["+14155550211", "+14155550212"]
    assert sorted(addresses_of(api_session(site, sid))) == ["+14155550211", "+14155550212"]
    assert card.find_element(By.CSS_SELECTOR, ".session-status").text == "Participant removed."

    # A session found by address is managed the same way, once read whole.
    fill(driver, "lookup-address", "+14155550211")
    driver.find_element(By.ID, "lookup-submit").click()
    listed = wait(driver, "the lookup result", lambda b: b.find_elements(By.CSS_SELECTOR, f"#lookup-results .session[data-sid='{sid}']"))[0]
    assert not listed.find_element(By.CSS_SELECTOR, ".add-participant").is_displayed()
    assert not listed.find_elements(By.CSS_SELECTOR, "button.remove-participant")
    listed.find_element(By.CSS_SELECTOR, "button.manage").click()
    wait(driver, "the managed list", lambda b: listed.find_elements(By.CSS_SELECTOR, "button.remove-participant"))
    assert not listed.find_elements(By.CSS_SELECTOR, "button.manage")
    headers = [th.text for th in listed.find_elements(By.CSS_SELECTOR, ".participants-table thead th")]
    assert headers == ["Participant", "Proxy number", "Channel", "Participant SID", "Actions"]
    listed_field = listed.find_element(By.CSS_SELECTOR, ".add-participant input")
    assert driver.switch_to.active_element == listed_field
    listed_field.send_keys("+14155550214")
    listed.find_element(By.CSS_SELECTOR, ".add-participant button[type=submit]").click()
    wait(driver, "the participant added from the lookup", lambda b: len(participant_rows(listed)) == 3)
    assert sorted(addresses_of(api_session(site, sid))) == ["+14155550211", "+14155550212", "+14155550214"]
    assert_clean_console(driver)


CALLS_PAGE_SIZE = 10  # page.js: CALLS_PAGE_SIZE


def calls_in_log(site, sid) -> list[dict]:
    response = api(site, "GET", f"/sessions/{sid}/interactions", params={"pageSize": 50})
    assert response.status_code == 200, response.text
    return response.json()["interactions"]


def logged_call(site, sid, call_sid) -> dict | None:
    return next((c for c in calls_in_log(site, sid) if c["call_sid"] == call_sid), None)


def call_through_the_emulator(driver, site, sid, caller, proxy, seconds) -> str:
    """A call from `caller` to their proxy, connected by our voice webhook and
    ended after `seconds`; returns once the call log has its end and recording."""
    placed = requests.post(f"{site.emulator}/_emulator/calls/place", json={"from": caller, "to": proxy}, timeout=60)
    assert placed.status_code == 200, placed.text
    assert "<Dial" in placed.json()["body"], placed.text
    call_sid = placed.headers["X-Call-Sid"]
    # The log entry is written after the webhook's answer: end the call only
    # once it is there, as a real call lasts longer than that.
    wait(driver, f"{call_sid} in the call log", lambda _: logged_call(site, sid, call_sid))
    ended = requests.post(
        f"{site.emulator}/_emulator/calls/complete", json={"call_sid": call_sid, "duration": seconds}, timeout=60
    )
    assert ended.status_code == 200, ended.text
    wait(
        driver,
        f"{call_sid} to end with its recording",
        lambda _: (c := logged_call(site, sid, call_sid)) and c["status"] == "completed" and c.get("recording_url"),
    )
    return call_sid


def shown_calls(card) -> list[str]:
    return [tr.get_attribute("data-call-sid") for tr in card.find_elements(By.CSS_SELECTOR, ".calls-table tbody tr")]


def test_lists_a_sessions_calls_newest_first(driver, site):
    create_on_page(driver, site, ["+14155550221", "+14155550222"], "Calls 1")
    driver.find_element(By.ID, "record").click()
    sid = submit_create(driver)
    card = driver.find_element(By.CSS_SELECTOR, "#create-result .session")
    session = api_session(site, sid)
    caller, callee = session["participants"]
    caller_proxy = caller["messaging_binding"]["proxy_address"]

    load = card.find_element(By.CSS_SELECTOR, "button.calls-load")
    load.click()
    note = card.find_element(By.CSS_SELECTOR, ".calls-note")
    wait(driver, "no calls yet", lambda b: note.is_displayed() and note.text == "No calls yet.")

    # One call more than a page, each of its own length.
    lengths = {
        call_through_the_emulator(driver, site, sid, caller["messaging_binding"]["address"], caller_proxy, seconds): seconds
        for seconds in range(5, 5 + CALLS_PAGE_SIZE + 1)
    }
    logged = calls_in_log(site, sid)
    assert {c["call_sid"] for c in logged} == set(lengths)
    assert len(logged) == CALLS_PAGE_SIZE + 1
    assert [c["started"] for c in logged] == sorted((c["started"] for c in logged), reverse=True)

    load.click()
    wait(driver, "the first page of calls", lambda b: len(shown_calls(card)) == CALLS_PAGE_SIZE)
    assert shown_calls(card) == [c["call_sid"] for c in logged[:CALLS_PAGE_SIZE]]
    assert not note.is_displayed()
    headers = [th.text for th in card.find_elements(By.CSS_SELECTOR, ".calls-table thead th")]
    assert headers == ["Started", "Caller → callee", "Duration", "Status", "Recording"]
    more = card.find_element(By.CSS_SELECTOR, "button.calls-more")
    assert more.is_displayed()
    more.click()
    wait(driver, "the second page of calls", lambda b: len(shown_calls(card)) == CALLS_PAGE_SIZE + 1)
    assert shown_calls(card) == [c["call_sid"] for c in logged]
    assert not more.is_displayed()

    # One row, cell by cell, against what the API says of that call.
    call = logged[0]
    row = card.find_element(By.CSS_SELECTOR, f".calls-table tr[data-call-sid='{call['call_sid']}']")
    started, parties, duration, status, recording = row.find_elements(By.TAG_NAME, "td")
    assert started.find_element(By.TAG_NAME, "time").get_attribute("datetime") == call["started"]
    short = lambda sid: f"{sid[:6]}…{sid[-4:]}"  # noqa: E731
    assert parties.text == (
        f"{caller_proxy} ({short(caller['sid'])}) → {callee['messaging_binding']['proxy_address']} ({short(callee['sid'])})"
    )
    named = parties.find_elements(By.CSS_SELECTOR, ".participant-sid")
    assert [n.get_attribute("title") for n in named] == [caller["sid"], callee["sid"]]
    assert call["duration"] == lengths[call["call_sid"]] and duration.text == f"{call['duration']} s"
    assert status.text == "completed"
    link = recording.find_element(By.TAG_NAME, "a")
    assert link.get_attribute("href") == call["recording_url"]
    assert link.get_attribute("rel") == "noopener noreferrer"
    # The call log names participants by sid, never by number.
    assert caller["messaging_binding"]["address"] not in card.find_element(By.CSS_SELECTOR, ".calls").text
    assert_clean_console(driver)
    full_page_screenshot(driver, ARTIFACTS / "landing-calls.png")


def test_sends_a_message_to_one_participant_and_logs_it_without_its_body(driver, site):
    create_on_page(driver, site, ["+14155550231", "+14155550232"], "Courier 7")
    sid = submit_create(driver)
    card = driver.find_element(By.CSS_SELECTOR, "#create-result .session")
    session = api_session(site, sid)
    recipient = next(p for p in session["participants"] if p["messaging_binding"]["address"] == "+14155550232")
    form = card.find_element(By.CSS_SELECTOR, ".send-message")
    text = form.find_element(By.TAG_NAME, "textarea")
    send = form.find_element(By.CSS_SELECTOR, "button[type=submit]")
    error_slot = card.find_element(By.ID, text.get_attribute("aria-describedby"))
    choices = [o.get_attribute("value") for o in form.find_elements(By.CSS_SELECTOR, "select option")]
    assert choices == [""] + [p["sid"] for p in session["participants"]], "everyone, then each participant"

    # Nothing written: said on the page, no request.
    send.click()
    wait(driver, "the empty-message hint", lambda b: error_slot.is_displayed())
    assert error_slot.text == "Write the message to send."
    assert calls_in_log(site, sid) == []

    body = "Your courier is 2 minutes away"
    form.find_element(By.CSS_SELECTOR, f"select option[value='{recipient['sid']}']").click()
    text.send_keys(body)
    send.click()
    status = card.find_element(By.CSS_SELECTOR, ".session-status")
    wait(driver, "the sent message", lambda b: status.text == "Message sent to 1 participant.")
    assert text.get_attribute("value") == ""

    # In the log (written after the answer): to the participant, by sid and
    # proxy; never the body.
    logged = wait(driver, "the logged message", lambda b: calls_in_log(site, sid))
    assert len(logged) == 1 and logged[0]["kind"] == "message", logged
    assert logged[0]["to"] == [{"participant": recipient["sid"], "proxy": recipient["messaging_binding"]["proxy_address"]}]
    card.find_element(By.CSS_SELECTOR, "button.calls-load").click()
    row = wait(driver, "the message row", lambda b: card.find_elements(By.CSS_SELECTOR, ".calls-table tr.message-row"))[0]
    assert row.get_attribute("data-message-sid") == logged[0]["message_sid"]
    cells = row.find_elements(By.TAG_NAME, "td")
    assert cells[1].text.startswith("Your backend → " + recipient["messaging_binding"]["proxy_address"])
    assert cells[3].text == "Message (sms)"
    assert body not in card.find_element(By.CSS_SELECTOR, ".calls").text
    assert_clean_console(driver)


def test_pool_chart_calls_out_a_number_near_exhaustion(driver, site):
    # One participant in three sessions holds each pool number once; the
    # others, new, all take the first number: it carries the pool.
    shared = "+14155550301"
    wait(driver, "the page's pool count", pool_settled)  # ours must not overlap it
    for partner in ("+14155550302", "+14155550303", "+14155550304"):
        create_via_api(site, [shared, partner])
    usage = pool_usage(site)
    assert all(usage[n] > 0 for n in site.pool), usage
    expected = near_exhaustion(usage)
    assert expected == {sorted(site.pool)[0]}, usage

    open_page(driver, site)
    wait(driver, "the chart of the current use", lambda b: charted(b) == usage)
    bars = pool_bars(driver)
    assert len(bars) == len(site.pool)
    flagged = {bar.get_attribute("data-number") for bar in bars if "near" in bar.get_attribute("class").split()}
    assert flagged == expected
    for bar in bars:
        number = bar.get_attribute("data-number")
        count = usage[number]
        assert bar.find_element(By.CSS_SELECTOR, ".bar-value").text == f"{count} participant{'s' if count != 1 else ''}"
        assert bool(bar.find_elements(By.CSS_SELECTOR, ".flag")) == (number in expected)
        # Bars scaled to the busiest.
        fill, track = driver.execute_script(
            "var b = arguments[0]; return [b.querySelector('.bar-fill').getBoundingClientRect().width,"
            " b.querySelector('.bar-track').getBoundingClientRect().width];",
            bar,
        )
        assert abs(fill - track * count / max(usage.values())) < 1.5, (number, fill, track)
    flag = driver.find_element(By.CSS_SELECTOR, "#pool-bars li.near .flag")
    assert flag.is_displayed() and flag.text == "near exhaustion"
    total = sum(usage.values())
    assert driver.find_element(By.ID, "pool-summary").text == (
        f"3 of 3 numbers in use · {total} participants in open sessions · 1 near exhaustion"
    )
    caption = driver.find_element(By.ID, "pool-caption").text
    assert "at least 80% of the busiest number's participants and at least 2× the pool's average" in caption

    # Refresh shows the pool as it is now.
    wait(driver, "the page's pool count", pool_settled)
    create_via_api(site, ["+14155550305", "+14155550306"])
    usage = pool_usage(site)
    driver.find_element(By.ID, "pool-refresh").click()
    wait(driver, "the refreshed chart", lambda b: charted(b) == usage)
    assert_clean_console(driver)


def test_without_the_index_says_what_is_not_counted(driver, site_without_index):
    site = site_without_index
    open_page(driver, site)
    uncounted = wait(driver, "the uncounted note", lambda b: (e := b.find_element(By.ID, "pool-uncounted")).is_displayed() and e)
    assert "without the session index" in uncounted.text
    assert not driver.find_element(By.ID, "pool-chart").is_displayed()
    assert not pool_bars(driver), "no bars of zeros"
    assert [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#pool li")] == sorted(site.pool)
    assert (api(site, "GET", "/pool").json()["counted"]) is False

    session = create_via_api(site, ["+14155550401", "+14155550402"])
    fill(driver, "lookup-address", "+14155550401")
    driver.find_element(By.ID, "lookup-submit").click()
    card = wait(
        driver,
        "the lookup result",
        lambda b: b.find_elements(By.CSS_SELECTOR, f"#lookup-results .session[data-sid='{session['sid']}']"),
    )[0]
    card.find_element(By.CSS_SELECTOR, "button.calls-load").click()
    note = card.find_element(By.CSS_SELECTOR, ".calls-note")
    wait(driver, "the sentence about the call log", lambda b: note.is_displayed())
    assert note.text == (
        "Calls are not listed here: the call log lives in the session index, and this stack runs without one."
    )
    assert not card.find_element(By.CSS_SELECTOR, ".calls .form-error").is_displayed()
    assert not card.find_element(By.CSS_SELECTOR, ".calls-table").is_displayed()
    refused = api(site, "GET", f"/sessions/{session['sid']}/interactions")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "index_required", refused.text
    assert_clean_console(driver)
    full_page_screenshot(driver, ARTIFACTS / "landing-without-index.png")
