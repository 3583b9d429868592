"""events/*.json: generated (so their signatures stay right), shaped like
API Gateway HTTP API payload 2.0 events for the routes template.yaml declares,
and signed as Twilio signs (checked with the official twilio library)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from urllib.parse import parse_qsl

import pytest
from twilio.request_validator import RequestValidator

from deploy_support import REPO, api_routes

sys.path.insert(0, str(REPO / "dev"))
import params  # noqa: E402  (dev/params.py)

EVENTS = REPO / "events"
EVENT_FILES = sorted(p.name for p in EVENTS.glob("*.json") if p.name != "env.json")


def load(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def test_files_are_what_make_events_writes():
    done = subprocess.run(
        [sys.executable, str(REPO / "tests" / "deploy" / "make_events.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("name", EVENT_FILES)
def test_event_is_an_http_api_v2_event_for_a_declared_route(name, template):
    event = load(name)
    context = event["requestContext"]
    assert event["version"] == "2.0"
    assert context["stage"] == "$default"
    method = context["http"]["method"]
    assert event["routeKey"] == context["routeKey"]
    route_method, route_path = event["routeKey"].split(" ", 1)
    assert route_method == method
    assert (method, route_path) in api_routes(template), f"{name}: {event['routeKey']} is not a route"
    assert event["rawPath"] == context["http"]["path"]
    assert event["headers"]["host"] == context["domainName"]
    assert context["domainName"].startswith(context["apiId"] + ".execute-api.")
    if "{sid}" in route_path:
        assert event["rawPath"] == route_path.replace("{sid}", event["pathParameters"]["sid"])
    else:
        assert event["rawPath"] == route_path
    if "body" in event:
        body = base64.b64decode(event["body"]) if event["isBase64Encoded"] else event["body"].encode()
        assert event["headers"]["content-length"] == str(len(body))
        if event["headers"]["content-type"].startswith("application/x-www-form-urlencoded"):
            assert event["isBase64Encoded"] is True, "HTTP APIs base64-encode form bodies"


@pytest.mark.parametrize("name", ["inbound-call.json", "conversation-closed.json"])
def test_webhook_events_carry_a_valid_twilio_signature(name):
    event = load(name)
    token = json.loads((EVENTS / "env.json").read_text())["Parameters"]["TWILIO_AUTH_TOKEN"]
    url = f"https://{event['requestContext']['domainName']}{event['rawPath']}"
    params = dict(parse_qsl(base64.b64decode(event["body"]).decode(), keep_blank_values=True))
    signature = event["headers"]["x-twilio-signature"]
    assert RequestValidator(token).validate(url, params, signature)
    assert not RequestValidator("another-token").validate(url, params, signature)


def test_env_json_matches_the_local_sample_configuration():
    """events/env.json holds the same sample values as dev/local.env (the
    emulator's account, the pool, the operator credentials)."""
    env = json.loads((EVENTS / "env.json").read_text())["Parameters"]
    local_env = params.read_env_file(REPO / "dev" / "local.env")
    for key in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "AUTH_USERNAME", "AUTH_PASSWORD"):
        assert env[key] == local_env[key], key
    assert params.string_list("P", env["NUMBER_POOL"]) == params.string_list("P", local_env["NUMBER_POOL"])
    assert all(isinstance(v, str) for v in env.values()), "sam wants string values"
