"""Project facts, so that no test lists them by hand.

From the files that state them:
    routes()               every HttpApi event in template.yaml (method, path,
                           function logical id, binary)
    router()               the `cargo lambda watch` router in the root Cargo.toml

From the code, through target/facts/facts.json (written by
`cargo run -p masked-comms --bin facts`, shared/src/facts.rs; no Python
reads a Rust source):
    facts()                the whole document
    config_keys()          every configuration key (SSM name, environment
                           variable, secret, shortest accepted value)
    functions()            each function binary with its routes, the keys it
                           reads and the DynamoDB actions its code uses
    function_keys(binary)  (required, optional) for one binary
    metrics()              the CloudWatch metrics the functions emit
    error_codes()          every `code` an API error answer can carry

The facts file is written again when it is missing or older than any file
under shared/ or functions/ (their modification times, not their text).
Whatever is missing from it raises ProjectFactError naming it. Only
routes() needs PyYAML (imported when called), so suites whose venv lacks it
(tests/browser) can use the rest.

Usage from any suite under tests/ (with tests/ on sys.path):

    from support import project
    project.function_keys("landing-page")
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"
CARGO_TOML = REPO / "Cargo.toml"
FACTS = REPO / "target" / "facts" / "facts.json"
# What the facts are derived from: a change here makes the file stale.
FACT_SOURCES = (REPO / "shared", REPO / "functions", CARGO_TOML)


class ProjectFactError(Exception):
    """A fact the code was expected to state was not found (or is inconsistent)."""


@dataclass(frozen=True)
class ConfigKey:
    ssm: str  # below the SSM prefix, e.g. twilio/auth-token
    env: str  # the environment variable, e.g. TWILIO_AUTH_TOKEN
    secret: bool  # a SecureString
    min_chars: int | None = None  # the shortest value the functions accept


@dataclass(frozen=True)
class CodeRoute:
    method: str
    path: str

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class Function:
    binary: str  # the cargo binary, e.g. inbound-call
    directory: str  # the workspace member, e.g. functions/inbound-call
    routes: tuple[CodeRoute, ...]  # as its handler's route table states them
    required: tuple[ConfigKey, ...]
    optional: tuple[ConfigKey, ...]
    dynamodb: frozenset[str]  # actions on the session index

    @property
    def keys(self) -> tuple[ConfigKey, ...]:
        return self.required + self.optional

    @property
    def secret_keys(self) -> tuple[ConfigKey, ...]:
        return tuple(k for k in self.keys if k.secret)


@dataclass(frozen=True)
class Route:
    method: str  # upper case, e.g. POST
    path: str  # e.g. /sessions/{sid}
    logical_id: str  # the function's logical id in template.yaml
    binary: str  # Metadata.BuildProperties.Binary
    event: str  # the event's name under Events

    @property
    def key(self) -> str:
        """The API Gateway route key, e.g. `POST /sessions`."""
        return f"{self.method} {self.path}"


# ---------------------------------------------------------------- template.yaml


def load_template(path: Path = TEMPLATE) -> dict:
    """template.yaml with its short-form tags in long form (!Ref X ->
    {"Ref": X}, !GetAtt A.B -> {"Fn::GetAtt": [A, B]}, !Sub s -> {"Fn::Sub": s})."""
    try:
        import yaml
    except ImportError as e:  # pragma: no cover - depends on the suite's venv
        raise ProjectFactError(f"reading {path.name} needs PyYAML ({e})") from e

    class Loader(yaml.SafeLoader):
        pass

    def tagged(loader, suffix, node):
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        if suffix == "Ref":
            return {"Ref": value}
        if suffix == "Condition":
            return {"Condition": value}
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
        return {f"Fn::{suffix}": value}

    Loader.add_multi_constructor("!", tagged)
    template = yaml.load(path.read_text(), Loader=Loader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(template, dict) or not isinstance(template.get("Resources"), dict):
        raise ProjectFactError(f"{path}: no Resources mapping")
    return template


def routes_in(template: dict) -> tuple[Route, ...]:
    """Every HttpApi event of every AWS::Serverless::Function in `template`."""
    found: list[Route] = []
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        try:
            binary = resource["Metadata"]["BuildProperties"]["Binary"]
        except (KeyError, TypeError):
            raise ProjectFactError(f"{logical_id}: no Metadata.BuildProperties.Binary") from None
        for event_name, event in (resource.get("Properties", {}).get("Events") or {}).items():
            if event.get("Type") != "HttpApi":
                continue
            props = event.get("Properties") or {}
            if "Method" not in props or "Path" not in props:
                raise ProjectFactError(f"{logical_id}.{event_name}: HttpApi event without Method and Path")
            found.append(Route(props["Method"].upper(), props["Path"], logical_id, binary, event_name))
    if not found:
        raise ProjectFactError("template.yaml: no HttpApi events")
    keys = [r.key for r in found]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise ProjectFactError(f"template.yaml: routes declared twice: {duplicates}")
    return tuple(found)


@functools.cache
def routes() -> tuple[Route, ...]:
    return routes_in(load_template())


# ---------------------------------------------------------------- Cargo.toml


def router() -> dict[str, str]:
    """Path -> binary from [workspace.metadata.lambda.watch.router] (a fresh copy)."""
    return dict(_router())


@functools.cache
def _router() -> dict[str, str]:
    cargo = tomllib.loads(CARGO_TOML.read_text())
    try:
        table = cargo["workspace"]["metadata"]["lambda"]["watch"]["router"]
    except KeyError:
        raise ProjectFactError("Cargo.toml: no [workspace.metadata.lambda.watch.router]") from None
    if not table:
        raise ProjectFactError("Cargo.toml: the cargo-lambda router is empty")
    return dict(table)


def _function_members() -> list[str]:
    cargo = tomllib.loads(CARGO_TOML.read_text())
    members = [m for m in cargo.get("workspace", {}).get("members", []) if m.startswith("functions/")]
    if not members:
        raise ProjectFactError("Cargo.toml: no functions/* workspace members")
    return members


# ---------------------------------------------------------------- target/facts/facts.json


def _newest_source_mtime() -> float:
    newest = 0.0
    for source in FACT_SOURCES:
        if source.is_file():
            newest = max(newest, source.stat().st_mtime)
            continue
        for directory, dirs, files in os.walk(source):
            dirs[:] = [d for d in dirs if d != "target"]
            for name in files:
                newest = max(newest, os.stat(os.path.join(directory, name)).st_mtime)
    return newest


def write_facts() -> None:
    """Has the code write its facts (shared/src/bin/facts.rs; it links the
    library the functions build, so a warm build takes seconds)."""
    done = subprocess.run(
        ["cargo", "run", "-q", "-p", "masked-comms", "--bin", "facts", "--", str(FACTS)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    if done.returncode != 0 or not FACTS.exists():
        raise ProjectFactError(f"`cargo run -p masked-comms --bin facts` failed:\n{done.stdout[-3000:]}")


@functools.cache
def facts() -> dict:
    """The facts document, written again first when it is missing or stale."""
    if not FACTS.exists() or FACTS.stat().st_mtime < _newest_source_mtime():
        write_facts()
    return json.loads(FACTS.read_text())


def section(document: dict, *path: str):
    """document[path[0]][path[1]]..., or ProjectFactError naming what is missing."""
    value = document
    for i, name in enumerate(path):
        if not isinstance(value, dict) or name not in value:
            raise ProjectFactError(f"facts.json: no `{'.'.join(path[: i + 1])}`")
        value = value[name]
    return value


def parse_config_keys(document: dict) -> tuple[ConfigKey, ...]:
    keys = tuple(
        ConfigKey(k["ssm"], k["env"], bool(k["secret"]), k.get("min_chars")) for k in section(document, "config", "keys")
    )
    if not keys:
        raise ProjectFactError("facts.json: config.keys is empty")
    for field in ("ssm", "env"):
        values = [getattr(k, field) for k in keys]
        if len(set(values)) != len(values):
            raise ProjectFactError(f"facts.json: two keys share an `{field}` name")
    return keys


def parse_functions(document: dict, members: list[str]) -> tuple[Function, ...]:
    """Each functions/* member's binary with what the facts say of it; a
    member the facts do not name, or facts of no member, is an error."""
    keys = {k.ssm: k for k in parse_config_keys(document)}
    stated = section(document, "functions")

    def resolve(binary: str, names: list[str]) -> tuple[ConfigKey, ...]:
        unknown = [n for n in names if n not in keys]
        if unknown:
            raise ProjectFactError(f"facts.json: {binary} reads unknown keys {unknown}")
        return tuple(keys[n] for n in names)

    result = []
    for member in members:
        binary = _binary_of(REPO / member)
        if binary not in stated:
            raise ProjectFactError(f"facts.json: no facts for {binary} ({member})")
        f = stated[binary]
        routes = tuple(CodeRoute(r["method"], r["path"]) for r in section(f, "routes"))
        if not routes:
            raise ProjectFactError(f"facts.json: {binary} has no routes")
        required, optional = resolve(binary, section(f, "required")), resolve(binary, section(f, "optional"))
        listed = [k.ssm for k in required + optional]
        if len(set(listed)) != len(listed):
            raise ProjectFactError(f"facts.json: {binary} lists a key twice (or as required and optional)")
        result.append(Function(binary, member, routes, required, optional, frozenset(section(f, "dynamodb"))))
    extra = set(stated) - {f.binary for f in result}
    if extra:
        raise ProjectFactError(f"facts.json: facts for {sorted(extra)}, which no functions/* member builds")
    return tuple(result)


def config_keys() -> tuple[ConfigKey, ...]:
    """Every configuration key, in the catalogue's order."""
    return parse_config_keys(facts())


def config_key(ssm: str) -> ConfigKey:
    """The key whose SSM name (below the prefix) is `ssm`."""
    for key in config_keys():
        if key.ssm == ssm:
            return key
    raise ProjectFactError(f"no configuration key with ssm name {ssm!r}")


def local_flag() -> str:
    """The environment variable whose `1` marks a local run."""
    return section(facts(), "config", "local_flag")


def budgets() -> dict[str, int]:
    """The seconds an invocation may spend (`request_secs`, `rollback_secs`)."""
    return section(facts(), "budgets")


# ---------------------------------------------------------------- functions/*


def _binary_of(directory: Path) -> str:
    manifest = tomllib.loads((directory / "Cargo.toml").read_text())
    bins = manifest.get("bin", [])
    if len(bins) > 1:
        raise ProjectFactError(f"{directory.relative_to(REPO)}: more than one [[bin]]")
    name = bins[0].get("name") if bins else None
    return name or manifest["package"]["name"]


@functools.cache
def functions() -> tuple[Function, ...]:
    """Each functions/* workspace member's binary, with its facts."""
    return parse_functions(facts(), _function_members())


def function(binary: str) -> Function:
    for f in functions():
        if f.binary == binary:
            return f
    raise ProjectFactError(f"no function binary {binary!r} (have {[f.binary for f in functions()]})")


def function_keys(binary: str) -> tuple[tuple[ConfigKey, ...], tuple[ConfigKey, ...]]:
    """(required, optional) configuration keys the binary reads."""
    f = function(binary)
    return f.required, f.optional


# ---------------------------------------------------------------- metrics


@dataclass(frozen=True)
class Metric:
    name: str  # e.g. SessionsCreated
    unit: str  # as CloudWatch spells it, e.g. Count
    dimensions: tuple[str, ...]  # dimension keys, e.g. ("Function", "Outcome")


@dataclass(frozen=True)
class MetricsCatalogue:
    namespace: str
    metrics: tuple[Metric, ...]
    outcomes: tuple[str, ...]  # the values of the Outcome dimension (CallOutcome::name)
    function_name_env: str  # where Lambda gives the Function dimension's value

    def metric(self, name: str) -> Metric:
        for metric in self.metrics:
            if metric.name == name:
                return metric
        raise ProjectFactError(f"no metric {name!r} (have {[m.name for m in self.metrics]})")


def parse_metrics(document: dict) -> MetricsCatalogue:
    stated = section(document, "metrics")
    catalogue = MetricsCatalogue(
        section(stated, "namespace"),
        tuple(Metric(m["name"], m["unit"], tuple(m["dimensions"])) for m in section(stated, "metrics")),
        tuple(section(stated, "outcomes")),
        section(stated, "function_name_env"),
    )
    names = [m.name for m in catalogue.metrics]
    if not names or len(set(names)) != len(names):
        raise ProjectFactError(f"facts.json: metric names empty or used twice: {names}")
    if len(set(catalogue.outcomes)) != len(catalogue.outcomes):
        raise ProjectFactError(f"facts.json: two call outcomes share a name: {catalogue.outcomes}")
    return catalogue


def metrics() -> MetricsCatalogue:
    """The metrics the functions emit."""
    return parse_metrics(facts())


# ---------------------------------------------------------------- errors


def error_codes() -> tuple[str, ...]:
    """Every `code` an error answer of the session API or the operator page can carry."""
    codes = tuple(section(facts(), "errors"))
    if not codes or len(set(codes)) != len(codes):
        raise ProjectFactError(f"facts.json: error codes empty or repeated: {codes}")
    return codes
