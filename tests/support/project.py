"""Project facts derived from the sources, so that no test lists them by hand.

    routes()               every HttpApi event in template.yaml (method, path,
                           function logical id, binary)
    router()               the `cargo lambda watch` router in the root Cargo.toml
    config_keys()          every `Key` constant in shared/src/config.rs
    functions()            each functions/* binary with its `Function` variant and
                           the keys it reads (Function::required / optional)
    function_keys(binary)  (required, optional) for one binary
    metrics()              the CloudWatch metrics the functions emit (namespace,
                           each metric's name, unit and dimension keys, the
                           call outcomes), from shared/src/metrics.rs
    error_codes()          every `code` an API error answer can carry
                           (ApiError in shared/src/http/error.rs)

Usage from any suite under tests/ (with tests/ on sys.path):

    from support import project
    project.function_keys("landing-page")

The Rust source is parsed with regular expressions over clearly delimited
blocks (`pub mod key { ... }`, `fn required(self) ... { match self { ... } }`).
Whatever is not found raises ProjectFactError naming it: a parse never
quietly returns nothing. Only routes() needs PyYAML (imported when called),
so suites whose venv lacks it (tests/browser) can use the rest.
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"
CARGO_TOML = REPO / "Cargo.toml"
CONFIG_DIR = REPO / "shared" / "src" / "config"
FUNCTION_RS = REPO / "shared" / "src" / "function.rs"


def config_source() -> str:
    """The key catalogue (config/keys.rs, as `pub mod key`) and `Function`
    (function.rs), in the shape config.rs had before it was split."""
    keys = (CONFIG_DIR / "keys.rs").read_text()
    return "pub mod key {\n" + keys + "}\n" + FUNCTION_RS.read_text()
METRICS_RS = REPO / "shared" / "src" / "metrics" / "catalogue.rs"
SHARED_SRC = REPO / "shared" / "src"
ERROR_RS = SHARED_SRC / "http" / "error.rs"


class ProjectFactError(Exception):
    """A fact the sources were expected to state was not found (or is inconsistent)."""


@dataclass(frozen=True)
class ConfigKey:
    name: str  # the Rust constant, e.g. AUTH_TOKEN
    ssm: str  # below the SSM prefix, e.g. twilio/auth-token
    env: str  # the environment variable, e.g. TWILIO_AUTH_TOKEN
    secret: bool  # a SecureString


@dataclass(frozen=True)
class Function:
    binary: str  # the cargo binary, e.g. inbound-call
    variant: str  # the config::Function variant, e.g. InboundCall
    directory: str  # the workspace member, e.g. functions/inbound-call
    required: tuple[ConfigKey, ...]
    optional: tuple[ConfigKey, ...]

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


# ---------------------------------------------------------------- shared/src/config.rs


def _strip_comments(text: str) -> str:
    """Rust source without // and /* */ comments (string literals kept), so
    commented-out code is never taken for a fact."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            if j < 0:
                raise ProjectFactError("unterminated /* comment")
            i = j + 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _block(text: str, opener: str, what: str) -> str:
    """The text between the `{` that ends the first match of `opener` (a
    regex) and its matching `}`. Expects comments already stripped."""
    match = re.search(opener + r"\s*\{", text)
    if not match:
        raise ProjectFactError(f"{what} not found (pattern {opener!r})")
    return _braced(text, match.end(), what)


def _blocks(text: str, opener: str, what: str) -> list[str]:
    """Like _block, for every match of `opener`."""
    return [_braced(text, m.end(), what) for m in re.finditer(opener + r"\s*\{", text)]


def _braced(text: str, start: int, what: str) -> str:
    """The text from `start` (just after a `{`) to its matching `}`."""
    depth, i = 1, start
    while i < len(text):
        c = text[i]
        if c == '"':
            j = i + 1
            while j < len(text) and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[start:i]
        i += 1
    raise ProjectFactError(f"{what}: no closing brace")


_KEY_CONST = re.compile(r"pub\s+const\s+([A-Z][A-Z0-9_]*)\s*:\s*Key\s*=\s*Key\s*\{(?P<body>[^{}]*)\}\s*;")
_ALL_CONST = re.compile(r"pub\s+const\s+ALL\s*:\s*\[\s*&\s*Key\s*;\s*(\d+)\s*\]\s*=\s*\[(?P<body>[^\]]*)\]\s*;")


def _field(body: str, field: str, pattern: str, const: str) -> str:
    found = re.findall(rf"\b{field}\s*:\s*{pattern}\s*,?", body)
    if len(found) != 1:
        raise ProjectFactError(f"config.rs: Key {const}: field `{field}` found {len(found)} times, expected once")
    return found[0]


@dataclass(frozen=True)
class ConfigSource:
    keys: tuple[ConfigKey, ...]
    variants: tuple[str, ...]
    required: dict[str, tuple[ConfigKey, ...]]  # by variant
    optional: dict[str, tuple[ConfigKey, ...]]


def _arms(match_body: str, variants: tuple[str, ...], keys: dict[str, ConfigKey], fn: str) -> dict:
    """`Function::A | Function::B => &[&K1, &K2],` arms of a `match self`."""
    arm = re.compile(
        r"(?P<pats>Function::\w+(?:\s*\|\s*Function::\w+)*)\s*=>\s*&\s*\[(?P<refs>[^\]]*)\]\s*,?"
    )
    result: dict[str, tuple[ConfigKey, ...]] = {}
    consumed = arm.sub("", match_body)
    if consumed.strip():
        raise ProjectFactError(f"config.rs: Function::{fn}(): arms not understood: {consumed.strip()[:120]!r}")
    for m in arm.finditer(match_body):
        refs = [r.strip() for r in m.group("refs").split(",") if r.strip()]
        chosen = []
        for r in refs:
            ref = re.fullmatch(r"&\s*(?:key::)?([A-Z][A-Z0-9_]*)", r)
            if not ref or ref.group(1) not in keys:
                raise ProjectFactError(f"config.rs: Function::{fn}(): {r!r} is not a known Key constant")
            chosen.append(keys[ref.group(1)])
        for pat in re.findall(r"Function::(\w+)", m.group("pats")):
            if pat not in variants:
                raise ProjectFactError(f"config.rs: Function::{fn}(): unknown variant {pat}")
            if pat in result:
                raise ProjectFactError(f"config.rs: Function::{fn}(): {pat} matched twice")
            result[pat] = tuple(chosen)
    missing = [v for v in variants if v not in result]
    if missing:
        raise ProjectFactError(f"config.rs: Function::{fn}(): no arm for {missing}")
    return result


def parse_config_source(text: str) -> ConfigSource:
    """The `key` module's constants and each `Function` variant's keys."""
    text = _strip_comments(text)
    key_mod = _block(text, r"pub\s+mod\s+key", "config.rs: `pub mod key`")
    keys: dict[str, ConfigKey] = {}
    for m in _KEY_CONST.finditer(key_mod):
        name, body = m.group(1), m.group("body")
        secret = _field(body, "secret", r"(true|false)", name)
        keys[name] = ConfigKey(
            name=name,
            ssm=_field(body, "ssm", r'"([^"]+)"', name),
            env=_field(body, "env", r'"([^"]+)"', name),
            secret=secret == "true",
        )
    if not keys:
        raise ProjectFactError("config.rs: no `pub const NAME: Key = Key { .. };` in `pub mod key`")
    declared = len(re.findall(r"pub\s+const\s+\w+\s*:\s*Key\b", key_mod))
    if declared != len(keys):
        raise ProjectFactError(f"config.rs: {declared} Key constants declared, {len(keys)} understood")
    all_match = _ALL_CONST.search(key_mod)
    if not all_match:
        raise ProjectFactError("config.rs: `pub const ALL: [&Key; N]` not found in `pub mod key`")
    listed = re.findall(r"&\s*([A-Z][A-Z0-9_]*)", all_match.group("body"))
    if int(all_match.group(1)) != len(listed) or sorted(listed) != sorted(keys):
        raise ProjectFactError(f"config.rs: key::ALL lists {listed}, the module declares {list(keys)}")
    for field in ("ssm", "env"):
        values = [getattr(k, field) for k in keys.values()]
        if len(set(values)) != len(values):
            raise ProjectFactError(f"config.rs: two keys share an `{field}` name")

    enum = _block(text, r"pub\s+enum\s+Function", "config.rs: `pub enum Function`")
    variants = tuple(re.findall(r"^\s*([A-Z]\w*)\s*,?\s*$", enum, flags=re.M))
    if not variants or re.sub(r"[\s,]|[A-Z]\w*", "", enum):
        raise ProjectFactError(f"config.rs: `pub enum Function` variants not understood: {enum.strip()!r}")

    impl = _block(text, r"impl\s+Function", "config.rs: `impl Function`")
    per_fn = {}
    for fn in ("required", "optional"):
        body = _block(impl, rf"pub\s+fn\s+{fn}\s*\(\s*self\s*\)[^{{]*", f"config.rs: Function::{fn}()")
        per_fn[fn] = _arms(_block(body, r"match\s+self", f"config.rs: Function::{fn}(): match self"), variants, keys, fn)
    for v in variants:
        listed = [k.name for k in per_fn["required"][v] + per_fn["optional"][v]]
        if len(set(listed)) != len(listed):
            raise ProjectFactError(f"config.rs: Function::{v} lists a key twice (or as required and optional): {listed}")
    return ConfigSource(tuple(keys.values()), variants, per_fn["required"], per_fn["optional"])


@functools.cache
def _config() -> ConfigSource:
    return parse_config_source(config_source())


def config_keys() -> tuple[ConfigKey, ...]:
    """Every `Key` constant in shared/src/config.rs, in source order."""
    return _config().keys


def config_key(ssm: str) -> ConfigKey:
    """The key whose SSM name (below the prefix) is `ssm`."""
    for key in config_keys():
        if key.ssm == ssm:
            return key
    raise ProjectFactError(f"config.rs: no key with ssm name {ssm!r}")


# ---------------------------------------------------------------- functions/*


def _variant_of(main_rs: Path) -> str:
    found = set(re.findall(r"\bFunction::([A-Z]\w*)", _strip_comments(main_rs.read_text())))
    if len(found) != 1:
        raise ProjectFactError(f"{main_rs.relative_to(REPO)}: expected one config::Function variant, found {sorted(found)}")
    return found.pop()


def _binary_of(directory: Path) -> tuple[str, Path]:
    manifest = tomllib.loads((directory / "Cargo.toml").read_text())
    bins = manifest.get("bin", [])
    if len(bins) > 1:
        raise ProjectFactError(f"{directory.relative_to(REPO)}: more than one [[bin]]")
    name = bins[0].get("name") if bins else None
    name = name or manifest["package"]["name"]
    main = directory / (bins[0].get("path", "src/main.rs") if bins else "src/main.rs")
    return name, main


@functools.cache
def functions() -> tuple[Function, ...]:
    """Each functions/* workspace member's binary, the `Function` variant its
    main.rs passes, and the keys that variant reads."""
    config = _config()
    result = []
    for member in _function_members():
        binary, main = _binary_of(REPO / member)
        variant = _variant_of(main)
        if variant not in config.variants:
            raise ProjectFactError(f"{member}: Function::{variant} is not a variant of config::Function")
        result.append(Function(binary, variant, member, config.required[variant], config.optional[variant]))
    variants = [f.variant for f in result]
    if len(set(variants)) != len(variants):
        raise ProjectFactError(f"two functions use the same config::Function variant: {variants}")
    return tuple(result)


def function(binary: str) -> Function:
    for f in functions():
        if f.binary == binary:
            return f
    raise ProjectFactError(f"no function binary {binary!r} (have {[f.binary for f in functions()]})")


def function_keys(binary: str) -> tuple[tuple[ConfigKey, ...], tuple[ConfigKey, ...]]:
    """(required, optional) configuration keys the binary reads."""
    f = function(binary)
    return f.required, f.optional


# ---------------------------------------------------------------- shared/src/metrics.rs


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

    def metric(self, name: str) -> Metric:
        for metric in self.metrics:
            if metric.name == name:
                return metric
        raise ProjectFactError(f"metrics.rs: no metric {name!r} (have {[m.name for m in self.metrics]})")


_STR_CONST = re.compile(r'pub\s+const\s+([A-Z][A-Z0-9_]*)\s*:\s*&\s*(?:\'static\s+)?str\s*=\s*"([^"]*)"\s*;')
_METRIC_CONST = re.compile(r"pub\s+const\s+([A-Z][A-Z0-9_]*)\s*:\s*Metric\s*=\s*Metric\s*\{(?P<body>[^{}]*)\}\s*;")
_METRICS_ALL = re.compile(r"pub\s+const\s+ALL\s*:\s*\[\s*&\s*Metric\s*;\s*(\d+)\s*\]\s*=\s*\[(?P<body>[^\]]*)\]\s*;")


def _name_arms(text: str, enum: str, fn: str) -> dict[str, str]:
    """`Enum::Variant => "text",` arms of `fn <fn>(self)`'s `match self` in `impl <enum>`."""
    impl = _block(text, rf"impl\s+{enum}\b", f"metrics.rs: `impl {enum}`")
    body = _block(impl, rf"pub\s+(?:const\s+)?fn\s+{fn}\s*\(\s*self\s*\)[^{{]*", f"metrics.rs: {enum}::{fn}()")
    arms = _block(body, r"match\s+self", f"metrics.rs: {enum}::{fn}(): match self")
    arm = re.compile(rf'{enum}::(\w+)\s*=>\s*"([^"]+)"\s*,?')
    leftover = arm.sub("", arms)
    if leftover.strip():
        raise ProjectFactError(f"metrics.rs: {enum}::{fn}(): arms not understood: {leftover.strip()[:120]!r}")
    found: dict[str, str] = {}
    for variant, name in arm.findall(arms):
        if variant in found:
            raise ProjectFactError(f"metrics.rs: {enum}::{fn}(): {variant} matched twice")
        found[variant] = name
    if not found:
        raise ProjectFactError(f"metrics.rs: {enum}::{fn}(): no arms")
    return found


def _variants(text: str, enum: str) -> tuple[str, ...]:
    body = _block(text, rf"pub\s+enum\s+{enum}\b", f"metrics.rs: `pub enum {enum}`")
    variants = tuple(re.findall(r"^\s*([A-Z]\w*)\s*,?\s*$", body, flags=re.M))
    if not variants or re.sub(r"[\s,]|[A-Z]\w*", "", body):
        raise ProjectFactError(f"metrics.rs: `pub enum {enum}` variants not understood: {body.strip()[:120]!r}")
    return variants


def parse_metrics_source(text: str) -> MetricsCatalogue:
    """The namespace, every `pub const X: Metric = Metric { .. };` listed in
    `ALL`, and the call outcomes' names. Strict: a metric declared but not
    listed, a dimension or unit that is no constant or variant, a name used
    twice, or an outcome without a name is an error, never a quiet gap."""
    text = _strip_comments(text)
    strings = dict(_STR_CONST.findall(text))
    if "NAMESPACE" not in strings:
        raise ProjectFactError("metrics.rs: `pub const NAMESPACE: &str = \"...\";` not found")
    units = _name_arms(text, "Unit", "as_str")
    unit_variants = _variants(text, "Unit")
    if sorted(units) != sorted(unit_variants):
        raise ProjectFactError(f"metrics.rs: Unit::as_str() names {sorted(units)}, the enum has {sorted(unit_variants)}")

    declared: dict[str, Metric] = {}
    for m in _METRIC_CONST.finditer(text):
        const, body = m.group(1), m.group("body")
        name = _field(body, "name", r'"([^"]+)"', const)
        unit = _field(body, "unit", r"Unit::(\w+)", const)
        dims = _field(body, "dimensions", r"&\s*\[([^\]]*)\]", const)
        if unit not in units:
            raise ProjectFactError(f"metrics.rs: {const}: Unit::{unit} is not a Unit variant")
        keys = []
        for ref in (d.strip() for d in dims.split(",") if d.strip()):
            if ref not in strings:
                raise ProjectFactError(f"metrics.rs: {const}: dimension {ref} is not a `pub const {ref}: &str`")
            keys.append(strings[ref])
        declared[const] = Metric(name, units[unit], tuple(keys))
    if not declared:
        raise ProjectFactError("metrics.rs: no `pub const NAME: Metric = Metric { .. };`")
    count = len(re.findall(r"pub\s+const\s+\w+\s*:\s*Metric\b", text))
    if count != len(declared):
        raise ProjectFactError(f"metrics.rs: {count} Metric constants declared, {len(declared)} understood")
    listed_match = _METRICS_ALL.search(text)
    if not listed_match:
        raise ProjectFactError("metrics.rs: `pub const ALL: [&Metric; N]` not found")
    listed = re.findall(r"&\s*([A-Z][A-Z0-9_]*)", listed_match.group("body"))
    if int(listed_match.group(1)) != len(listed) or sorted(listed) != sorted(declared):
        raise ProjectFactError(f"metrics.rs: ALL lists {listed}, the file declares {list(declared)}")
    names = [declared[c].name for c in listed]
    if len(set(names)) != len(names):
        raise ProjectFactError(f"metrics.rs: a metric name is used twice: {names}")

    outcomes = _name_arms(text, "CallOutcome", "name")
    variants = _variants(text, "CallOutcome")
    if sorted(outcomes) != sorted(variants):
        raise ProjectFactError(f"metrics.rs: CallOutcome::name() names {sorted(outcomes)}, the enum has {sorted(variants)}")
    values = [outcomes[v] for v in variants]
    if len(set(values)) != len(values):
        raise ProjectFactError(f"metrics.rs: two call outcomes share a name: {values}")
    return MetricsCatalogue(strings["NAMESPACE"], tuple(declared[c] for c in listed), tuple(values))


@functools.cache
def metrics() -> MetricsCatalogue:
    """The metrics the functions emit (shared/src/metrics.rs)."""
    return parse_metrics_source(METRICS_RS.read_text())
# ---------------------------------------------------------------- shared/src/http/error.rs

# One arm of ApiError::code()'s `match self`: patterns => "literal" or a
# binding of the pattern (`ApiError::Conflict { code, .. } => code`).
_CODE_ARM = re.compile(
    r"(?P<pats>(?:ApiError|Self)::\w+\s*(?:\{[^{}]*\}|\([^()]*\))?"
    r"(?:\s*\|\s*(?:ApiError|Self)::\w+\s*(?:\{[^{}]*\}|\([^()]*\))?)*)"
    r"\s*=>\s*(?P<value>\"[^\"]*\"|[a-z_]\w*)\s*,?"
)


def parse_error_codes(error_rs: str, sources: dict[str, str]) -> tuple[str, ...]:
    """Every code ApiError::code() (in `error_rs`) can return: the string
    literals its arms return, and for an arm that returns a field of the
    variant (`Conflict { code, .. } => code`), the literal `code: "..."` of
    every construction of that variant in `sources` (name -> Rust text)."""
    text = _strip_comments(error_rs)
    code_fn = _block(text, r"pub\s+fn\s+code\s*\(\s*&\s*self\s*\)[^{]*", "error.rs: ApiError::code()")
    arms = _block(code_fn, r"match\s+self", "error.rs: ApiError::code(): match self")
    leftover = _CODE_ARM.sub("", arms).strip()
    if leftover:
        raise ProjectFactError(f"error.rs: ApiError::code(): arms not understood: {leftover[:120]!r}")
    codes: list[str] = []
    from_fields: list[str] = []  # variants whose code is given where they are built
    for arm in _CODE_ARM.finditer(arms):
        value = arm.group("value")
        if value.startswith('"'):
            codes.append(value.strip('"'))
            continue
        for variant, fields in re.findall(r"::(\w+)\s*(\{[^{}]*\}|\([^()]*\))?", arm.group("pats")):
            if not re.search(rf"\b{value}\b", fields):
                raise ProjectFactError(f"error.rs: ApiError::code() returns `{value}`, which ApiError::{variant} does not bind")
            from_fields.append(variant)
    for variant in from_fields:
        built = 0
        for name, source in sources.items():
            for fields in _blocks(_strip_comments(source), rf"\b(?:ApiError|Self)::{variant}", f"{name}: ApiError::{variant}"):
                if re.search(r"\.\.\s*$", fields):
                    continue  # a pattern (`ApiError::Conflict { .. }`), not a construction
                literal = re.search(r"\bcode\s*:\s*\"([^\"]+)\"", fields)
                if not literal:
                    raise ProjectFactError(f"{name}: ApiError::{variant} built without a literal `code: \"...\"`: {fields.strip()[:120]!r}")
                codes.append(literal.group(1))
                built += 1
        if not built:
            raise ProjectFactError(f"ApiError::{variant} is never built, so its codes are unknown")
    if not codes:
        raise ProjectFactError("error.rs: ApiError::code() returns no codes")
    return tuple(dict.fromkeys(codes))


@functools.cache
def error_codes() -> tuple[str, ...]:
    """Every `code` an error answer of the session API or the operator page
    can carry, in the order shared/src/http/error.rs names them."""
    sources = {str(path.relative_to(REPO)): path.read_text() for path in sorted(SHARED_SRC.rglob("*.rs"))}
    return parse_error_codes(ERROR_RS.read_text(), sources)
