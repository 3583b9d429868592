#!/usr/bin/env python3
"""`make twilio-setup`: point Twilio at the stack with one command instead of
the console. Finds what the tool needs, then runs it (dev/twilio-setup, whose
`--help` says what it sets, refuses and prints).

    make twilio-setup                     # the stack of samconfig.toml [default]
    make twilio-setup CONFIG_ENV=prod     # the stack of samconfig.toml [prod]
    make twilio-setup --dry-run           # make's own -n: the plan, nothing changed
    make twilio-setup ARGS="--dry-run --refuse-messages-in-voice-only"
    make twilio-setup BASE_URL=https://... PREFIX=/masked-comms/prod    # no stack look-up
    make twilio-setup ENV_FILE=.env BASE_URL=https://...  # configuration from a file
    make twilio-setup LOCAL=1             # make dev's emulator (with make dev running)

Where things come from:
- configuration: SSM under PREFIX, else the stack's ParameterPrefix output,
  else samconfig.toml's ParameterPrefix for CONFIG_ENV, read by the tool as
  the functions read it (AWS credentials and region as for `sam deploy`);
  with ENV_FILE, that file's variables instead (as `make params` reads it);
- base URL: BASE_URL, else the configured public-base-url (a custom domain:
  what the functions check Twilio's signatures against), else the stack's
  ApiBaseUrl output. The outputs come from `sam list stack-outputs` (the
  venv's SAM CLI), only when something above is missing;
- LOCAL=1: the configuration `make dev` gives the functions (dev/local.env,
  then .env without Twilio credentials), the emulator on EMULATOR_PORT (4010)
  and base URL http://127.0.0.1:PORT (9000).

Exit status: the tool's (0 done or nothing to change, 1 refused or failed,
2 usage); 1 when this script cannot get that far.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

if sys.version_info < (3, 11):  # make's `python` check is not run under make -n
    sys.exit(f"twilio-setup: Python >= 3.11 is needed (this is {sys.version.split()[0]})")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "dev"))
import params  # noqa: E402  (dev/params.py: the .env reader and samconfig's prefix)

SAMCONFIG = REPO / "samconfig.toml"
SAM = REPO / ".venv" / "bin" / "sam"


class Refused(Exception):
    """This script cannot run the tool as asked; the message says why."""


def run_local():
    """dev/run-local.py (make dev) as a module: its configuration is the one to wire."""
    spec = importlib.util.spec_from_file_location("run_local", REPO / "dev" / "run-local.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def stack_name(config_env: str) -> str:
    import tomllib

    config = tomllib.loads(SAMCONFIG.read_text()) if SAMCONFIG.exists() else {}
    section = config.get(config_env, {})
    for command in ("deploy", "global"):
        name = section.get(command, {}).get("parameters", {}).get("stack_name")
        if name:
            return name
    raise Refused(f"samconfig.toml [{config_env}] names no stack_name; pass BASE_URL= and PREFIX=")


def stack_outputs(config_env: str) -> dict[str, str]:
    """The deployed stack's outputs by key, from `sam list stack-outputs`."""
    name = stack_name(config_env)
    subprocess.run(["bash", str(REPO / "dev" / "bootstrap-venv.sh"), "test"], check=True,
                   stdout=subprocess.DEVNULL)
    print(f"twilio-setup: reading the outputs of stack {name} (sam list stack-outputs)", file=sys.stderr)
    argv = [str(SAM), "list", "stack-outputs", "--stack-name", name, "--output", "json"]
    # The SAM CLI's boto3 knows AWS_DEFAULT_REGION; the tool's SDK also AWS_REGION.
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        argv += ["--region", region]
    done = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "SAM_CLI_TELEMETRY": "0"})
    if done.returncode != 0:
        raise Refused(f"sam could not read stack {name}'s outputs: {done.stderr.strip()[-500:]}")
    try:
        return {o["OutputKey"]: o["OutputValue"] for o in json.loads(done.stdout)}
    except (ValueError, KeyError, TypeError):
        raise Refused(f"sam answered something other than stack outputs: {done.stdout[:200]}") from None


def has_option(args: list[str], name: str) -> bool:
    return any(a == name or a.startswith(name + "=") for a in args)


def local(args: list[str]) -> tuple[dict[str, str], list[str]]:
    port = int(os.environ.get("PORT", "9000"))
    emulator_port = int(os.environ.get("EMULATOR_PORT", "4010"))
    module = run_local()
    try:
        values, _, _ = module.configuration("emulator", port, emulator_port)
    except module.Refused as e:
        raise Refused(str(e)) from None
    if not module.stack.listening(emulator_port):
        raise Refused(f"no emulator on port {emulator_port}: start `make dev` first (or set EMULATOR_PORT)")
    env = {k: v for k, v in os.environ.items() if k != "SSM_PARAMETER_PREFIX"}
    env.update(values)
    return env, args


def from_file(path: str, args: list[str]) -> tuple[dict[str, str], list[str]]:
    try:
        values = params.read_env_file(Path(path))
    except params.ParamsError as e:
        raise Refused(str(e)) from None
    env = {k: v for k, v in os.environ.items() if k != "SSM_PARAMETER_PREFIX"}
    env.update(values)
    return env, args


def from_ssm(args: list[str]) -> tuple[dict[str, str], list[str]]:
    config_env = os.environ.get("CONFIG_ENV") or "default"
    prefix = os.environ.get("PREFIX", "")
    needs_base = not os.environ.get("BASE_URL") and not has_option(args, "--base-url")
    if not prefix or needs_base:
        try:
            outputs = stack_outputs(config_env)
        except Refused as e:
            # Not fatal: public-base-url may be configured, the prefix is in samconfig.toml.
            print(f"twilio-setup: {e}", file=sys.stderr)
            outputs = {}
        prefix = prefix or outputs.get("ParameterPrefix") or params.prefix_from_samconfig(config_env, SAMCONFIG) or ""
        if needs_base and outputs.get("ApiBaseUrl"):
            args = args + ["--stack-url", outputs["ApiBaseUrl"]]
    if not prefix:
        raise Refused("no SSM prefix: pass PREFIX=/masked-comms/... (the stack's ParameterPrefix)")
    env = dict(os.environ)
    env["SSM_PARAMETER_PREFIX"] = prefix
    return env, args


def main(argv: list[str]) -> int:
    args = list(argv)
    if os.environ.get("BASE_URL") and not has_option(args, "--base-url"):
        args += ["--base-url", os.environ["BASE_URL"]]
    try:
        if os.environ.get("LOCAL"):
            env, args = local(args)
        elif os.environ.get("ENV_FILE"):
            env, args = from_file(os.environ["ENV_FILE"], args)
        else:
            env, args = from_ssm(args)
    except Refused as e:
        print(f"twilio-setup: {e}", file=sys.stderr)
        return 1
    if not shutil.which("cargo"):
        print("twilio-setup: cargo is needed (https://rustup.rs)", file=sys.stderr)
        return 1
    built = subprocess.run(["cargo", "build", "--quiet", "--package", "twilio-setup"], cwd=REPO)
    if built.returncode != 0:
        return 1
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    binary = (REPO / target if not target.is_absolute() else target) / "debug" / "twilio-setup"
    return subprocess.run([str(binary), *args], env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
