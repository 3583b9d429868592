"""openapi.yaml, the description of our HTTP API, as a checker of the
answers the functions give (openapi-core).

    from support import api_spec             # tests/ on sys.path

    spec = api_spec.ApiSpec()                 # reads openapi.yaml once
    spec.check(response)                      # a requests.Response from our API
    spec.check_answer("POST", url, answer)    # an Answer recorded elsewhere (the emulator's webhooks)
    spec.operations()                         # {"POST /sessions", "GET /", ...}

    with api_spec.checking_requests(spec, "http://127.0.0.1:9000") as checked:
        ...                                   # every answer `requests` gets from that
                                              # base URL is checked; `checked` lists them

check() raises SpecMismatch (an AssertionError, so pytest shows it as a
failed assertion) naming the request, the status, the content type and every
way the answer differs from the document: no operation for the method and
path, an undocumented status or content type, a header or body that does not
validate against its schema.

Only our own answers are for this: the Twilio emulator's API and control
endpoints are described by Twilio, not by openapi.yaml.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Mapping

import requests
import yaml
from openapi_core import Config, OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse
from werkzeug.datastructures import Headers

REPO = Path(__file__).resolve().parents[2]
OPENAPI_YAML = REPO / "openapi.yaml"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class SpecMismatch(AssertionError):
    """An answer of ours that openapi.yaml does not describe."""


@dataclass(frozen=True)
class Answer:
    """An HTTP answer known only from a record (status, content type, body),
    in the shape openapi-core reads."""

    status_code: int
    content_type: str
    data: bytes
    headers: Headers = field(default_factory=Headers)


def _text(value: bytes, **parameters: str) -> str:
    """TwiML (text/xml) as text, so that its schema (a string with a
    pattern) applies; openapi-core would otherwise hand over bytes."""
    return value.decode(parameters.get("charset", "utf-8"))


class ApiSpec:
    def __init__(self, path: Path = OPENAPI_YAML):
        self.path = path
        self.document = yaml.safe_load(path.read_text())
        config = Config(extra_media_type_deserializers={"text/xml": _text})
        self.openapi = OpenAPI.from_dict(self.document, config=config)

    def operations(self) -> set[str]:
        """Every operation as an API Gateway route key, e.g. `POST /sessions`."""
        return {
            f"{method.upper()} {path}"
            for path, item in self.document["paths"].items()
            for method in item
            if method in HTTP_METHODS
        }

    def check(self, response: requests.Response) -> None:
        """Raises SpecMismatch unless openapi.yaml describes `response` as the
        answer to the request that got it."""
        self._check(
            RequestsOpenAPIRequest(response.request),
            RequestsOpenAPIResponse(response),
            status=response.status_code,
            content_type=response.headers.get("Content-Type", ""),
            body=response.content,
        )

    def check_answer(self, method: str, url: str, answer: Answer, form: Iterable[tuple[str, str]] = ()) -> None:
        """The same for an answer recorded elsewhere, to `method` on `url`
        (with `form` as its body)."""
        request = requests.Request(method, url, data=list(form) or None).prepare()
        self._check(
            RequestsOpenAPIRequest(request),
            answer,
            status=answer.status_code,
            content_type=answer.content_type,
            body=answer.data,
        )

    def _check(self, request: RequestsOpenAPIRequest, answer, *, status: int, content_type: str, body: bytes) -> None:
        errors = list(self.openapi.iter_response_errors(request, answer))
        if errors:
            raise SpecMismatch(
                f"{request.method.upper()} {request.path} answered {status} ({content_type or 'no Content-Type'}),"
                f" which {self.path.name} does not describe:\n"
                + "\n".join(f"  - {problem}" for problem in _problems(errors))
                + f"\nbody: {body[:600]!r}"
            )


def _problems(errors: Iterable[Exception]) -> list[str]:
    """Each error, with the schema violations openapi-core keeps as its cause."""
    lines = []
    for error in errors:
        text = str(error)
        name = type(error).__name__
        lines.append(_short(text if text.startswith(name) else f"{name}: {text}"))
        for violation in getattr(error.__cause__, "schema_errors", ()) or ():
            where = "/".join(str(p) for p in violation.absolute_path) or "(the body)"
            lines.append(_short(f"    at {where}: {violation.message}"))
    return lines


def _short(line: str, limit: int = 400) -> str:
    return line if len(line) <= limit else line[: limit - 3] + "..."


def answer_of(outcome: Mapping) -> Answer:
    """An Answer from what the Twilio emulator recorded of a webhook's
    answer: {"status", "content_type", "body"}."""
    return Answer(
        status_code=int(outcome["status"]),
        content_type=outcome.get("content_type") or "",
        data=(outcome.get("body") or "").encode(),
    )


@contextmanager
def checking_requests(spec: ApiSpec, base_url: str) -> Iterator[list[str]]:
    """While the block runs, every answer `requests` gets from `base_url`
    (module functions and sessions alike: they all send through
    requests.Session.send) is checked against openapi.yaml before the caller
    sees it, so an answer the document does not describe fails the test that
    asked for it. Yields the list of answers checked ("METHOD /path STATUS")."""
    checked: list[str] = []
    prefix = base_url.rstrip("/") + "/"
    send = requests.Session.send

    def checked_send(session: requests.Session, request: requests.PreparedRequest, **kwargs) -> requests.Response:
        response = send(session, request, **kwargs)
        if (request.url or "").startswith(prefix):
            checked.append(f"{request.method} {request.path_url} {response.status_code}")
            spec.check(response)
        return response

    requests.Session.send = checked_send
    try:
        yield checked
    finally:
        requests.Session.send = send
