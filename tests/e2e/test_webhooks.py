"""End-to-end: Twilio's webhooks through the real runtime loop. The emulator
plays Twilio: it signs and POSTs the inbound-call and conversation-event forms
to the `inbound-call` and `conversation-events` functions under
`cargo lambda watch`, which answer from what the `sessions` function created.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, urlencode

import requests

from conftest import settled_twilio_requests

# --------------------------------------------------------------------------
# helpers


def twilio_requests(emulator: str) -> list[dict]:
    """Every Twilio request so far, the after-answer work included."""
    return settled_twilio_requests(emulator)


def new_requests(emulator: str, before: list[dict]) -> list[dict]:
    """The Twilio requests recorded since `before` was read."""
    after = twilio_requests(emulator)
    assert after[: len(before)] == before, "the request log was cleared meanwhile"
    return after[len(before) :]


def calls(emulator: str) -> list[dict]:
    response = requests.get(f"{emulator}/_emulator/calls", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def conversations(emulator: str) -> dict[str, dict]:
    response = requests.get(f"{emulator}/_emulator/conversations", timeout=10)
    assert response.status_code == 200, response.text
    return {c["sid"]: c for c in response.json()}


def last_delivery(emulator: str, kind: str) -> dict:
    response = requests.get(f"{emulator}/_emulator/webhooks", timeout=10)
    assert response.status_code == 200, response.text
    deliveries = [d for d in response.json()["deliveries"] if d["kind"] == kind]
    assert deliveries, response.text
    return deliveries[-1]


def place_call(emulator: str, caller: str, dialled: str) -> dict:
    """The emulator's inbound call: what our voice webhook answered."""
    response = requests.post(
        f"{emulator}/_emulator/calls/place", json={"from": caller, "to": dialled}, timeout=60
    )
    assert response.status_code == 200, response.text
    return response.json()


def bindings(session: dict) -> list[tuple[str, str]]:
    """(address, proxy_address) of each participant, in the session's order."""
    return [
        (p["messaging_binding"]["address"], p["messaging_binding"]["proxy_address"])
        for p in session["participants"]
    ]


def twiml(outcome: dict) -> ET.Element:
    assert outcome["status"] == 200, outcome
    assert (outcome["content_type"] or "").split(";")[0].strip() == "text/xml", outcome
    root = ET.fromstring(outcome["body"].encode())
    assert root.tag == "Response", outcome["body"]
    return root


def summary(records: list[dict]) -> str:
    return json.dumps(
        [{k: r.get(k) for k in ("operation", "method", "path", "query", "status")} for r in records],
        indent=1,
    )


def emulator_like_form(account_sid: str, caller: str, dialled: str) -> list[tuple[str, str]]:
    return [
        ("AccountSid", account_sid),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", "CA" + "0" * 32),
        ("CallStatus", "ringing"),
        ("Called", dialled),
        ("Caller", caller),
        ("Direction", "inbound"),
        ("From", caller),
        ("To", dialled),
    ]


# --------------------------------------------------------------------------
# inbound calls


def test_call_in_a_two_party_session_dials_the_other_party(
    emulator, emulator_webhooks, create_session
):
    session = create_session(2)
    (a, a_proxy), (b, b_proxy) = bindings(session)
    before = twilio_requests(emulator)
    calls_before = calls(emulator)

    outcome = place_call(emulator, a, a_proxy)

    root = twiml(outcome)
    assert [child.tag for child in root] == ["Dial"], outcome["body"]
    dial = root[0]
    assert dial.attrib["callerId"] == b_proxy, outcome["body"]
    # The call log asks Twilio how the call ends.
    assert dial.attrib["action"].endswith(f"/call-events?session={session['sid']}"), outcome["body"]
    assert [(n.tag, n.text) for n in dial] == [("Number", b)], outcome["body"]

    made = new_requests(emulator, before)
    # The index names the session and Twilio confirms it (one read, whatever
    # the caller holds); after the answer the call log reads the
    # participants' sids once.
    assert [(r["operation"], r["method"]) for r in made] == [
        ("FetchConversation", "GET"),
        ("ListParticipants", "GET"),
    ], summary(made)
    assert all(session["sid"] in r["path"] for r in made), summary(made)
    assert calls(emulator) == calls_before, "a 1:1 call must not place outbound calls"


def test_call_in_a_group_rings_the_others_into_a_conference(
    emulator, emulator_webhooks, create_session
):
    (a, a_proxy), *others = bindings(create_session(3))
    before = twilio_requests(emulator)
    calls_before = calls(emulator)

    outcome = place_call(emulator, a, a_proxy)

    call_sid = dict(last_delivery(emulator, "voice")["params"])["CallSid"]
    room = f"mc-{call_sid}"
    root = twiml(outcome)
    assert [child.tag for child in root] == ["Dial"], outcome["body"]
    assert list(root[0].attrib) == ["action"], outcome["body"]
    assert [(c.tag, c.attrib, c.text) for c in root[0]] == [
        ("Conference", {"endConferenceOnExit": "true"}, room)
    ], outcome["body"]

    placed = calls(emulator)
    assert placed[: len(calls_before)] == calls_before
    rung = placed[len(calls_before) :]
    assert sorted((c["to"], c["from"]) for c in rung) == sorted(others), rung
    for call in rung:
        joined = ET.fromstring(call["twiml"].encode())
        assert [(e.tag, e.attrib) for e in joined] == [("Dial", {})], call["twiml"]
        assert [(c.tag, c.attrib, c.text) for c in joined[0]] == [
            ("Conference", {"endConferenceOnExit": "false"}, room)
        ], call["twiml"]

    made = new_requests(emulator, before)
    assert sorted(r["operation"] for r in made) == [
        "CreateCall",
        "CreateCall",
        "FetchConversation",
        "ListParticipants",
    ], summary(made)


def test_call_from_a_stranger_is_told_goodbye(
    emulator, emulator_webhooks, ssm_params, fresh_address
):
    before = twilio_requests(emulator)

    outcome = place_call(emulator, fresh_address(), ssm_params.number_pool[0])

    root = twiml(outcome)
    assert [child.tag for child in root] == ["Say", "Hangup"], outcome["body"]
    assert root[0].text, outcome["body"]
    made = new_requests(emulator, before)
    assert [r["operation"] for r in made] == ["ListParticipantConversations"], summary(made)


# --------------------------------------------------------------------------
# conversation events


def test_closing_a_conversation_deletes_it(emulator, emulator_webhooks, create_session):
    session = create_session(2)
    sid = session["sid"]
    assert sid in conversations(emulator)
    before = twilio_requests(emulator)

    response = requests.post(f"{emulator}/_emulator/conversations/{sid}/close", timeout=60)

    assert response.status_code == 200, response.text
    outcome = response.json()
    assert outcome["status"] == 200, outcome
    delivery = last_delivery(emulator, "events")
    assert delivery["url"] == emulator_webhooks["events_url"], delivery
    params = dict(delivery["params"])
    assert (params["EventType"], params["ConversationSid"], params["StateTo"]) == (
        "onConversationStateUpdated",
        sid,
        "closed",
    ), delivery
    assert sid not in conversations(emulator)
    made = new_requests(emulator, before)
    # Read first: only a conversation that is one of our sessions is deleted.
    assert [(r["operation"], r["method"]) for r in made] == [
        ("FetchConversation", "GET"),
        ("DeleteConversation", "DELETE"),
    ], summary(made)
    assert all(r["path"].endswith(f"/Conversations/{sid}") for r in made), summary(made)


# --------------------------------------------------------------------------
# forged webhooks


def test_forged_inbound_call_is_403_without_twilio_requests(
    lambda_watch, emulator, emulator_webhooks, ssm_params, create_session
):
    (a, a_proxy), _ = bindings(create_session(2))
    form = emulator_like_form(ssm_params.account_sid, a, a_proxy)
    before = twilio_requests(emulator)

    for headers in (
        {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJlIGF0IGFsbA=="},
        {"X-Twilio-Signature": ""},
        {},
    ):
        response = requests.post(
            f"{lambda_watch}/inbound-call",
            data=urlencode(form),
            headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
            timeout=60,
        )
        assert response.status_code == 403, (headers, response.status_code, response.text)
        assert "<Dial" not in response.text, response.text

    assert new_requests(emulator, before) == []


def test_forged_close_event_is_403_and_keeps_the_conversation(
    lambda_watch, emulator, emulator_webhooks, ssm_params, create_session
):
    sid = create_session(2)["sid"]
    form = [
        ("EventType", "onConversationStateUpdated"),
        ("AccountSid", ssm_params.account_sid),
        ("ConversationSid", sid),
        ("StateFrom", "active"),
        ("StateTo", "closed"),
        ("Reason", "API"),
    ]
    before = twilio_requests(emulator)

    response = requests.post(
        f"{lambda_watch}/conversation-events",
        data=urlencode(form),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJlIGF0IGFsbA==",
        },
        timeout=60,
    )

    assert response.status_code == 403, response.text
    assert new_requests(emulator, before) == []
    assert sid in conversations(emulator)
