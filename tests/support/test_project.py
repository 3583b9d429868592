"""tests/support/project.py against facts stated elsewhere (dev/params.py,
cargo metadata, the README's required settings, template.yaml's routes), and
against broken facts files, so that a reader can neither return nothing nor
quietly misread; and the rule that no Python reads a Rust source.

    pytest tests/support
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from support import project
from support.project import ProjectFactError, parse_config_keys, parse_functions, parse_metrics, routes_in

REPO = Path(__file__).resolve().parents[2]


def dev_params_keys() -> list[tuple[str, str, str]]:
    """(env, ssm, SSM type) as dev/params.py, maintained by hand, writes them."""
    sys.path.insert(0, str(REPO / "dev"))
    try:
        import params
    finally:
        sys.path.remove(str(REPO / "dev"))
    return params.KEYS


# ---------------------------------------------------------------- config keys


def test_config_keys_match_what_make_params_writes():
    parsed = {(k.env, k.ssm, k.secret) for k in project.config_keys()}
    written = {(env, ssm, kind == "SecureString") for env, ssm, kind in dev_params_keys()}
    assert parsed == written
    assert len(project.config_keys()) == len(written) >= 16


def test_the_secrets_are_the_twilio_token_the_operator_password_the_event_signing_secret_and_the_reply_key():
    assert project.config_key("twilio/auth-token").secret
    assert project.config_key("twilio/auth-token").env == "TWILIO_AUTH_TOKEN"
    assert project.config_key("auth/password").secret
    assert {k.ssm for k in project.config_keys() if k.secret} == {
        "twilio/auth-token",
        "auth/password",
        "events/signing-secret",
        "reply-key",
    }
    with pytest.raises(ProjectFactError):
        project.config_key("no/such-key")


# ---------------------------------------------------------------- functions


def test_one_function_per_functions_member_named_after_its_directory():
    members = sorted(str(p.parent.relative_to(REPO)) for p in (REPO / "functions").glob("*/Cargo.toml"))
    functions = project.functions()
    assert sorted(f.directory for f in functions) == members
    assert {f.binary for f in functions} == {"sessions", "inbound-call", "conversation-events", "landing-page"}
    for f in functions:
        assert f.directory == f"functions/{f.binary}", f


def test_the_landing_page_reads_the_password_but_not_the_twilio_token():
    required, optional = project.function_keys("landing-page")
    ssm = {k.ssm for k in required + optional}
    assert "auth/password" in ssm
    assert "twilio/auth-token" not in ssm and "twilio/account-sid" not in ssm
    assert [k.ssm for k in project.function("landing-page").secret_keys] == ["auth/password"]


def test_the_session_api_requires_what_the_readme_calls_required():
    # docs/deployment.md, "1. Write the configuration": the five settings every deployment needs.
    required, optional = project.function_keys("sessions")
    assert {k.env for k in required} == {
        "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "NUMBER_POOL", "AUTH_USERNAME", "AUTH_PASSWORD",
    }
    assert optional, "sessions reads optional settings (pool choice, timers)"


def test_the_webhooks_need_the_twilio_token_to_check_signatures():
    for binary in ("inbound-call", "conversation-events"):
        required, _ = project.function_keys(binary)
        assert {k.ssm for k in required} >= {"twilio/account-sid", "twilio/auth-token"}, binary
        assert "auth/password" not in {k.ssm for k in project.function(binary).keys}, binary


def test_every_key_is_read_by_some_function():
    read = {k for f in project.functions() for k in f.keys}
    assert read == set(project.config_keys())


def test_unknown_binary_is_an_error():
    with pytest.raises(ProjectFactError, match="no-such"):
        project.function_keys("no-such")


# ---------------------------------------------------------------- routes and router


def cargo_binaries() -> set[str]:
    out = subprocess.run(
        ["cargo", "metadata", "--no-deps", "--format-version", "1"],
        cwd=REPO, capture_output=True, text=True, check=True,
    )
    metadata = json.loads(out.stdout)
    members = set(metadata["workspace_members"])
    return {
        t["name"]
        for p in metadata["packages"]
        if p["id"] in members
        for t in p["targets"]
        if "bin" in t["kind"]
    }


def test_every_route_is_served_by_a_workspace_binary():
    routes = project.routes()
    assert len(routes) >= 7
    binaries = cargo_binaries()
    for route in routes:
        assert route.binary in binaries, route
        assert route.key == f"{route.method} {route.path}"
        assert route.method in {"GET", "POST", "PUT", "PATCH", "DELETE"}
    served = {f.binary for f in project.functions()}
    assert {r.binary for r in routes} == served


def test_the_router_and_the_template_agree():
    router = project.router()
    assert router["/"] == "landing-page"
    assert {r.path for r in project.routes()} == set(router)
    for route in project.routes():
        assert router[route.path] == route.binary, route


def test_each_function_answers_exactly_the_routes_the_template_sends_it():
    """The handlers' route tables (through the facts) against template.yaml."""
    for f in project.functions():
        deployed = {r.key for r in project.routes() if r.binary == f.binary}
        assert {r.key for r in f.routes} == deployed, f.binary


def test_known_routes_are_found():
    keys = {r.key: r.binary for r in project.routes()}
    assert keys["POST /sessions"] == "sessions"
    assert keys["DELETE /sessions/{sid}"] == "sessions"
    assert keys["POST /inbound-call"] == "inbound-call"
    assert keys["GET /"] == "landing-page"


# ---------------------------------------------------------------- broken facts fail loudly

# A facts document in small, so that the cases below do not depend on today's facts.
SAMPLE = {
    "config": {
        "keys": [
            {"ssm": "twilio/auth-token", "env": "TWILIO_AUTH_TOKEN", "secret": True},
            {"ssm": "number-pool", "env": "NUMBER_POOL", "secret": False},
        ],
        "local_flag": "MASKED_COMMS_LOCAL",
    },
    "functions": {
        "sessions": {
            "routes": [{"method": "POST", "path": "/sessions"}],
            "required": ["twilio/auth-token"],
            "optional": ["number-pool"],
            "dynamodb": ["GetItem"],
        },
    },
    "metrics": {
        "namespace": "Sample",
        "metrics": [{"name": "Latency", "unit": "Milliseconds", "dimensions": ["Function"]}],
        "outcomes": ["Connected"],
        "function_name_env": "AWS_LAMBDA_FUNCTION_NAME",
    },
}


def sample(change=None) -> dict:
    document = json.loads(json.dumps(SAMPLE))
    if change:
        change(document)
    return document


def test_the_sample_reads_back():
    (f,) = parse_functions(sample(), ["functions/sessions"])
    assert f.binary == "sessions" and [r.key for r in f.routes] == ["POST /sessions"]
    assert [k.ssm for k in f.required] == ["twilio/auth-token"] and f.required[0].secret
    assert f.dynamodb == {"GetItem"}
    assert parse_metrics(sample()).metric("Latency").dimensions == ("Function",)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("functions"), "no `functions`"),
        (lambda d: d["config"].pop("keys"), "no `config.keys`"),
        (lambda d: d["config"]["keys"].append(dict(d["config"]["keys"][0], env="OTHER")), "share an `ssm`"),
        (lambda d: d["functions"]["sessions"].pop("routes"), "no `routes`"),
        (lambda d: d["functions"]["sessions"].update(routes=[]), "no routes"),
        (lambda d: d["functions"]["sessions"].update(optional=["no/such"]), "unknown keys"),
        (lambda d: d["functions"]["sessions"].update(optional=["twilio/auth-token"]), "twice"),
        (lambda d: d["functions"].update({"ghost": d["functions"]["sessions"]}), "ghost"),
        (lambda d: d["functions"].update({"other": d["functions"].pop("sessions")}), "no facts for sessions"),
    ],
)
def test_a_broken_facts_file_names_what_is_wrong(change, message):
    with pytest.raises(ProjectFactError, match=re.escape(message)):
        parse_functions(sample(change), ["functions/sessions"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["metrics"].pop("namespace"), "no `namespace`"),
        (lambda d: d["metrics"]["metrics"].append(d["metrics"]["metrics"][0]), "used twice"),
        (lambda d: d["metrics"].update(outcomes=["A", "A"]), "share a name"),
    ],
)
def test_broken_metrics_facts_name_what_is_wrong(change, message):
    with pytest.raises(ProjectFactError, match=re.escape(message)):
        parse_metrics(sample(change))


def test_stale_or_missing_facts_are_written_again(tmp_path, monkeypatch):
    """The file is written when missing, and again once a source is newer."""
    source = tmp_path / "src"
    source.mkdir()
    (source / "lib.txt").touch()
    facts_file = tmp_path / "facts.json"
    writes = []

    def write():
        writes.append(1)
        facts_file.write_text(json.dumps(SAMPLE))

    monkeypatch.setattr(project, "FACT_SOURCES", (source,))
    monkeypatch.setattr(project, "FACTS", facts_file)
    monkeypatch.setattr(project, "write_facts", write)
    for expected in (1, 1):  # missing: written; then fresh: read as it is
        project.facts.cache_clear()
        assert project.facts()["metrics"]["namespace"] == "Sample"
        assert len(writes) == expected
    later = facts_file.stat().st_mtime + 10
    os.utime(source / "lib.txt", (later, later))
    project.facts.cache_clear()
    project.facts()
    assert len(writes) == 2
    project.facts.cache_clear()


def test_a_template_without_routes_is_an_error():
    with pytest.raises(ProjectFactError, match="no HttpApi events"):
        routes_in({"Resources": {"Role": {"Type": "AWS::IAM::Role"}}})
    function = {
        "Type": "AWS::Serverless::Function",
        "Metadata": {"BuildProperties": {"Binary": "x"}},
        "Properties": {"Events": {"A": {"Type": "HttpApi", "Properties": {"Method": "get", "Path": "/"}},
                                  "B": {"Type": "HttpApi", "Properties": {"Method": "GET", "Path": "/"}}}},
    }
    with pytest.raises(ProjectFactError, match="declared twice"):
        routes_in({"Resources": {"F": function}})
    del function["Metadata"]
    with pytest.raises(ProjectFactError, match="Binary"):
        routes_in({"Resources": {"F": function}})


# ---------------------------------------------------------------- metrics


def test_the_metrics_are_what_the_issue_asks_for():
    catalogue = project.metrics()
    assert catalogue.namespace == "MaskedComms"
    names = [m.name for m in catalogue.metrics]
    assert len(names) == len(set(names)) >= 20
    for asked in ["SessionsCreated", "SessionsClosed", "PoolExhausted", "BindingFallbacks", "Calls",
                  "TwilioLatency", "TwilioErrors", "IndexHits", "IndexMisses", "IndexUnavailable", "Latency", "Errors4xx",
                  "Errors5xx", "Unauthorized", "InterceptLatency", "InterceptsAllowed", "InterceptsBlocked",
                  "InterceptsRewritten", "InterceptsFailed"]:
        assert asked in names
    assert catalogue.metric("Calls").dimensions == ("Function", "Outcome")
    assert {m.dimensions for m in catalogue.metrics if m.name != "Calls"} == {("Function",)}
    assert catalogue.metric("TwilioLatency").unit == catalogue.metric("Latency").unit == "Milliseconds"
    assert set(catalogue.outcomes) == {"Connected", "Conference", "OutOfSession", "MessageOnly",
                                       "NobodyDialable", "Apology", "Forwarded", "Rejected", "Blocked"}
    with pytest.raises(ProjectFactError, match="no metric"):
        catalogue.metric("Nope")


