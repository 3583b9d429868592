"""tests/support/project.py against facts stated elsewhere (dev/params.py,
cargo metadata, the README's required settings, the functions' own main.rs
naming), and against broken sources, so that the parser can neither return
nothing nor quietly misread.

    pytest tests/support
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from support import project
from support.project import ProjectFactError, parse_config_source, parse_metrics_source, routes_in

REPO = Path(__file__).resolve().parents[2]
CONFIG_RS = project.config_source()
METRICS_RS = (REPO / "shared" / "src" / "metrics" / "catalogue.rs").read_text()


def dev_params_keys() -> list[tuple[str, str, str]]:
    """(env, ssm, SSM type) as dev/params.py, maintained by hand, writes them."""
    sys.path.insert(0, str(REPO / "dev"))
    try:
        import params
    finally:
        sys.path.remove(str(REPO / "dev"))
    return params.KEYS


def kebab(variant: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", variant).lower()


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


def test_one_function_per_functions_member_named_after_its_variant():
    members = sorted(str(p.parent.relative_to(REPO)) for p in (REPO / "functions").glob("*/Cargo.toml"))
    functions = project.functions()
    assert sorted(f.directory for f in functions) == members
    assert {f.binary for f in functions} == {"sessions", "inbound-call", "conversation-events", "landing-page"}
    for f in functions:
        assert kebab(f.variant) == f.binary, f
        assert f"Function::{f.variant}" in (REPO / f.directory / "src" / "main.rs").read_text()


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


def test_known_routes_are_found():
    keys = {r.key: r.binary for r in project.routes()}
    assert keys["POST /sessions"] == "sessions"
    assert keys["DELETE /sessions/{sid}"] == "sessions"
    assert keys["POST /inbound-call"] == "inbound-call"
    assert keys["GET /"] == "landing-page"


# ---------------------------------------------------------------- broken sources fail loudly

# The shape of shared/src/config.rs in small, so that the cases below do not
# depend on today's exact text of the real file.
SAMPLE = """
pub mod key {
    pub struct Key { pub ssm: &'static str, pub env: &'static str, pub secret: bool }
    pub const TOKEN: Key = Key {
        ssm: "twilio/auth-token",
        env: "TWILIO_AUTH_TOKEN",
        secret: true,
    };
    pub const POOL: Key = Key { ssm: "number-pool", env: "NUMBER_POOL", secret: false };
    // pub const OLD: Key = Key { ssm: "old", env: "OLD", secret: false };
    pub const VOICE: Key = Key {
        ssm: "call/voice", // a comment { with a brace
        env: "CALL_ANNOUNCEMENT_VOICE",
        secret: false,
    };
    pub const ALL: [&Key; 3] = [&TOKEN, &POOL, &VOICE];
}

pub enum Function {
    Sessions,
    InboundCall,
    LandingPage,
}

impl Function {
    pub fn required(self) -> &'static [&'static Key] {
        use key::*;
        match self {
            Function::Sessions => &[&TOKEN, &POOL],
            Function::InboundCall => &[&TOKEN],
            Function::LandingPage => &[&POOL],
        }
    }

    pub fn optional(self) -> &'static [&'static Key] {
        use key::*;
        match self {
            Function::Sessions | Function::LandingPage => &[],
            // Function::InboundCall => &[&POOL],
            Function::InboundCall => &[&VOICE],
        }
    }
}
"""


def test_the_real_source_parses():
    parsed = parse_config_source(CONFIG_RS)
    assert parsed.variants == ("Sessions", "InboundCall", "ConversationEvents", "LandingPage")
    assert len(parsed.keys) == len(re.findall(r"pub const \w+: Key = Key \{", CONFIG_RS))


def test_the_sample_parses_with_shared_arms_and_comments():
    parsed = parse_config_source(SAMPLE)
    assert [k.name for k in parsed.keys] == ["TOKEN", "POOL", "VOICE"]
    assert parsed.keys[0] == project.ConfigKey("TOKEN", "twilio/auth-token", "TWILIO_AUTH_TOKEN", True)
    assert parsed.variants == ("Sessions", "InboundCall", "LandingPage")
    assert [k.name for k in parsed.required["Sessions"]] == ["TOKEN", "POOL"]
    assert parsed.optional["Sessions"] == parsed.optional["LandingPage"] == ()
    assert [k.name for k in parsed.optional["InboundCall"]] == ["VOICE"], "commented-out arms are no facts"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("pub mod key {", "pub mod keys {", "pub mod key"),
        ("pub enum Function", "pub enum Func", "pub enum Function"),
        ("pub fn optional(self)", "pub fn maybe(self)", "optional"),
        ("pub fn required(self)", "pub fn needed(self)", "required"),
        ("[&Key; 3]", "[&Key; 2]", "ALL"),
        ("[&TOKEN, &POOL, &VOICE]", "[&TOKEN, &POOL]", "ALL"),
        ("secret: true,", "secret: yes,", "TOKEN"),
        ('env: "NUMBER_POOL", ', "", "POOL"),
        ('ssm: "call/voice"', 'ssm: "number-pool"', "share"),
        ("Function::LandingPage => &[&POOL],", "Function::Nope => &[&POOL],", "Nope"),
        ("Function::InboundCall => &[&TOKEN],", "Function::InboundCall => &[&TOKENS],", "TOKENS"),
        ("Function::LandingPage => &[&POOL],", "", "LandingPage"),
        ("Function::LandingPage => &[&POOL],", "_ => &[&POOL],", "not understood"),
        ("Function::InboundCall => &[&VOICE],", "Function::InboundCall => &[&TOKEN],", "twice"),
        ("Function::InboundCall => &[&VOICE],", "Function::InboundCall | Function::Sessions => &[],", "twice"),
        ("    LandingPage,\n}", "    LandingPage(u8),\n}", "variants not understood"),
        ("pub const TOKEN: Key = Key {", "pub const TOKEN: Key = Key::new {", "understood"),
    ],
)
def test_a_broken_source_names_what_is_missing(old, new, message):
    assert SAMPLE.count(old) >= 1, "the case must apply to the sample"
    with pytest.raises(ProjectFactError, match=message):
        parse_config_source(SAMPLE.replace(old, new, 1))


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


# ---------------------------------------------------------------- metrics.rs


def test_the_real_metrics_source_parses_into_what_the_issue_asks_for():
    catalogue = project.metrics()
    assert catalogue.namespace == "MaskedComms"
    names = [m.name for m in catalogue.metrics]
    assert len(names) == len(re.findall(r"pub const \w+: Metric = Metric \{", METRICS_RS)) == 20
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


METRICS_SAMPLE = """
pub const NAMESPACE: &str = "Sample";
pub const FUNCTION: &str = "Function";
pub const OUTCOME: &str = "Outcome";

pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    pub const fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// Per request.
pub const LATENCY: Metric = Metric {
    name: "Latency",
    unit: Unit::Milliseconds, // a comment { with a brace
    dimensions: &[FUNCTION],
};
// pub const OLD: Metric = Metric { name: "Old", unit: Unit::Count, dimensions: &[] };
pub const CALLS: Metric = Metric { name: "Calls", unit: Unit::Count, dimensions: &[FUNCTION, OUTCOME] };

pub const ALL: [&Metric; 2] = [&LATENCY, &CALLS];

pub enum CallOutcome {
    /// Put through.
    Connected,
    Apology,
}

impl CallOutcome {
    pub const fn name(self) -> &'static str {
        match self {
            CallOutcome::Connected => "Connected",
            CallOutcome::Apology => "Apology",
        }
    }
}
"""


def test_the_metrics_sample_parses_without_its_comments():
    parsed = parse_metrics_source(METRICS_SAMPLE)
    assert parsed.namespace == "Sample"
    assert parsed.metrics == (
        project.Metric("Latency", "Milliseconds", ("Function",)),
        project.Metric("Calls", "Count", ("Function", "Outcome")),
    )
    assert parsed.outcomes == ("Connected", "Apology")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('pub const NAMESPACE: &str = "Sample";', "", "NAMESPACE"),
        ("[&Metric; 2]", "[&Metric; 3]", "ALL"),
        ("[&LATENCY, &CALLS]", "[&LATENCY]", "ALL"),
        ('name: "Calls"', 'name: "Latency"', "twice"),
        ('"Calls", unit: Unit::Count,', '"Calls", unit: Unit::Bytes,', "Bytes"),
        ("dimensions: &[FUNCTION, OUTCOME]", "dimensions: &[FUNCTION, ROUTE]", "ROUTE"),
        ('name: "Calls", ', "", "CALLS"),
        ("pub const CALLS: Metric = Metric {", "pub const CALLS: Metric = Metric::new {", "understood"),
        ('CallOutcome::Apology => "Apology",', "", "CallOutcome::name"),
        ('CallOutcome::Apology => "Apology",', 'CallOutcome::Apology => "Connected",', "share a name"),
        ('CallOutcome::Apology => "Apology",', '_ => "Apology",', "not understood"),
        ('Unit::Milliseconds => "Milliseconds",', "", "Unit::as_str"),
        ("    Apology,\n}", "    Apology(u8),\n}", "variants not understood"),
    ],
)
def test_a_broken_metrics_source_names_what_is_wrong(old, new, message):
    assert METRICS_SAMPLE.count(old) >= 1, "the case must apply to the sample"
    with pytest.raises(ProjectFactError, match=message):
        parse_metrics_source(METRICS_SAMPLE.replace(old, new, 1))
