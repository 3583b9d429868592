"""End-to-end: every operation of openapi.yaml, answered by the real functions
under `cargo lambda watch`. Each test asserts what the answers say; their
shapes are checked against openapi.yaml by the suite's hook (conftest.py,
`checked_answers`) as they arrive, so an answer the document does not
describe fails the test that got it. The first tests show that the hook is
live and refuses what it must.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
import requests
from twilio.request_validator import RequestValidator

from conftest import settled_twilio_requests
from support.api_spec import SpecMismatch

SID_UNKNOWN = "CH" + "0" * 32
CALL_SID = "CA" + "1" * 32


@pytest.fixture
def api(lambda_watch, ssm_params):
    """`api(method, path, **kwargs)`: a request to the functions with the
    operator's credentials (pass auth=None to send none)."""

    def call(method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("auth", (ssm_params.username, ssm_params.password))
        kwargs.setdefault("timeout", 60)
        return requests.request(method, f"{lambda_watch}{path}", **kwargs)

    return call


@pytest.fixture
def webhook(lambda_watch, ssm_params):
    """`webhook(path_and_query, form, signed=True)`: a form POST as Twilio
    sends it, signed over the URL the functions know as theirs."""

    def post(path: str, form: dict[str, str], signed: bool = True) -> requests.Response:
        url = f"{ssm_params.public_base_url}{path}"
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if signed:
            headers["X-Twilio-Signature"] = RequestValidator(ssm_params.auth_token).compute_signature(url, form)
        return requests.post(f"{lambda_watch}{path}", data=form, headers=headers, timeout=60)

    return post


def error_of(response: requests.Response) -> dict:
    assert response.headers["content-type"] == "application/json", response.headers
    return response.json()["error"]


def twiml(response: requests.Response) -> ET.Element:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/xml", response.headers
    root = ET.fromstring(response.content)
    assert root.tag == "Response", response.text
    return root


# --------------------------------------------------------------------------
# the hook itself


def test_every_answer_from_the_functions_is_checked_and_the_emulators_are_not(api, emulator, checked_answers):
    before = len(checked_answers)

    assert api("GET", "/pool").status_code == 200
    assert requests.get(f"{emulator}/_emulator/requests", timeout=10).status_code == 200

    assert checked_answers[before:] == ["GET /pool 200"]


def test_an_answer_the_document_does_not_describe_fails_the_test_that_got_it(api):
    # Behind API Gateway there is no such route; a local run answers 405,
    # which openapi.yaml does not describe.
    with pytest.raises(SpecMismatch, match=r"(?s)PUT /sessions answered 405.*OperationNotFound"):
        api("PUT", "/sessions", json={})


def test_a_doctored_session_is_refused(api, api_spec, create_session):
    answer = api("GET", f"/sessions/{create_session(2)['sid']}")
    assert answer.status_code == 200  # the real one passed the hook
    real = answer.json()

    def doctored(change) -> requests.Response:
        body = json.loads(json.dumps(real))
        change(body)
        fake = requests.Response()
        fake.__dict__.update(answer.__dict__)
        fake._content = json.dumps(body).encode()
        return fake

    api_spec.check(doctored(lambda body: None))  # an unchanged copy passes
    for change in (
        lambda body: body.pop("sid"),
        lambda body: body.update(capabilities=["fax"]),
        lambda body: body.update(record="no"),
        lambda body: body["participants"][0].update(messaging_binding="+14155550101"),
        lambda body: body["participants"][0].pop("sid"),
    ):
        with pytest.raises(SpecMismatch):
            api_spec.check(doctored(change))


# --------------------------------------------------------------------------
# the operator page


def test_the_operator_page_and_the_pool(api, ssm_params):
    page = api("GET", "/?address=%2B14155550101&friendlyName=Order+4411")
    assert page.status_code == 200
    assert "+14155550101" in page.text and "Order 4411" in page.text

    challenged = api("GET", "/", auth=None)
    assert challenged.status_code == 401
    assert challenged.headers["www-authenticate"].startswith("Basic realm=")

    pool = api("GET", "/pool")
    assert pool.status_code == 200
    usage = pool.json()
    # The stack runs with the session index, which counts each number's sessions.
    assert usage["counted"] is True
    assert [u["number"] for u in usage["pool"]] == sorted(ssm_params.number_pool)
    assert all(isinstance(u["in_use"], int) and u["in_use"] >= 0 for u in usage["pool"]), usage
    assert api("GET", "/pool", auth=("e2e-operator", "wrong")).status_code == 401


# --------------------------------------------------------------------------
# the session API


def test_a_session_is_created_read_listed_changed_and_closed(api, fresh_address):
    a, b = fresh_address(), fresh_address()

    created = api("POST", "/sessions", json={"addresses": [a, b], "friendlyName": "Order 4411", "attributes": {"order": "4411"}})
    assert created.status_code == 201, created.text
    sid = created.json()["sid"]
    assert "idempotent-replayed" not in created.headers

    read = api("GET", f"/sessions/{sid}")
    assert read.status_code == 200
    assert read.json()["friendly_name"] == "Order 4411"
    assert sorted(p["messaging_binding"]["address"] for p in read.json()["participants"]) == sorted([a, b])

    listed = api("GET", "/sessions", params={"address": a, "pageSize": "1"})
    assert listed.status_code == 200
    assert [s["sid"] for s in listed.json()["sessions"]] == [sid]
    assert json.loads(listed.json()["sessions"][0]["attributes"]) == {"order": "4411"}

    changed = api(
        "PATCH",
        f"/sessions/{sid}",
        data=json.dumps({"friendlyName": "Order 4411 (moved)", "attributes": {"order": None, "slot": "14:00"}}),
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["friendly_name"] == "Order 4411 (moved)"

    closed = api("DELETE", f"/sessions/{sid}")
    assert closed.status_code == 204
    assert closed.content == b""
    # Closed, then deleted from Twilio (closed-conversations defaults to delete): nothing is left to read or list.
    assert api("GET", f"/sessions/{sid}").status_code == 404
    assert api("GET", "/sessions", params={"address": a, "state": "all"}).json()["sessions"] == []
    assert api("DELETE", f"/sessions/{sid}").status_code == 404


def test_a_form_creates_a_session_and_a_key_makes_a_retry_safe(api, fresh_address):
    a, b, c = fresh_address(), fresh_address(), fresh_address()

    form = api("POST", "/sessions", data=[("address", a), ("address", b), ("capabilities", "voice")])
    assert form.status_code == 201, form.text
    assert form.json()["capabilities"] == ["voice"]

    key = {"Idempotency-Key": f"e2e-{c}"}
    first = api("POST", "/sessions", json={"addresses": [c, a]}, headers=key)
    again = api("POST", "/sessions", json={"addresses": [c, a]}, headers=key)
    assert (first.status_code, again.status_code) == (201, 201), again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["sid"] == first.json()["sid"]

    other = api("POST", "/sessions", json={"addresses": [c, b]}, headers=key)
    assert other.status_code == 409
    assert error_of(other)["code"] == "idempotency_conflict"


def test_a_taken_unique_name_and_an_exhausted_pool_are_conflicts(api, ssm_params, fresh_address):
    name = {"uniqueName": f"e2e-{fresh_address()}"}
    assert api("POST", "/sessions", json={"addresses": [fresh_address()], **name}).status_code == 201
    taken = api("POST", "/sessions", json={"addresses": [fresh_address()], **name})
    assert taken.status_code == 409
    assert error_of(taken)["code"] == "unique_name_taken"

    # Each session holds one of the pool's numbers for `busy`: after one
    # session per number there is none left for a next one.
    busy = fresh_address()
    for _ in ssm_params.number_pool:
        assert api("POST", "/sessions", json={"addresses": [busy, fresh_address()]}).status_code == 201
    exhausted = api("POST", "/sessions", json={"addresses": [busy, fresh_address()]})
    assert exhausted.status_code == 409
    assert error_of(exhausted) | {"message": ""} == {"code": "pool_exhausted", "address": busy, "message": ""}


def test_participants_are_added_and_removed(api, create_session, fresh_address):
    sid = create_session(2)["sid"]
    newcomer = fresh_address()

    added = api("POST", f"/sessions/{sid}/participants", json={"address": newcomer})
    assert added.status_code == 201, added.text
    assert added.json()["messaging_binding"]["address"] == newcomer

    twice = api("POST", f"/sessions/{sid}/participants", data={"address": newcomer})
    assert twice.status_code == 409
    assert error_of(twice)["code"] == "participant_exists"

    participant = added.json()["sid"]
    assert api("DELETE", f"/sessions/{sid}/participants/{participant}").status_code == 204
    gone = api("DELETE", f"/sessions/{sid}/participants/{participant}")
    assert gone.status_code == 404
    assert error_of(gone)["code"] == "not_found"


def test_a_closed_session_refuses_changes(api, create_session, ssm_override, fresh_address):
    with ssm_override({"closed-conversations": "keep"}):
        sid = create_session(2)["sid"]
        assert api("DELETE", f"/sessions/{sid}").status_code == 204
        assert api("DELETE", f"/sessions/{sid}").status_code == 204  # closing twice is closing once

        for method, path, body in (
            ("PATCH", f"/sessions/{sid}", {"friendlyName": "too late"}),
            ("POST", f"/sessions/{sid}/participants", {"address": fresh_address()}),
        ):
            refused = api(method, path, json=body)
            assert refused.status_code == 409, (method, refused.text)
            assert error_of(refused)["code"] == "session_closed"
        assert api("GET", f"/sessions/{sid}").json()["state"] == "closed"


def test_the_call_log_lists_a_sessions_calls(api, create_session, emulator, emulator_webhooks):
    # (Without the session index the answer is 409 index_required:
    # shared/tests/integration/callbacks.rs.)
    session = create_session(2)
    sid = session["sid"]
    (a, a_proxy), (b, b_proxy) = [
        (p["messaging_binding"]["address"], p["messaging_binding"]["proxy_address"])
        for p in session["participants"]
    ]
    placed = requests.post(f"{emulator}/_emulator/calls/place", json={"from": a, "to": a_proxy}, timeout=60)
    assert placed.status_code == 200, placed.text
    settled_twilio_requests(emulator)  # the call log is written after the answer

    answer = api("GET", f"/sessions/{sid}/interactions", params={"pageSize": "5"})

    assert answer.status_code == 200, answer.text
    (call,) = answer.json()["interactions"]
    assert call["kind"] == "dial"
    assert call["from"]["proxy"] == a_proxy and [t["proxy"] for t in call["to"]] == [b_proxy]
    assert a not in answer.text and b not in answer.text, "the call log names no number but pool numbers"


BAD_REQUESTS = {
    # name: (method, path, request kwargs, status, code, field)
    "list without an address": ("GET", "/sessions", {}, 400, "invalid_request", "address"),
    "list with an unknown parameter": ("GET", "/sessions?address=%2B14155550101&sort=asc", {}, 400, "invalid_request", "query"),
    "list of an unknown state": ("GET", "/sessions?address=%2B14155550101&state=done", {}, 400, "invalid_request", "state"),
    "page size 0": ("GET", "/sessions?address=%2B14155550101&pageSize=0", {}, 400, "invalid_request", "pageSize"),
    "a cursor we never issued": ("GET", "/sessions?address=%2B14155550101&next=abc", {}, 400, "invalid_request", "next"),
    "a session sid of another kind": ("GET", "/sessions/MB00112233445566778899aabbccddeeff", {}, 400, "invalid_request", "sid"),
    "a participant sid of another kind": ("DELETE", f"/sessions/{SID_UNKNOWN}/participants/{SID_UNKNOWN}", {}, 400, "invalid_request", "participantSid"),
    "a pool number as participant": ("POST", "/sessions", {"json": {"addresses": ["+14155550101", "+15005550001"]}}, 400, "invalid_request", "addresses[1]"),
    "a timer under Twilio's minimum": ("POST", "/sessions", {"json": {"addresses": ["+14155550101"], "timers": {"closed": "PT1M"}}}, 400, "invalid_request", "timers.closed"),
    "an unknown field": ("POST", "/sessions", {"json": {"addresses": ["+14155550101"], "mode": "voice"}}, 400, "invalid_request", "body"),
    "a key with uniqueName": ("POST", "/sessions", {"json": {"addresses": ["+14155550101"], "uniqueName": "x"}, "headers": {"Idempotency-Key": "k"}}, 400, "invalid_request", "uniqueName"),
    "a patch that changes nothing": ("PATCH", f"/sessions/{SID_UNKNOWN}", {"json": {}}, 400, "invalid_request", "body"),
    "reopening": ("PATCH", f"/sessions/{SID_UNKNOWN}", {"json": {"state": "active"}}, 400, "invalid_request", "state"),
    "a body over 64 KiB": ("POST", "/sessions", {"data": "x" * 70_000, "headers": {"Content-Type": "application/json"}}, 413, "payload_too_large", None),
    "a text body": ("POST", "/sessions", {"data": "+14155550101", "headers": {"Content-Type": "text/plain"}}, 415, "unsupported_media_type", None),
    "a form patch": ("PATCH", f"/sessions/{SID_UNKNOWN}", {"data": {"friendlyName": "x"}}, 415, "unsupported_media_type", None),
    "another site's page": ("POST", "/sessions", {"json": {"addresses": ["+14155550101"]}, "headers": {"Origin": "https://evil.example"}}, 403, "cross_site_request", None),
    "another site's page, without credentials": ("DELETE", f"/sessions/{SID_UNKNOWN}", {"auth": None, "headers": {"Sec-Fetch-Site": "cross-site"}}, 403, "cross_site_request", None),
    "closing an unknown session": ("DELETE", f"/sessions/{SID_UNKNOWN}", {}, 404, "not_found", None),
    "adding to an unknown session": ("POST", f"/sessions/{SID_UNKNOWN}/participants", {"json": {"address": "+14155550101"}}, 404, "not_found", None),
    "no credentials": ("GET", "/sessions?address=%2B14155550101", {"auth": None}, 401, "unauthorized", None),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_the_api_refuses_bad_requests_as_documented(api, case):
    method, path, kwargs, status, code, field = BAD_REQUESTS[case]

    answer = api(method, path, **kwargs)

    assert answer.status_code == status, answer.text
    error = error_of(answer)
    assert error["code"] == code
    assert error.get("field") == field


# --------------------------------------------------------------------------
# the Twilio webhooks


def test_an_out_of_session_text_gets_the_reply(webhook, ssm_params, fresh_address):
    form = {
        "AccountSid": ssm_params.account_sid,
        "MessageSid": "SM" + "2" * 32,
        "From": fresh_address(),
        "To": ssm_params.number_pool[0],
        "Body": "hello?",
    }

    root = twiml(webhook("/inbound-message", form))

    assert [verb.tag for verb in root] == ["Message"]
    assert webhook("/inbound-message", form, signed=False).status_code == 403


@pytest.mark.parametrize("path", ["/inbound-call", "/proxypoc/inboundCall"])
def test_a_call_from_a_stranger_is_told_goodbye_at_both_paths(webhook, ssm_params, fresh_address, path):
    form = {
        "AccountSid": ssm_params.account_sid,
        "CallSid": CALL_SID,
        "From": fresh_address(),
        "To": ssm_params.number_pool[1],
        "Direction": "inbound",
    }

    root = twiml(webhook(path, form))

    assert [verb.tag for verb in root] == ["Say", "Hangup"]
    refused = webhook(path, form, signed=False)
    assert (refused.status_code, refused.text) == (403, "invalid signature")


def test_the_end_of_a_call_is_answered_with_hangup(webhook, create_session):
    sid = create_session(2)["sid"]
    form = {"CallSid": CALL_SID, "DialCallStatus": "completed", "DialCallDuration": "42"}

    root = twiml(webhook(f"/call-events?session={sid}", form))

    assert [verb.tag for verb in root] == ["Hangup"]
    without_session = webhook("/call-events", form)
    assert (without_session.status_code, without_session.text) == (400, "Bad Request")
    forged = webhook(f"/call-events?session={sid}", form, signed=False)
    assert (forged.status_code, forged.text) == (403, "Forbidden")


@pytest.mark.parametrize("path", ["/conversation-events", "/conversations-post-event"])
def test_conversation_events_are_answered_at_both_paths(webhook, ssm_params, path):
    unrelated = {"EventType": "onParticipantAdded", "AccountSid": ssm_params.account_sid, "ConversationSid": SID_UNKNOWN}
    answered = webhook(path, unrelated)
    assert (answered.status_code, answered.text) == (200, "OK")

    no_sid = {"EventType": "onConversationStateUpdated", "StateTo": "closed", "AccountSid": ssm_params.account_sid}
    refused = webhook(path, no_sid)
    assert (refused.status_code, refused.text) == (400, "Bad Request")

    forged = webhook(path, unrelated, signed=False)
    assert (forged.status_code, forged.text) == (403, "Forbidden")
