"""The real `sessions` binary, under the real Lambda runtime loop, at the most
verbose log level the stack allows, writes no participant number and no
credential to its log.

The runtime crate logs each raw event at TRACE and HTTP stacks log headers
at DEBUG; both carry the numbers and the operator's basic-auth login. This
drives the built binary through a Lambda Runtime API stand-in (the same
protocol Lambda speaks), so it checks the process exactly as deployed.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

from conftest import REPO, TARGET_DIR, free_port

RUNTIME = "/2018-06-01/runtime"
A = "+14155559871"
B = "+14155559872"


def most_verbose_level_allowed() -> str:
    """The most verbose `LogLevel` template.yaml lets an operator choose."""

    class CloudFormation(yaml.SafeLoader):
        pass

    # !Ref, !Sub, ... are plain values for this purpose.
    CloudFormation.add_multi_constructor("!", lambda loader, suffix, node: None)
    template = yaml.load((REPO / "template.yaml").read_text(), Loader=CloudFormation)
    allowed = template["Parameters"]["LogLevel"]["AllowedValues"]
    order = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]
    return min(allowed, key=order.index)


EXTENSIONS = "/2020-01-01/extension"


class RuntimeApi:
    """Hands out one event, then collects the function's answer. Plays the
    Extensions API too, as Lambda does: an internal extension registers
    during init and is handed the same INVOKE event."""

    def __init__(self, event: dict):
        self.event = json.dumps(event).encode()
        self.answers: list[tuple[str, bytes]] = []
        self.handed_out = False
        self.registered: list[str] = []
        self.extension_invokes = 0
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def send_json(self, status: int, body: dict, headers: dict[str, str] | None = None):
                data = json.dumps(body).encode()
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path == f"{EXTENSIONS}/event/next":
                    if api.extension_invokes:
                        # One event only, as for the runtime.
                        time.sleep(30)
                        self.send_error(500)
                        return
                    # The INVOKE reaches the extension once the runtime has it.
                    while not api.handed_out:
                        time.sleep(0.05)
                    api.extension_invokes += 1
                    self.send_json(200, {
                        "eventType": "INVOKE",
                        "deadlineMs": int(time.time() * 1000) + 60_000,
                        "requestId": "req-trace-1",
                        "invokedFunctionArn": "arn:aws:lambda:us-east-1:000000000000:function:sessions",
                        "tracing": {"type": "X-Amzn-Trace-Id", "value": "Root=1-00000000-000000000000000000000000"},
                    })
                    return
                if self.path != f"{RUNTIME}/invocation/next":
                    self.send_error(404)
                    return
                if api.handed_out:
                    # One event only: the function waits here until stopped.
                    time.sleep(30)
                    self.send_error(500)
                    return
                api.handed_out = True
                self.send_response(200)
                self.send_header("Lambda-Runtime-Aws-Request-Id", "req-trace-1")
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 60_000))
                self.send_header(
                    "Lambda-Runtime-Invoked-Function-Arn",
                    "arn:aws:lambda:us-east-1:000000000000:function:sessions",
                )
                self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
                self.send_header("Content-Length", str(len(api.event)))
                self.end_headers()
                self.wfile.write(api.event)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if self.path == f"{EXTENSIONS}/register":
                    api.registered.append(self.headers.get("Lambda-Extension-Name", ""))
                    self.send_json(
                        200,
                        {"functionName": "sessions", "functionVersion": "$LATEST", "handler": "bootstrap"},
                        {"Lambda-Extension-Identifier": "ext-1"},
                    )
                    return
                if self.path.startswith(EXTENSIONS):
                    self.send_error(404)
                    return
                api.answers.append((self.path, body))
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for_answer(self, timeout: float) -> tuple[str, bytes]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.answers:
                return self.answers[0]
            time.sleep(0.05)
        raise AssertionError("the function did not answer its invocation")

    def close(self):
        self.server.shutdown()


def create_event(username: str, password: str) -> dict:
    login = base64.b64encode(f"{username}:{password}".encode()).decode()
    domain = "abc123.execute-api.us-east-1.amazonaws.com"
    return {
        "version": "2.0",
        "routeKey": "POST /sessions",
        "rawPath": "/sessions",
        "rawQueryString": "",
        "headers": {
            "authorization": f"Basic {login}",
            "content-type": "application/json",
            "host": domain,
            "x-forwarded-proto": "https",
        },
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "abc123",
            "domainName": domain,
            "domainPrefix": "abc123",
            "http": {
                "method": "POST",
                "path": "/sessions",
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.9",
                "userAgent": "curl/8",
            },
            "requestId": "gw-req-1",
            "routeKey": "POST /sessions",
            "stage": "$default",
            "time": "02/Dec/2026:10:00:00 +0000",
            "timeEpoch": 1796205600000,
        },
        "body": json.dumps({"addresses": [A, B], "friendlyName": "trace test"}),
        "isBase64Encoded": False,
    }


def test_the_real_binary_at_the_most_verbose_level_logs_no_number_or_credential(
    lambda_watch, emulator, ssm_params
):
    # lambda_watch has built target/debug/sessions; it is run here directly.
    binary = TARGET_DIR / "debug" / "sessions"
    assert binary.exists(), binary
    level = most_verbose_level_allowed()
    assert level == "TRACE", f"the template allows down to {level}"
    api = RuntimeApi(create_event(ssm_params.username, ssm_params.password))
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{api.port}",
        "AWS_LAMBDA_FUNCTION_NAME": "sessions",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_LOG_LEVEL": level,
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "TWILIO_ACCOUNT_SID": ssm_params.account_sid,
        "TWILIO_AUTH_TOKEN": ssm_params.auth_token,
        "NUMBER_POOL": ",".join(ssm_params.number_pool),
        "AUTH_USERNAME": ssm_params.username,
        "AUTH_PASSWORD": ssm_params.password,
        "TWILIO_CONVERSATIONS_URL": emulator,
        "TWILIO_API_URL": emulator,
    }
    process = subprocess.Popen(
        [str(binary)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        path, body = api.wait_for_answer(timeout=60)
    finally:
        process.terminate()
        log, _ = process.communicate(timeout=10)
        api.close()
    log = log.decode(errors="replace")

    assert path.endswith("/response"), (path, body)
    # Registered during init like any internal extension, and handed the invoke.
    assert api.registered == ["masked-comms-after-answer"], api.registered
    assert api.extension_invokes == 1
    answer = json.loads(body)
    assert answer["statusCode"] == 201, answer
    lines = log.splitlines()
    assert any('"route":"/sessions"' in line for line in lines), log
    assert any('"level":"TRACE"' in line or '"level":"DEBUG"' in line for line in lines), (
        "the level really was verbose:\n" + log
    )
    login = base64.b64encode(f"{ssm_params.username}:{ssm_params.password}".encode()).decode()
    proxies = [
        p["messaging_binding"]["proxy_address"] for p in json.loads(answer["body"])["participants"]
    ]
    for secret in [A, B, A[2:], B[2:], ssm_params.password, login, ssm_params.auth_token, *proxies]:
        assert secret not in log, f"the log holds {secret[:3]}…:\n{log}"
    assert not re.search(r"\+1\d{10}", log), log
    # The invocation's metrics: one Embedded Metric Format line on stdout,
    # named after the function as Lambda names it.
    documents = [d for d in map(json_or_none, lines) if isinstance(d, dict) and "_aws" in d]
    assert len(documents) == 1, log
    (document,) = documents
    assert document["Function"] == "sessions"
    assert document["SessionsCreated"] == 1
    assert document["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "MaskedComms"
    assert "requestId" not in document, "the stand-in's request id is no UUID"


def json_or_none(line: str):
    try:
        return json.loads(line)
    except ValueError:
        return None
