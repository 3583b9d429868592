"""Twilio's official Python helper library (`twilio`) as the oracle for what
our functions do with webhooks under `cargo lambda watch`:

- signatures: forms signed with RequestValidator.compute_signature are
  accepted by /inbound-call, and any one-character change to the signature or
  to a value is refused;
- TwiML: the answers to the emulator's inbound calls equal, structurally, the
  documents VoiceResponse builds for the same verbs.

The announcement (<Say voice language>) variant changes SSM mid-run through
ssm_override: the functions reload configuration on every request here
(CONFIG_TTL_SECONDS=0), so no second watch instance is needed.
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, urlencode

import pytest
import requests
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Dial, VoiceResponse

from conftest import settled_twilio_requests

# --------------------------------------------------------------------------
# helpers


class Form(dict):
    """name -> [values]: a multi-valued form the way RequestValidator reads
    one (it calls getall(), as on Flask's MultiDict)."""

    def __init__(self, pairs):
        super().__init__()
        for name, value in pairs:
            self.setdefault(name, []).append(value)

    def getall(self, name):
        return self[name]


def sign(token: str, url: str, pairs) -> str:
    return RequestValidator(token).compute_signature(url, Form(pairs))


def post_form(url: str, pairs, signature: str | None) -> requests.Response:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    return requests.post(url, data=urlencode(pairs).encode(), headers=headers, timeout=60)


def twilio_requests(emulator: str) -> list[dict]:
    """Every Twilio request so far, the after-answer work included."""
    return settled_twilio_requests(emulator)


def new_requests(emulator: str, before: list[dict]) -> list[dict]:
    after = twilio_requests(emulator)
    assert after[: len(before)] == before, "the request log was cleared meanwhile"
    return after[len(before) :]


def webhook_deliveries(emulator: str) -> list[dict]:
    response = requests.get(f"{emulator}/_emulator/webhooks", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["deliveries"]


def place_call(emulator: str, caller: str, dialled: str) -> dict:
    response = requests.post(
        f"{emulator}/_emulator/calls/place", json={"from": caller, "to": dialled}, timeout=60
    )
    assert response.status_code == 200, response.text
    outcome = response.json()
    assert outcome["status"] == 200, outcome
    assert (outcome["content_type"] or "").split(";")[0].strip() == "text/xml", outcome
    return outcome


def bindings(session: dict) -> list[tuple[str, str]]:
    return [
        (p["messaging_binding"]["address"], p["messaging_binding"]["proxy_address"])
        for p in session["participants"]
    ]


def flip(text: str, index: int, alphabet: str) -> str:
    """text with the character at index replaced by another from alphabet."""
    replacement = next(c for c in alphabet if c != text[index])
    return text[:index] + replacement + text[index + 1 :]


BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="


def structure(element: ET.Element):
    """Tag, attributes, text, tail and children, recursively: two TwiML
    documents are the same when their structures are equal (attribute order,
    the XML declaration and the serialiser's spelling of empty elements do not
    matter)."""
    return (
        element.tag,
        dict(element.attrib),
        element.text or "",
        element.tail or "",
        [structure(child) for child in element],
    )


def assert_same_twiml(ours: str, expected: VoiceResponse):
    oracle = expected.to_xml()
    assert ours.startswith('<?xml version="1.0" encoding="UTF-8"?>'), ours
    assert structure(ET.fromstring(ours.encode())) == structure(
        ET.fromstring(oracle.encode())
    ), f"\nours:   {ours}\noracle: {oracle}"


# --------------------------------------------------------------------------
# the oracle itself: REFERENCE.md's vectors


REFERENCE_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"


def call_form(caller: str):
    return [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", caller),
        ("Digits", "1234"),
        ("From", caller),
        ("To", "+18005551212"),
    ]


def test_request_validator_reproduces_the_reference_vectors():
    v = RequestValidator("12345")
    assert v.compute_signature(REFERENCE_URL, Form(call_form("+12349013030"))) == (
        "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    )
    assert v.compute_signature(REFERENCE_URL, Form(call_form("+14158675309"))) == (
        "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    )
    assert v.compute_signature(
        "https://mycompany.com:443/myapp.php?foo=1&bar=2", Form(call_form("+14158675309"))
    ) == "kvajT1Ptam85bY51eRf/AJRuM3w="
    repeated = [
        ("Sid", "CA123"),
        ("SidAccount", "AC123"),
        ("Digits", "5678"),
        ("Digits", "1234"),
        ("Digits", "1234"),
    ]
    assert v.compute_signature(REFERENCE_URL, Form(repeated)) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="

    body = '{"property": "value", "boolean": true}'
    digest = hashlib.sha256(body.encode()).hexdigest()
    assert digest == "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
    assert v.compute_hash(body) == digest
    json_url = f"{REFERENCE_URL}&bodySHA256={digest}"
    assert v.compute_signature(json_url, {}) == "a9nBmqA0ju/hNViExpshrM61xv4="

    # validate(): either port form of the URL, nothing else.
    form = Form(call_form("+14158675309"))
    assert v.validate(REFERENCE_URL, form, "kvajT1Ptam85bY51eRf/AJRuM3w=")
    assert v.validate(
        "https://mycompany.com:443/myapp.php?foo=1&bar=2", form, "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    )
    assert not v.validate(REFERENCE_URL, form, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    assert not RequestValidator("54321").validate(REFERENCE_URL, form, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    assert v.validate(json_url, body, "a9nBmqA0ju/hNViExpshrM61xv4=")
    assert not v.validate(json_url, "{}", "a9nBmqA0ju/hNViExpshrM61xv4=")


def test_the_emulators_webhooks_are_signed_as_twilio_signs(
    emulator, emulator_webhooks, ssm_params, create_session
):
    """The emulator is our stand-in for Twilio: its signatures must be the
    official library's too (else the e2e tests would prove nothing)."""
    (a, a_proxy), _ = bindings(create_session(2))
    place_call(emulator, a, a_proxy)

    deliveries = webhook_deliveries(emulator)
    assert any(d["kind"] == "voice" for d in deliveries), deliveries
    v = RequestValidator(ssm_params.auth_token)
    for d in deliveries:
        pairs = [tuple(p) for p in d["params"]]
        assert d["signature"] == v.compute_signature(d["url"], Form(pairs)), d
        assert v.validate(d["url"], Form(pairs), d["signature"]), d


# --------------------------------------------------------------------------
# signatures, end to end


def inbound_form(account_sid: str, caller: str, dialled: str, **overrides):
    """Twilio's inbound-call form (as the emulator sends it), with overrides;
    an override of None drops the field."""
    pairs = [
        ("AccountSid", account_sid),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", "CA" + "1" * 32),
        ("CallStatus", "ringing"),
        ("Called", dialled),
        ("CalledCity", ""),
        ("CalledCountry", "US"),
        ("CalledState", ""),
        ("CalledZip", ""),
        ("Caller", caller),
        ("CallerCity", ""),
        ("CallerCountry", "US"),
        ("CallerState", "CA"),
        ("CallerZip", ""),
        ("Direction", "inbound"),
        ("From", caller),
        ("FromCity", ""),
        ("FromCountry", "US"),
        ("FromState", "CA"),
        ("FromZip", ""),
        ("To", dialled),
        ("ToCountry", "US"),
        ("ToState", ""),
    ]
    out = []
    for name, value in pairs:
        if name in overrides:
            value = overrides.pop(name)
            if value is None:
                continue
        out.append((name, value))
    out.extend(overrides.items())
    return out


# name -> (path and query below the public base URL, extra pairs, overrides)
SIGNED_CASES = {
    "plain": ("/inbound-call", [], {}),
    "repeated-keys": (
        "/inbound-call",
        [("Digits", "5678"), ("Digits", "1234"), ("Digits", "1234"), ("SipHeader", "b"), ("SipHeader", "a")],
        {},
    ),
    "unicode-values": (
        "/inbound-call",
        [("CallerName", "Zoë Ångström 東京 📞"), ("SpeechResult", "naïve café")],
        {"FromCity": "São Paulo", "CalledCity": "Zürich"},
    ),
    "empty-values": (
        "/inbound-call",
        [("ForwardedFrom", ""), ("CallerName", "")],
        {"CallStatus": "", "ToState": ""},
    ),
    "reserved-characters": (
        "/inbound-call",
        [("CallerName", "a+b c&d=e%20f?g#h/i\\j\"k'l<m>"), ("Note", "line1\nline2\ttab")],
        {},
    ),
    "query-string": ("/inbound-call?foo=1&bar=2", [], {}),
    "encoded-query-string": (
        "/inbound-call?name=J%C3%BCrgen&x=a+b&empty=&list=1&list=2",
        [("Digits", "42")],
        {},
    ),
}


@pytest.mark.parametrize("case", list(SIGNED_CASES))
def test_oracle_signed_forms_are_accepted_and_any_flip_is_refused(
    case, lambda_watch, emulator, ssm_params, fresh_address
):
    path, extra, overrides = SIGNED_CASES[case]
    caller, dialled = fresh_address(), ssm_params.number_pool[1]
    pairs = inbound_form(ssm_params.account_sid, caller, dialled, **overrides) + extra
    signed_url = f"{ssm_params.public_base_url}{path}"
    signature = sign(ssm_params.auth_token, signed_url, pairs)
    target = f"{lambda_watch}{path}"
    assert target == signed_url  # public-base-url is the watch itself

    before = twilio_requests(emulator)
    accepted = post_form(target, pairs, signature)
    assert accepted.status_code == 200, (case, accepted.status_code, accepted.text)
    assert accepted.headers["content-type"].split(";")[0] == "text/xml", accepted.headers
    root = ET.fromstring(accepted.content)
    # A stranger's call: the function looked the caller up (so it read the
    # form as sent) and said goodbye.
    assert [e.tag for e in root] == ["Say", "Hangup"], accepted.text
    made = new_requests(emulator, before)
    assert [r["operation"] for r in made] == ["ListParticipantConversations"], made
    assert parse_qs(made[0]["query"])["Address"] == [caller], made

    before = twilio_requests(emulator)
    refused = []
    for i in range(len(signature)):
        forged = flip(signature, i, BASE64)
        refused.append((f"signature[{i}]", post_form(target, pairs, forged).status_code))
    for j, (name, value) in enumerate(pairs):
        changed = flip(value, 0, "xy") if value else "x"
        forged_pairs = pairs[:j] + [(name, changed)] + pairs[j + 1 :]
        assert sign(ssm_params.auth_token, signed_url, forged_pairs) != signature
        refused.append((f"{name}={changed!r}", post_form(target, forged_pairs, signature).status_code))
    # The right signature for another URL, or for the form without its query.
    other = f"{ssm_params.public_base_url}/inbound-call?x=1"
    refused.append(("other url", post_form(target, pairs, sign(ssm_params.auth_token, other, pairs)).status_code))
    refused.append(("unsigned", post_form(target, pairs, None).status_code))

    wrong = [(what, status) for what, status in refused if status != 403]
    assert wrong == [], f"{case}: accepted or mishandled forgeries: {wrong}"
    assert new_requests(emulator, before) == []


PORT_CASES = [
    # (public-base-url in SSM, URL Twilio signed, accepted?)
    ("http://masked-comms.test", "http://masked-comms.test/inbound-call", True),
    ("http://masked-comms.test", "http://masked-comms.test:80/inbound-call", True),
    ("http://masked-comms.test", "http://masked-comms.test:80/inbound-call?foo=1&bar=2", True),
    ("http://masked-comms.test", "http://masked-comms.test:8080/inbound-call", False),
    ("http://masked-comms.test", "https://masked-comms.test/inbound-call", False),
    ("http://masked-comms.test:80", "http://masked-comms.test/inbound-call", True),
    ("http://masked-comms.test:80", "http://masked-comms.test:80/inbound-call", True),
    ("https://masked-comms.test", "https://masked-comms.test/inbound-call?foo=1&bar=2", True),
    ("https://masked-comms.test", "https://masked-comms.test:443/inbound-call?foo=1&bar=2", True),
    ("https://masked-comms.test:443", "https://masked-comms.test/inbound-call", True),
    ("https://masked-comms.test", "https://masked-comms.test:80/inbound-call", False),
    ("https://masked-comms.test", "http://masked-comms.test/inbound-call", False),
]


def test_default_port_forms_match_the_oracle(
    lambda_watch, emulator, ssm_params, ssm_override, fresh_address
):
    """Twilio's libraries accept a signature over the URL with or without the
    scheme's default port. Behind a public base URL without a port, our
    function must decide exactly as RequestValidator.validate does."""
    v = RequestValidator(ssm_params.auth_token)
    pairs = inbound_form(ssm_params.account_sid, fresh_address(), ssm_params.number_pool[2])
    results = []
    before = twilio_requests(emulator)
    for base, signed_url, expected in PORT_CASES:
        path = signed_url.split("/", 3)[3]
        requested = f"{base.rstrip('/')}/{path}"  # the URL Twilio requested
        signature = sign(ssm_params.auth_token, signed_url, pairs)
        assert v.validate(requested, Form(pairs), signature) is expected, (base, signed_url)
        with ssm_override({"public-base-url": base}):
            response = post_form(f"{lambda_watch}/{path}", pairs, signature)
        results.append((base, signed_url, response.status_code))
    assert results == [
        (base, signed_url, 200 if expected else 403) for base, signed_url, expected in PORT_CASES
    ]
    accepted = sum(1 for *_, expected in PORT_CASES if expected)
    assert len(new_requests(emulator, before)) == accepted

    # And the real base is back: the emulator's own calls validate again.
    response = post_form(
        f"{lambda_watch}/inbound-call",
        pairs,
        sign(ssm_params.auth_token, f"{ssm_params.public_base_url}/inbound-call", pairs),
    )
    assert response.status_code == 200, response.text


# --------------------------------------------------------------------------
# TwiML, end to end


def expected_connect(callee: str, callee_proxy: str, say=None, action=None) -> VoiceResponse:
    r = VoiceResponse()
    if say:
        r.say(say["text"], voice=say["voice"], language=say["language"])
    d = Dial(caller_id=callee_proxy, action=action)
    d.number(callee)
    r.append(d)
    return r


def expected_conference(room: str, say=None, action=None) -> VoiceResponse:
    r = VoiceResponse()
    if say:
        r.say(say["text"], voice=say["voice"], language=say["language"])
    d = Dial(action=action)
    d.conference(room, end_conference_on_exit=True)
    r.append(d)
    return r


def call_log_action(public_base_url: str, session: dict) -> str:
    """Where Twilio reports how a call of `session` ended: the call log
    (the stack runs with the session index) asks for it."""
    return f"{public_base_url}/call-events?session={session['sid']}"


def last_call_sid(emulator: str) -> str:
    voice = [d for d in webhook_deliveries(emulator) if d["kind"] == "voice"]
    assert voice
    return dict(voice[-1]["params"])["CallSid"]


ANNOUNCEMENT = {
    "text": "Connecting you <now> & \"then\" — ¡olé!",
    "voice": "Polly.Amy",
    "language": "en-GB",
}


@pytest.fixture(params=["plain", "announced"])
def announcement(request, ssm_override):
    """No announcement, or call/connecting-announcement with call/voice and
    call/language set in SSM for the test."""
    if request.param == "plain":
        with ssm_override(
            {"call/connecting-announcement": None, "call/voice": None, "call/language": None}
        ):
            yield None
    else:
        with ssm_override(
            {
                "call/connecting-announcement": ANNOUNCEMENT["text"],
                "call/voice": ANNOUNCEMENT["voice"],
                "call/language": ANNOUNCEMENT["language"],
            }
        ):
            yield ANNOUNCEMENT


def test_one_to_one_twiml_matches_voice_response(
    emulator, emulator_webhooks, create_session, announcement, ssm_params
):
    session = create_session(2)
    (a, a_proxy), (b, b_proxy) = bindings(session)

    outcome = place_call(emulator, a, a_proxy)

    action = call_log_action(ssm_params.public_base_url, session)
    assert_same_twiml(outcome["body"], expected_connect(b, b_proxy, announcement, action))


def test_conference_twiml_matches_voice_response(
    emulator, emulator_webhooks, create_session, announcement, ssm_params
):
    session = create_session(3)
    (a, a_proxy), *_ = bindings(session)

    outcome = place_call(emulator, a, a_proxy)

    room = f"mc-{last_call_sid(emulator)}"
    action = call_log_action(ssm_params.public_base_url, session)
    assert_same_twiml(outcome["body"], expected_conference(room, announcement, action))


def test_out_of_session_twiml_matches_voice_response(
    emulator, emulator_webhooks, ssm_params, ssm_override, fresh_address
):
    message = "This number is not in use. Goodbye & thanks."
    with ssm_override(
        {
            "call/out-of-session-message": message,
            "call/voice": "Polly.Joanna",
            "call/language": "en-US",
        }
    ):
        outcome = place_call(emulator, fresh_address(), ssm_params.number_pool[0])
    r = VoiceResponse()
    r.say(message, voice="Polly.Joanna", language="en-US")
    r.hangup()
    assert_same_twiml(outcome["body"], r)


def test_structure_comparison_notices_differences():
    """The comparison the TwiML tests rely on is not vacuous."""
    a = expected_connect("+14155550102", "+15005550002")
    assert_same_twiml(a.to_xml(), expected_connect("+14155550102", "+15005550002"))
    for different in (
        expected_connect("+14155550103", "+15005550002"),
        expected_connect("+14155550102", "+15005550003"),
        expected_conference("room"),
        expected_connect("+14155550102", "+15005550002", ANNOUNCEMENT),
        expected_connect("+14155550102", "+15005550002", action="https://x.example/call-events"),
    ):
        with pytest.raises(AssertionError):
            assert_same_twiml(a.to_xml(), different)
    # Attribute order and the declaration's quoting do not matter.
    assert structure(ET.fromstring(b'<Response><Say voice="v" language="l">t</Say></Response>')) == (
        structure(ET.fromstring(b"<?xml version='1.0'?><Response><Say language=\"l\" voice=\"v\">t</Say></Response>"))
    )
