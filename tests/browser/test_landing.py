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


def open_page(browser, site):
    browser.get(authed(site) + "/")
    wait(browser, "the create form", lambda b: b.find_elements(By.ID, "create-form"))


def rows(browser):
    return browser.find_elements(By.CSS_SELECTOR, "#address-rows li.row")


def fill(browser, element_id, value):
    field = browser.find_element(By.ID, element_id)
    field.clear()
    field.send_keys(value)


def test_page_loads_with_its_script_and_style_under_the_csp(driver, site):
    open_page(driver, site)
    assert driver.title == "masked-comms · sessions"
    shown = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#pool li")]
    assert shown == sorted(site.pool)
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
    driver.get(
        authed(site)
        + "/?address=%2B14155550199&address=whatsapp%3A%2B447700900123&address=%2B14155550198"
        + "&friendlyName="
        + quote(hostile)
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
        lambda b: b.find_elements(By.CSS_SELECTOR, "#create-result table tbody tr"),
    )
    cells = [[td.text for td in tr.find_elements(By.TAG_NAME, "td")] for tr in table_rows]
    assert [c[0] for c in cells] == participants
    for address, proxy, channel in cells:
        assert proxy in site.pool, (address, proxy)
        assert channel == "sms"
    headers = [th.text for th in driver.find_elements(By.CSS_SELECTOR, "#create-result thead th")]
    assert headers == ["Participant", "Proxy number", "Channel"]
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
    assert card.find_element(By.CSS_SELECTOR, "[role=status]").text == "Session closed."

    # Closed for the API too: open sessions no longer list it, all sessions do.
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
    assert ("Ride 42", "closed") in titles()
    assert_clean_console(driver)
