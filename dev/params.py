#!/usr/bin/env python3
"""`make params`: write the configuration from .env to SSM Parameter Store.

CloudFormation cannot create SecureString parameters, so the stack only reads
them; this script writes them, under the stack's ParameterPrefix:

    make params [CONFIG_ENV=prod | PREFIX=/x/y]          # dev/params.sh runs this script
    .venv/bin/python dev/params.py                      # .env -> samconfig's default prefix
    .venv/bin/python dev/params.py --config-env prod    # prefix of samconfig.toml [prod]
    .venv/bin/python dev/params.py --prefix /masked-comms/staging --dry-run

.env holds the environment-variable names of the configuration keys (shared/src/config/keys.rs)
(TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, NUMBER_POOL, AUTH_USERNAME,
AUTH_PASSWORD, and optionally the others). Each becomes PREFIX/<ssm name>:

    SecureString  TWILIO_AUTH_TOKEN, AUTH_PASSWORD
    StringList    NUMBER_POOL, WHATSAPP_POOL (a JSON array or a comma list)
    String        everything else

Other keys (CONFIG_TTL_SECONDS, RUST_LOG, TWILIO_*_URL, ...) are not SSM
settings and are skipped. Empty values are skipped. Existing parameters are
overwritten; parameters that .env does not mention are left alone.

REPLY_KEY (the reply throttle's HMAC key, a SecureString) is made here when
.env does not give one: 32 random bytes, base64, written only if the
parameter is not there yet (SSM refuses to overwrite it: a second run keeps
the first key), and never printed.

Writes with the AWS CLI when `aws` is on PATH, else with boto3 (the venv has
it); --backend chooses. Credentials, region and endpoint come from the usual
AWS settings (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL, ...) or --region,
--endpoint-url. Values never appear on a command line (the AWS CLI reads them
from a private temporary file) and are never printed: the output names the
parameters and their types only, and error text has every value masked.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PREFIX = "/masked-comms/prod"  # template.yaml's ParameterPrefix default

# (environment variable, SSM name below the prefix, type); mirrors
# the configuration keys (config/keys.rs `key::ALL`; tests/support/test_project.py checks them against the facts file).
KEYS: list[tuple[str, str, str]] = [
    ("TWILIO_ACCOUNT_SID", "twilio/account-sid", "String"),
    ("TWILIO_AUTH_TOKEN", "twilio/auth-token", "SecureString"),
    ("NUMBER_POOL", "number-pool", "StringList"),
    ("AUTH_USERNAME", "auth/username", "String"),
    ("AUTH_PASSWORD", "auth/password", "SecureString"),
    ("PUBLIC_BASE_URL", "public-base-url", "String"),
    ("CALL_ANNOUNCEMENT_VOICE", "call/voice", "String"),
    ("CALL_ANNOUNCEMENT_LANGUAGE", "call/language", "String"),
    ("CONNECTING_CALL_ANNOUNCEMENT", "call/connecting-announcement", "String"),
    ("OUT_OF_SESSION_MESSAGE_FOR_CALL", "call/out-of-session-message", "String"),
    ("MESSAGE_ONLY_MESSAGE_FOR_CALL", "call/message-only-message", "String"),
    ("SESSION_INACTIVE_TIMER", "session/inactive-timer", "String"),
    ("SESSION_CLOSED_TIMER", "session/closed-timer", "String"),
    ("CLOSED_CONVERSATIONS", "closed-conversations", "String"),
    ("NUMBER_SELECTION_GEO_MATCH", "number-selection/geo-match", "String"),
    ("NUMBER_SELECTION_STICKY", "number-selection/sticky", "String"),
    ("WHATSAPP_POOL", "whatsapp-pool", "StringList"),
    ("EVENTS_URL", "events/url", "String"),
    ("EVENTS_SIGNING_SECRET", "events/signing-secret", "SecureString"),
    ("OUT_OF_SESSION_MODE", "out-of-session/mode", "String"),
    ("OUT_OF_SESSION_FORWARD_TO", "out-of-session/forward-to", "String"),
    ("OUT_OF_SESSION_CALLBACK_URL", "out-of-session/callback-url", "String"),
    ("OUT_OF_SESSION_MESSAGE_FOR_SMS", "message/out-of-session-message", "String"),
    ("REPLY_KEY", "reply-key", "SecureString"),
    ("INTERCEPT_URL", "intercept/url", "String"),
    ("INTERCEPT_TIMEOUT_MS", "intercept/timeout-ms", "String"),
    ("INTERCEPT_ON_ERROR", "intercept/on-error", "String"),
    ("INTERCEPT_BLOCKED_CALL_MESSAGE", "intercept/blocked-call-say", "String"),
]
# Made by make params when .env has none (generated_reply_key).
GENERATED = "REPLY_KEY"
REQUIRED = ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "NUMBER_POOL", "AUTH_USERNAME", "AUTH_PASSWORD"]
# The functions refuse a shorter operator password (each key's `min_chars`
# in the facts file; tests/deploy/test_params.py checks these against them);
# refusing it here saves a deploy that answers 503.
MIN_PASSWORD_CHARS = 16
# Likewise the reply key.
MIN_REPLY_KEY_CHARS = 32
PREFIX_PATTERN = re.compile(r"^(/[A-Za-z0-9_.-]+)+$")  # template.yaml's AllowedPattern


class ParamsError(Exception):
    """A problem to report in one line (never containing a value)."""


@dataclass(frozen=True)
class Parameter:
    env: str
    name: str
    type: str
    value: str
    # False: written only if absent (a generated secret is made once).
    overwrite: bool = True


def generated_reply_key(prefix: str) -> Parameter:
    """A fresh reply-throttle key: 32 random bytes, base64 (44 characters,
    above the functions' minimum of 32)."""
    env, name, kind = next(k for k in KEYS if k[0] == GENERATED)
    value = base64.b64encode(secrets.token_bytes(32)).decode()
    return Parameter(env, f"{prefix}/{name}", kind, value, overwrite=False)


# ---------------------------------------------------------------- inputs


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines; `export `, blank lines and # comments allowed; one
    pair of surrounding quotes is removed; no variable expansion. A key given
    twice keeps its last value."""
    if not path.exists():
        raise ParamsError(f"{path} does not exist (copy the keys you need from dev/local.env)")
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise ParamsError(f"{path}:{number}: not a KEY=VALUE line")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def string_list(env: str, text: str) -> str:
    """SSM StringList form (comma-separated) of a JSON array or a comma list."""
    text = text.strip()
    if text.startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError:
            raise ParamsError(f"{env} is not a valid JSON array") from None
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise ParamsError(f"{env} must be a JSON array of strings")
    else:
        items = text.split(",")
    items = [i.strip() for i in items]
    if not all(items):
        raise ParamsError(f"{env} has an empty entry")
    if any("," in i for i in items):
        raise ParamsError(f"{env} has an entry containing a comma")
    return ",".join(items)


def parameters(values: dict[str, str], prefix: str) -> tuple[list[Parameter], list[str]]:
    """The parameters to write, and the .env keys that are not SSM settings."""
    known = {env for env, _, _ in KEYS}
    missing = [k for k in REQUIRED if not values.get(k, "").strip()]
    if missing:
        raise ParamsError(f"missing in the env file: {', '.join(missing)}")
    if len(values["AUTH_PASSWORD"].strip()) < MIN_PASSWORD_CHARS:
        raise ParamsError(f"AUTH_PASSWORD must be at least {MIN_PASSWORD_CHARS} characters")
    if values.get("REPLY_KEY", "").strip() and len(values["REPLY_KEY"].strip()) < MIN_REPLY_KEY_CHARS:
        raise ParamsError(f"REPLY_KEY must be at least {MIN_REPLY_KEY_CHARS} characters (or leave it out: one is made)")
    out = []
    for env, name, kind in KEYS:
        value = values.get(env, "").strip()
        if not value:
            continue
        if kind == "StringList":
            value = string_list(env, value)
        out.append(Parameter(env, f"{prefix}/{name}", kind, value))
    skipped = sorted(k for k in values if k not in known)
    return out, skipped


def prefix_from_samconfig(config_env: str, path: Path) -> str | None:
    """ParameterPrefix from samconfig.toml's [ENV.deploy.parameters]
    parameter_overrides (a string of KEY=VALUE words, or a list of them)."""
    if not path.exists():
        return None
    import tomllib

    config = tomllib.loads(path.read_text())
    section = config.get(config_env, {})
    for command in ("deploy", "global"):
        overrides = section.get(command, {}).get("parameters", {}).get("parameter_overrides")
        if overrides is None:
            continue
        words = overrides if isinstance(overrides, list) else shlex.split(overrides)
        for word in words:
            key, _, value = word.partition("=")
            if key == "ParameterPrefix":
                return value
    return None


# ---------------------------------------------------------------- output


def string_list_or_empty(env: str, text: str) -> str:
    try:
        return string_list(env, text)
    except ParamsError:
        return ""


def mask(text: str, secrets: list[str]) -> str:
    """text with every value replaced by ***, longest first."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


# ---------------------------------------------------------------- backends


def put_with_aws_cli(params: list[Parameter], args, aws: str) -> None:
    base = [aws, "ssm", "put-parameter", "--output", "json"]
    if args.region:
        base += ["--region", args.region]
    if args.endpoint_url:
        base += ["--endpoint-url", args.endpoint_url]
    env = dict(os.environ, AWS_PAGER="")
    with tempfile.TemporaryDirectory(prefix="masked-comms-params-") as tmp:
        os.chmod(tmp, 0o700)
        for p in params:
            request = {"Name": p.name, "Value": p.value, "Type": p.type, "Overwrite": p.overwrite,
                       "Tier": "Standard"}
            if p.type == "SecureString" and args.kms_key_id:
                request["KeyId"] = args.kms_key_id
            request_file = Path(tmp) / "request.json"
            fd = os.open(request_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump(request, f)
            done = subprocess.run(
                base + ["--cli-input-json", f"file://{request_file}"],
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
            )
            request_file.unlink()
            if done.returncode != 0 and not p.overwrite and "ParameterAlreadyExists" in done.stderr:
                report(p, kept=True)
                continue
            if done.returncode != 0:
                detail = (done.stderr or done.stdout).strip()
                raise ParamsError(f"aws ssm put-parameter {p.name} failed: {detail}")
            report(p)


def put_with_boto3(params: list[Parameter], args) -> None:
    try:
        import boto3
    except ImportError:
        raise ParamsError(
            "neither the AWS CLI nor boto3 is available: run `bash dev/bootstrap-venv.sh` "
            "and use .venv/bin/python"
        ) from None
    session = boto3.session.Session(region_name=args.region)
    if not session.region_name:
        raise ParamsError("no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, a profile's region) or --region")
    client = session.client("ssm", endpoint_url=args.endpoint_url)
    for p in params:
        request = {"Name": p.name, "Value": p.value, "Type": p.type, "Overwrite": p.overwrite, "Tier": "Standard"}
        if p.type == "SecureString" and args.kms_key_id:
            request["KeyId"] = args.kms_key_id
        try:
            client.put_parameter(**request)
        except Exception as e:  # botocore's errors, credential errors, ...
            code = (getattr(e, "response", None) or {}).get("Error", {}).get("Code")
            if code == "ParameterAlreadyExists" and not p.overwrite:
                report(p, kept=True)
                continue
            raise ParamsError(f"put_parameter {p.name} failed: {type(e).__name__}: {e}") from None
        report(p)


# SSM's DeleteParameters takes at most this many names.
DELETE_BATCH = 10


def delete_with_boto3(prefix: str, args) -> tuple[list[str], list[str]]:
    """Deletes every key masked-comms reads under `prefix` (nothing else
    there), ten names a request; answers (deleted, not there)."""
    try:
        import boto3
    except ImportError:
        raise ParamsError("boto3 is not available: run `bash dev/bootstrap-venv.sh` and use .venv/bin/python") from None
    session = boto3.session.Session(region_name=args.region)
    if not session.region_name:
        raise ParamsError("no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, a profile's region) or --region")
    client = session.client("ssm", endpoint_url=args.endpoint_url)
    names = [f"{prefix}/{ssm}" for _, ssm, _ in KEYS]
    deleted: list[str] = []
    missing: list[str] = []
    for start in range(0, len(names), DELETE_BATCH):
        try:
            answer = client.delete_parameters(Names=names[start : start + DELETE_BATCH])
        except Exception as e:  # botocore's errors, credential errors, ...
            raise ParamsError(f"delete_parameters failed: {type(e).__name__}: {e}") from None
        deleted += answer.get("DeletedParameters", [])
        missing += answer.get("InvalidParameters", [])
    return deleted, missing


def report(p: Parameter, kept: bool = False) -> None:
    """Names the parameter and its type, never its value."""
    if kept:
        print(f"  {p.name}  ({p.type}, already there: kept)", flush=True)
    elif not p.overwrite:
        print(f"  {p.name}  ({p.type}, generated if absent)", flush=True)
    else:
        print(f"  {p.name}  ({p.type})", flush=True)


# ---------------------------------------------------------------- main


def prefix_of(args) -> str:
    prefix = (
        args.prefix
        or os.environ.get("PARAMETER_PREFIX")
        or prefix_from_samconfig(args.config_env, REPO / "samconfig.toml")
        or DEFAULT_PREFIX
    ).rstrip("/")
    if not PREFIX_PATTERN.fullmatch(prefix):
        raise ParamsError(f"prefix {prefix!r} is not an SSM path like /masked-comms/prod")
    return prefix


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make params", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--env-file", default=str(REPO / ".env"), help="default: .env in the repo root")
    parser.add_argument("--prefix", help="SSM path, e.g. /masked-comms/prod (default: PARAMETER_PREFIX, "
                        "else samconfig.toml's ParameterPrefix for --config-env)")
    parser.add_argument("--config-env", default=os.environ.get("CONFIG_ENV", "default"),
                        help="samconfig.toml environment to take the prefix from (default: default)")
    parser.add_argument("--region", help="AWS region (default: the AWS CLI/SDK's own settings)")
    parser.add_argument("--endpoint-url", help="SSM endpoint, e.g. a local moto_server")
    parser.add_argument("--kms-key-id", help="KMS key for SecureString values (default: aws/ssm); "
                        "pass the same key as the stack's KmsKeyArn")
    parser.add_argument("--backend", choices=["auto", "aws-cli", "boto3"], default="auto")
    parser.add_argument("--dry-run", action="store_true", help="list what would be written; write nothing")
    parser.add_argument("--delete", action="store_true",
                        help="delete every masked-comms parameter under the prefix instead (make unparams)")
    args = parser.parse_args(argv)

    values: dict[str, str] = {}
    generated_value = ""
    try:
        if args.delete:
            return delete(args)
        values = read_env_file(Path(args.env_file))
        prefix = prefix_of(args)
        params, skipped = parameters(values, prefix)

        base_url = values.get("PUBLIC_BASE_URL", "")
        if re.match(r"^https?://(localhost|127\.|\[::1\]|0\.0\.0\.0)", base_url):
            print("warning: PUBLIC_BASE_URL points at this machine; Twilio's signatures for the "
                  "deployed webhooks will not verify. Remove it from the env file unless you mean it.",
                  file=sys.stderr)

        aws = shutil.which("aws")
        backend = args.backend if args.backend != "auto" else ("aws-cli" if aws else "boto3")
        if backend == "aws-cli" and not aws:
            raise ParamsError("--backend aws-cli: `aws` is not on PATH")
        verb = "would write" if args.dry_run else "writing"
        how = "the AWS CLI" if backend == "aws-cli" else "boto3"
        print(f"{verb} {len(params)} parameters under {prefix} from {args.env_file} with {how}:", flush=True)
        if not values.get(GENERATED, "").strip():
            generated = generated_reply_key(prefix)
            generated_value = generated.value
            params.append(generated)
        if args.dry_run:
            for p in params:
                report(p)
        elif backend == "aws-cli":
            put_with_aws_cli(params, args, aws)
        else:
            put_with_boto3(params, args)
        if skipped:
            print(f"skipped (not SSM settings): {', '.join(skipped)}")
        print("dry run: nothing written." if args.dry_run else f"done: {len(params)} parameters written or kept.")
        return 0
    except ParamsError as e:
        # Only the SSM settings' values can reach an error message.
        settings = [v for k, v in values.items() if k in {env for env, _, _ in KEYS}]
        settings += [string_list_or_empty(k, v) for k, v in values.items() if k in ("NUMBER_POOL", "WHATSAPP_POOL")]
        settings.append(generated_value)
        print(f"make params: {mask(str(e), settings)}", file=sys.stderr)
        return 1


def delete(args) -> int:
    prefix = prefix_of(args)
    if args.dry_run:
        print(f"would delete under {prefix}:")
        for _, ssm, _ in KEYS:
            print(f"  {prefix}/{ssm}")
        print("dry run: nothing deleted.")
        return 0
    deleted, missing = delete_with_boto3(prefix, args)
    print(f"deleted {len(deleted)} parameters under {prefix}:")
    for name in sorted(deleted):
        print(f"  {name}")
    if missing:
        print(f"not there: {len(missing)} ({', '.join(sorted(n.rsplit('/', 1)[-1] for n in missing))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
