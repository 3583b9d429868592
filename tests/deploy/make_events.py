#!/usr/bin/env python3
"""Writes events/*.json: API Gateway HTTP API (payload format 2.0) events, one
per case, for `cargo lambda invoke --data-file` and `sam local invoke -e`, and
events/env.json for `sam local invoke --env-vars`.

    .venv/bin/python tests/deploy/make_events.py          # rewrite the files
    .venv/bin/python tests/deploy/make_events.py --check  # fail if they differ

The sample values (Twilio account and auth token, pool, operator
credentials) are dev/local.env's. The Twilio webhook events carry an
X-Twilio-Signature computed with the official twilio library over
https://<domainName><path> and the form parameters, keyed by that auth token. The output is deterministic, so --check
(run by tests/deploy/test_events.py) catches hand edits that break a
signature.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path
from urllib.parse import quote, urlencode

from twilio.request_validator import RequestValidator

REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "events"



sys.path.insert(0, str(REPO / "dev"))
from params import read_env_file, string_list  # noqa: E402  (dev/params.py: dotenv syntax, pools)


def local_env() -> dict[str, str]:
    """dev/local.env: the sample configuration `make dev` runs with (the
    emulator's sample account, a sample pool, sample operator credentials)."""
    return read_env_file(REPO / "dev" / "local.env")


LOCAL = local_env()
ACCOUNT_SID = LOCAL["TWILIO_ACCOUNT_SID"]
AUTH_TOKEN = LOCAL["TWILIO_AUTH_TOKEN"]
POOL = string_list("NUMBER_POOL", LOCAL["NUMBER_POOL"]).split(",")
USERNAME = LOCAL["AUTH_USERNAME"]
PASSWORD = LOCAL["AUTH_PASSWORD"]
CONNECTING = LOCAL.get("CONNECTING_CALL_ANNOUNCEMENT", "")

API_ID = "a1b2c3d4e5"
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
DOMAIN = f"{API_ID}.execute-api.{REGION}.amazonaws.com"
TIME = "27/Nov/2026:12:00:00 +0000"
TIME_EPOCH = 1795780800000

# Participants and a session sid used by the samples. SESSION_SID is a
# placeholder that shared/tests/integration/events.rs replaces with a seeded session's sid.
ALICE = "+14155550101"
BOB = "+14155550102"
SESSION_SID = "CH7d1f0c5e2b9a4c3d8e6f1a2b3c4d5e6f"
CALL_SID = "CA5f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c"

BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"
CURL_UA = "curl/8.14.1"
TWILIO_UA = "TwilioProxy/1.1"
CLIENT_IP = "203.0.113.10"
TWILIO_IP = "54.172.60.3"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def event(
    n: int,
    method: str,
    route: str,
    path: str,
    *,
    headers: dict[str, str],
    query: dict[str, str] | None = None,
    path_parameters: dict[str, str] | None = None,
    body: bytes | None = None,
    base64_body: bool = False,
    source_ip: str = CLIENT_IP,
) -> dict:
    """One HTTP API payload 2.0 event, shaped as API Gateway sends it."""
    user_agent = headers.get("user-agent", "")
    all_headers = {
        **headers,
        "host": DOMAIN,
        "x-amzn-trace-id": f"Root=1-69283d80-0a1b2c3d4e5f60718293a4b{n}",
        "x-forwarded-for": source_ip,
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
    }
    if body is not None:
        all_headers["content-length"] = str(len(body))
    raw_query = urlencode(query or {}, quote_via=quote)
    out: dict = {
        "version": "2.0",
        "routeKey": f"{method} {route}",
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": dict(sorted(all_headers.items())),
    }
    if query:
        out["queryStringParameters"] = query
    out["requestContext"] = {
        "accountId": ACCOUNT_ID,
        "apiId": API_ID,
        "domainName": DOMAIN,
        "domainPrefix": API_ID,
        "http": {
            "method": method,
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": source_ip,
            "userAgent": user_agent,
        },
        "requestId": f"Ux7Qhj{n}AIAMEbXw=",
        "routeKey": f"{method} {route}",
        "stage": "$default",
        "time": TIME,
        "timeEpoch": TIME_EPOCH + n,
    }
    if path_parameters:
        out["pathParameters"] = path_parameters
    if body is not None:
        out["body"] = base64.b64encode(body).decode() if base64_body else body.decode()
    out["isBase64Encoded"] = base64_body
    return out


def twilio_webhook(n: int, path: str, params: list[tuple[str, str]]) -> dict:
    """A signed Twilio webhook POST (form body, base64 as HTTP APIs deliver it)."""
    url = f"https://{DOMAIN}{path}"
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, dict(params))
    body = urlencode(params).encode()
    return event(
        n,
        "POST",
        path,
        path,
        headers={
            "accept": "*/*",
            "cache-control": "max-age=259200",
            "content-type": "application/x-www-form-urlencoded; charset=utf-8",
            "i-twilio-idempotency-token": f"8a6f4c2e-1d3b-4f5a-9c7e-0b2d4f6a8c{n:02d}",
            "user-agent": TWILIO_UA,
            "x-home-region": "us1",
            "x-twilio-signature": signature,
        },
        body=body,
        base64_body=True,
        source_ip=TWILIO_IP,
    )


def operator_headers(**extra: str) -> dict[str, str]:
    return {"accept": "application/json", "authorization": basic(USERNAME, PASSWORD), "user-agent": CURL_UA, **extra}


def build() -> dict[str, object]:
    create_json = json.dumps({"addresses": [ALICE, BOB], "friendlyName": "Order 1042"}).encode()
    create_form = urlencode(
        [("address", ALICE), ("address", BOB), ("friendlyName", "Order 1043")]
    ).encode()
    files: dict[str, object] = {
        "landing-page-get.json": event(
            1,
            "GET",
            "/",
            "/",
            headers={
                "accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
                "accept-encoding": "gzip, deflate, br, zstd",
                "accept-language": "en-US,en;q=0.5",
                "authorization": basic(USERNAME, PASSWORD),
                "user-agent": BROWSER_UA,
            },
        ),
        "sessions-create-json.json": event(
            2,
            "POST",
            "/sessions",
            "/sessions",
            headers=operator_headers(**{"content-type": "application/json"}),
            body=create_json,
        ),
        "sessions-create-form.json": event(
            3,
            "POST",
            "/sessions",
            "/sessions",
            headers=operator_headers(**{"content-type": "application/x-www-form-urlencoded"}),
            body=create_form,
            base64_body=True,
        ),
        "sessions-create-unauthorised.json": event(
            4,
            "POST",
            "/sessions",
            "/sessions",
            headers={
                "accept": "application/json",
                "authorization": basic(USERNAME, "wrong-password"),
                "content-type": "application/json",
                "user-agent": CURL_UA,
            },
            body=create_json,
        ),
        "sessions-read.json": event(
            5,
            "GET",
            "/sessions/{sid}",
            f"/sessions/{SESSION_SID}",
            headers=operator_headers(),
            path_parameters={"sid": SESSION_SID},
        ),
        "sessions-list.json": event(
            6,
            "GET",
            "/sessions",
            "/sessions",
            headers=operator_headers(),
            query={"address": ALICE},
        ),
        "sessions-close.json": event(
            7,
            "DELETE",
            "/sessions/{sid}",
            f"/sessions/{SESSION_SID}",
            headers=operator_headers(),
            path_parameters={"sid": SESSION_SID},
        ),
        "inbound-call.json": twilio_webhook(
            8,
            "/inbound-call",
            [
                ("AccountSid", ACCOUNT_SID),
                ("ApiVersion", "2010-04-01"),
                ("CallSid", CALL_SID),
                ("CallStatus", "ringing"),
                ("Called", POOL[0]),
                ("CalledCountry", "US"),
                ("Caller", ALICE),
                ("CallerCountry", "US"),
                ("Direction", "inbound"),
                ("From", ALICE),
                ("FromCountry", "US"),
                ("To", POOL[0]),
                ("ToCountry", "US"),
            ],
        ),
        "conversation-closed.json": twilio_webhook(
            9,
            "/conversation-events",
            [
                ("AccountSid", ACCOUNT_SID),
                ("ChatServiceSid", "IS0123456789abcdef0123456789abcdef"),
                ("ConversationSid", SESSION_SID),
                ("EventType", "onConversationStateUpdated"),
                ("Reason", "TIMER"),
                ("RetryCount", "0"),
                ("Source", "SDK"),
                ("StateFrom", "inactive"),
                ("StateTo", "closed"),
                ("StateUpdated", "2026-11-27T12:00:00.000Z"),
            ],
        ),
    }
    # `sam local invoke --env-vars events/env.json` with ConfigSource=environment
    # (samconfig.toml [default.local_invoke]). The function runs in Docker, so
    # the emulator on the host (twilio-emulator serve --host 0.0.0.0 --port 4010)
    # is host.docker.internal; on Linux also pass
    # --add-host host.docker.internal:host-gateway.
    emulator = "http://host.docker.internal:4010"
    files["env.json"] = {
        "Parameters": {
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "NUMBER_POOL": ",".join(POOL),
            "AUTH_USERNAME": USERNAME,
            "AUTH_PASSWORD": PASSWORD,
            "PUBLIC_BASE_URL": "",
            "CONNECTING_CALL_ANNOUNCEMENT": CONNECTING,
            "CONFIG_TTL_SECONDS": "300",
            "TWILIO_CONVERSATIONS_URL": emulator,
            "TWILIO_API_URL": emulator,
        }
    }
    return files


def render(value: object) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args()
    files = build()
    stale = []
    for name, value in files.items():
        path = EVENTS / name
        text = render(value)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            EVENTS.mkdir(exist_ok=True)
            path.write_text(text)
    if args.check:
        extra = sorted(
            p.name for p in EVENTS.glob("*.json") if p.name not in files
        )
        if stale or extra:
            print(f"events/ is out of date: differs {stale}, unknown {extra}; "
                  "run tests/deploy/make_events.py", file=sys.stderr)
            return 1
        print(f"events/: {len(files)} files up to date")
    else:
        print(f"wrote {len(files)} files to {EVENTS.relative_to(REPO)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
