"""openapi.yaml against the sources (template.yaml's routes, the cargo-lambda
router, the error codes the code states in the facts file), against itself (its
examples are answers it describes, its error codes sit under their statuses,
its phone numbers are documentation numbers), and its checker
(support/api_spec.py) against answers it must refuse.

    pytest tests/support
"""

from __future__ import annotations

import json
import re

import pytest

from support import project
from support.api_spec import Answer, ApiSpec, SpecMismatch

BASE = "http://127.0.0.1:9000"
SID = "CH00112233445566778899aabbccddeeff"
PARTICIPANT = "MB00112233445566778899aabbccddeeff"
TWIML_HANGUP = '<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>'


@pytest.fixture(scope="module")
def spec() -> ApiSpec:
    return ApiSpec()


def error(code: str, **extra) -> bytes:
    return json.dumps({"error": {"code": code, "message": "something", **extra}}).encode()


def check(spec: ApiSpec, method: str, path: str, status: int, content_type: str, body: bytes | str, headers=None):
    data = body.encode() if isinstance(body, str) else body
    answer = Answer(status, content_type, data)
    if headers:
        answer.headers.extend(headers)
    spec.check_answer(method, BASE + path, answer)


# ---------------------------------------------------------------- the document and the sources


def test_the_document_is_openapi_3_1(spec):
    assert spec.document["openapi"].startswith("3.1.")


def test_every_route_of_the_template_is_an_operation_and_back(spec):
    routes = {route.key for route in project.routes()}
    assert spec.operations() == routes


def test_the_local_router_serves_every_path_of_the_document(spec):
    assert set(spec.document["paths"]) == set(project.router())


def test_the_error_codes_are_those_the_code_states(spec):
    enum = spec.document["components"]["schemas"]["ErrorCode"]["enum"]
    assert len(enum) == len(set(enum))
    assert set(enum) == set(project.error_codes())


def error_code_table(spec) -> dict[str, int]:
    """code -> status, from the table in ErrorCode's description."""
    text = spec.document["components"]["schemas"]["ErrorCode"]["description"]
    return {code: int(status) for code, status in re.findall(r"^\| `(\w+)` \| (\d{3}) \|", text, flags=re.M)}


def test_the_error_code_table_lists_every_code_once(spec):
    enum = spec.document["components"]["schemas"]["ErrorCode"]["enum"]
    assert sorted(error_code_table(spec)) == sorted(enum)


def documented_codes(response: dict) -> set[str]:
    """The codes a JSON error response narrows `Error` to (allOf [Error, {code}])."""
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    found: set[str] = set()
    for part in schema.get("allOf", []):
        code = part.get("properties", {}).get("error", {}).get("properties", {}).get("code", {})
        found |= set(code.get("enum", [])) | ({code["const"]} if "const" in code else set())
    return found


def every_response(spec):
    """(operation, status, response object), references resolved."""
    components = spec.document["components"]["responses"]
    for path, item in spec.document["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            for status, response in operation["responses"].items():
                if "$ref" in response:
                    response = components[response["$ref"].rsplit("/", 1)[1]]
                yield f"{method.upper()} {path}", int(status), response


def test_every_error_response_names_codes_of_its_own_status(spec):
    table = error_code_table(spec)
    narrowed = 0
    for operation, status, response in every_response(spec):
        codes = documented_codes(response)
        wrong = {code: table.get(code) for code in codes if table.get(code) != status}
        assert not wrong, f"{operation} {status} lists codes of other statuses: {wrong}"
        narrowed += bool(codes)
    assert narrowed >= 50


def test_every_operation_of_the_api_and_page_answers_401_and_every_webhook_403(spec):
    for operation, status_codes in operations_and_statuses(spec).items():
        secured = spec_operation(spec, operation)["security"]
        if secured == [{"operatorBasicAuth": []}]:
            assert 401 in status_codes, operation
        else:
            assert secured == [{"twilioSignature": []}], operation
            assert 403 in status_codes, operation
        assert 429 in status_codes, operation


def spec_operation(spec, key: str) -> dict:
    method, path = key.split(" ", 1)
    return spec.document["paths"][path][method.lower()]


def operations_and_statuses(spec) -> dict[str, set[int]]:
    found: dict[str, set[int]] = {}
    for operation, status, _ in every_response(spec):
        found.setdefault(operation, set()).add(status)
    return found


# ---------------------------------------------------------------- the document's own examples


def examples_of(media: dict):
    if "example" in media:
        yield "example", media["example"]
    for name, example in media.get("examples", {}).items():
        yield name, example["value"]


def concrete(path: str) -> str:
    return path.replace("{sid}", SID).replace("{participantSid}", PARTICIPANT)


def test_every_response_example_is_an_answer_the_document_describes(spec):
    checked = 0
    for operation, status, response in every_response(spec):
        method, path = operation.split(" ", 1)
        for content_type, media in response.get("content", {}).items():
            for name, value in examples_of(media):
                body = value if isinstance(value, str) else json.dumps(value)
                headers = [("WWW-Authenticate", 'Basic realm="masked-comms", charset="UTF-8"')] if status == 401 else []
                check(spec, method, concrete(path), status, content_type, body, headers)
                checked += 1
    assert checked >= 5


def test_every_schema_example_fits_its_schema_as_a_response_body(spec):
    """The Session and PoolUsage examples, sent as the answers that return them."""
    schemas = spec.document["components"]["schemas"]
    check(spec, "GET", f"/sessions/{SID}", 200, "application/json", json.dumps(schemas["Session"]["example"]))
    check(spec, "GET", "/pool", 200, "application/json", json.dumps(schemas["PoolUsage"]["example"]))
    check(spec, "POST", "/sessions", 409, "application/json", json.dumps(schemas["Error"]["example"]))


DOCUMENTATION_NUMBER = re.compile(r"^(whatsapp:)?\+1(41555501\d\d|500555\d{4})$")


def test_the_phone_numbers_in_the_document_are_documentation_numbers(spec):
    text = spec.path.read_text()
    numbers = set(re.findall(r"(?:whatsapp:)?\+\d{7,15}", text))
    assert numbers, "no phone numbers found: the pattern no longer matches the document"
    assert {n for n in numbers if not DOCUMENTATION_NUMBER.match(n)} == set()


# ---------------------------------------------------------------- the checker


def test_the_checker_accepts_answers_the_document_describes(spec):
    check(spec, "GET", "/pool", 200, "application/json", '{"pool": [{"number": "+15005550001", "in_use": null}], "counted": false}')
    check(spec, "GET", f"/sessions/{SID}", 404, "application/json", error("not_found"))
    check(spec, "DELETE", f"/sessions/{SID}", 204, "", b"")
    check(spec, "POST", "/sessions", 400, "application/json", error("invalid_request", field="addresses[0]"))
    check(spec, "POST", "/inbound-call", 200, "text/xml", TWIML_HANGUP)
    check(spec, "POST", "/inbound-call", 403, "text/plain; charset=utf-8", "invalid signature")
    check(spec, "POST", "/conversations-post-event", 200, "text/plain; charset=utf-8", "OK")


WRONG_ANSWERS = {
    "a field of the wrong type": ("GET", "/pool", 200, "application/json", '{"pool": [{"number": "+15005550001", "in_use": "2"}], "counted": true}'),
    "a required field missing": ("GET", "/pool", 200, "application/json", '{"pool": []}'),
    "an undocumented field in our own shape": ("GET", "/pool", 200, "application/json", '{"pool": [], "counted": true, "extra": 1}'),
    "a session without its sid": ("POST", "/sessions", 201, "application/json", '{"unique_name": null, "attributes": "{}", "state": "active", "participants": [], "capabilities": ["voice"], "record": false}'),
    "a list item with a participant's number in the wrong shape": (
        "GET", "/sessions?address=%2B14155550101", 200, "application/json",
        json.dumps({"next": None, "sessions": [{
            "sid": SID, "unique_name": None, "friendly_name": None, "state": "active", "attributes": "{}",
            "timers": {}, "date_created": None, "date_updated": None, "capabilities": ["voice"], "record": False,
            "participants": [{"messaging_binding": {"type": "sms", "address": "4155550101", "proxy_address": "+15005550001"}}],
        }]}),
    ),
    "an error code the status does not give": ("GET", f"/sessions/{SID}", 404, "application/json", error("unauthorized")),
    "an error code that does not exist": ("GET", f"/sessions/{SID}", 404, "application/json", error("gone")),
    "invalid_request without its field": ("POST", "/sessions", 400, "application/json", error("invalid_request")),
    "a field on an error that has none": ("GET", f"/sessions/{SID}", 404, "application/json", error("not_found", field="sid")),
    "an undocumented status": ("GET", "/pool", 418, "application/json", "{}"),
    "an undocumented content type": ("GET", "/pool", 200, "text/plain", "ok"),
    "a body without a content type": ("GET", "/pool", 200, "", '{"pool": [], "counted": false}'),
    "an empty body where one is documented": ("POST", "/sessions", 415, "application/json", ""),
    "an undocumented method": ("PUT", "/sessions", 405, "application/json", error("method_not_allowed")),
    "an undocumented path": ("GET", "/sessions/x/y/z", 404, "application/json", error("not_found")),
    "401 without its challenge": ("GET", "/", 401, "application/json", error("unauthorized")),
    "TwiML without the XML declaration": ("POST", "/inbound-call", 200, "text/xml", "<Response><Hangup/></Response>"),
    "TwiML whose root is not Response": ("POST", "/inbound-message", 200, "text/xml", '<?xml version="1.0" encoding="UTF-8"?><Say>hi</Say>'),
    "a webhook refusal with another text": ("POST", "/call-events", 403, "text/plain; charset=utf-8", "invalid signature"),
}


@pytest.mark.parametrize("case", list(WRONG_ANSWERS))
def test_the_checker_refuses_answers_the_document_does_not_describe(spec, case):
    method, path, status, content_type, body = WRONG_ANSWERS[case]
    with pytest.raises(SpecMismatch) as refused:
        check(spec, method, path, status, content_type, body)
    assert f"answered {status}" in str(refused.value)


