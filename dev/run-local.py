#!/usr/bin/env python3
"""`make dev`: the whole product on http://127.0.0.1:9000 without AWS or
Twilio accounts.

    make dev                    # the Twilio emulator, sample config (dev/local.env)
    make dev TWILIO=real        # real Twilio: credentials, pool and operator login from .env,
                                # PUBLIC_BASE_URL = your tunnel's https URL

Starts (with tests/support/stack.py, like the test suites) the Twilio emulator,
moto's server with the session index table (as template.yaml declares it),
and `cargo lambda watch` on 127.0.0.1:PORT with every function at its real path
(the router in the root Cargo.toml), configured from the environment, each
function built and warmed up before the instructions are printed. Watch
rebuilds a function when its sources change. Ctrl-C stops everything.

Emulator mode reads dev/local.env, then `.env` on top for everything but the
Twilio credentials and endpoints (so a `.env` written for `make params` never
switches to real Twilio by itself). Real mode (TWILIO=real) needs in `.env`
every key a function requires (from the facts file, support.project), not the samples, and
PUBLIC_BASE_URL (in the environment or `.env`): Twilio must reach this
machine through a tunnel, and it signs the URL it calls.

Environment: PORT (9000), EMULATOR_PORT (4010), TWILIO (emulator | real),
PUBLIC_BASE_URL (real mode). Logs: .dev-run/*.log.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "dev"))
import params  # noqa: E402  (dev/params.py: the .env reader of make params)
from support import project, settings, stack  # noqa: E402

RUN_DIR = REPO / ".dev-run"
SAMPLE = REPO / "dev" / "local.env"
DOTENV = REPO / ".env"
# Never taken from .env in emulator mode: they would point the functions at real Twilio.
REAL_TWILIO_KEYS = {"TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_CONVERSATIONS_URL", "TWILIO_API_URL",
                    "PUBLIC_BASE_URL"}


class Refused(Exception):
    """make dev cannot start as asked; the message says why and what to do."""


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines as `make params` reads them (dev/params.py)."""
    try:
        return params.read_env_file(path)
    except params.ParamsError as e:
        raise Refused(str(e)) from None


def configuration(mode: str, port: int, emulator_port: int) -> tuple[dict[str, str], list[str], dict[str, str]]:
    """(the functions' environment, the keys taken from .env, where each key came from)."""
    sample = read_env_file(SAMPLE)
    dotenv = read_env_file(DOTENV) if DOTENV.exists() else {}
    origin = {k: "dev/local.env" for k in sample}
    values = dict(sample)
    functions = [f.binary for f in project.functions()]
    required = [k.env for k in settings.required_keys(functions)]

    if mode == "emulator":
        taken = [k for k in dotenv if k not in REAL_TWILIO_KEYS]
        values.update({k: dotenv[k] for k in taken})
        values["TWILIO_CONVERSATIONS_URL"] = values["TWILIO_API_URL"] = f"http://127.0.0.1:{emulator_port}"
        # The emulator signs the URL it calls, which is this port.
        values["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{port}"
    else:
        public = os.environ.get("PUBLIC_BASE_URL") or dotenv.get("PUBLIC_BASE_URL", "")
        if not public.startswith("https://"):
            raise Refused(
                "real Twilio must reach this machine: start a tunnel to "
                f"http://127.0.0.1:{port} (e.g. cloudflared, ngrok) and set PUBLIC_BASE_URL to its https URL,\n"
                "  in .env or as `make dev TWILIO=real PUBLIC_BASE_URL=https://...`"
                + (f" (got {public!r}, which is not https)" if public else "")
            )
        missing = [k for k in required if not dotenv.get(k)]
        if missing:
            raise Refused(
                "real Twilio needs your own values in .env (not the samples of dev/local.env): "
                + ", ".join(missing)
            )
        taken = list(dotenv)
        values.update(dotenv)
        values["PUBLIC_BASE_URL"] = public.rstrip("/")
        for k in ("TWILIO_CONVERSATIONS_URL", "TWILIO_API_URL"):
            if k not in dotenv:
                values.pop(k, None)
    origin.update({k: ".env" for k in taken})
    settings.choose(settings.required_keys(functions), values)  # every required key has a value
    return values, taken, origin


def pool_numbers(values: dict[str, str]) -> list[str]:
    """Every number of NUMBER_POOL and WHATSAPP_POOL, each once."""
    numbers: list[str] = []
    for key in ("NUMBER_POOL", "WHATSAPP_POOL"):
        if values.get(key, "").strip():
            try:
                listed = params.string_list(key, values[key]).split(",")
            except params.ParamsError as e:
                raise Refused(str(e)) from None
            numbers += [n for n in listed if n not in numbers]
    return numbers


def main() -> int:
    mode = os.environ.get("TWILIO", "emulator") or "emulator"
    if mode not in ("emulator", "real"):
        print(f"make dev: TWILIO={mode}? Use TWILIO=real for real Twilio, or leave it out for the emulator.",
              file=sys.stderr)
        return 2
    port = int(os.environ.get("PORT", "9000"))
    emulator_port = int(os.environ.get("EMULATOR_PORT", "4010"))
    try:
        values, taken, origin = configuration(mode, port, emulator_port)
    except (Refused, stack.StackError) as e:
        print(f"make dev: {e}", file=sys.stderr)
        return 1
    for busy in [port] + ([emulator_port] if mode == "emulator" else []):
        if stack.listening(busy):
            print(f"make dev: port {busy} is in use (another make dev?); set PORT= / EMULATOR_PORT=", file=sys.stderr)
            return 1

    stack.terminate_on_sigterm()
    print("building (a first run compiles the workspace, minutes; later runs are quick; progress: .dev-run/build.log)...", flush=True)
    started = time.monotonic()
    run = stack.Stack("dev", log_dir=RUN_DIR)
    try:
        # The session index, as the stack deploys it, in moto's DynamoDB.
        _, moto = run.moto()
        values.update({**stack.LOCAL_AWS, "AWS_ENDPOINT_URL": moto, **run.session_index(moto)})
        if mode == "emulator":
            run.cargo_build(["twilio-emulator"] + [f.binary for f in project.functions()])
            run.emulator(
                values["TWILIO_ACCOUNT_SID"], values["TWILIO_AUTH_TOKEN"], port=emulator_port, build=False,
                voice_url=f"http://127.0.0.1:{port}/inbound-call",
                events_url=f"http://127.0.0.1:{port}/conversation-events",
                # The account owns its pool numbers, so `make twilio-setup LOCAL=1` can wire them.
                numbers=pool_numbers(values),
            )
        # The functions run here: loopback http event and callback URLs are allowed.
        values[stack.LOCAL_FLAG] = "1"
        run.watch(port, values, stack.watched_functions(project.router()), reload=True)
        print(instructions(mode, port, emulator_port, values, taken, origin, time.monotonic() - started), flush=True)
        while True:
            for child in run.children:
                if not child.alive():
                    raise child.fail(f"{child.name} stopped")
            time.sleep(1)
    except stack.StackError as e:
        print(f"make dev: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        run.stop()
        print("stopped.")


def instructions(mode, port, emulator_port, values, taken, origin, elapsed) -> str:
    if origin.get("AUTH_PASSWORD") == "dev/local.env":
        login = f"{values['AUTH_USERNAME']} / {values['AUTH_PASSWORD']}"
    else:
        login = f"{values['AUTH_USERNAME']} / (your AUTH_PASSWORD from .env)"
    from_dotenv = f"\n  from .env: {', '.join(taken)}" if taken else ""
    if mode == "emulator":
        twilio = f"the emulator on http://127.0.0.1:{emulator_port} (state: /_emulator/conversations)"
        if DOTENV.exists() and "TWILIO_ACCOUNT_SID" in read_env_file(DOTENV):
            twilio += "\n          (.env's Twilio credentials are not used; `make dev TWILIO=real` uses them)"
        try_it = """
  Twilio's wiring as on a real account (each pool number's URLs, the Conversations
  webhooks), which the emulator does not need: make twilio-setup LOCAL=1
  Create a session on the page (or with curl, see README.md), then simulate a call
  from a participant to their proxy number and see the TwiML we answer:
      make call FROM=+14155550101 TO=<their proxy number>
  Close a session as Twilio would (fires the conversation-events webhook):
      make close SID=CH...
  Sessions are indexed in a local DynamoDB (moto), as deployed; it starts empty each run.
  Logs: .dev-run/lambda-watch.log, .dev-run/twilio-emulator.log.  Ctrl-C stops everything."""
    else:
        base = values["PUBLIC_BASE_URL"]
        twilio = f"REAL Twilio (credentials from .env), calling back through {base}"
        try_it = f"""
  Keep the tunnel {base} -> http://127.0.0.1:{port} running, and point your Twilio
  account at it (each pool number's voice and messaging URLs, the Conversations webhooks):
      make twilio-setup ENV_FILE=.env BASE_URL={base}
  Sessions you create here use your real numbers and are billed by Twilio.
  Logs: .dev-run/lambda-watch.log.  Ctrl-C stops everything."""
    return f"""
  masked-comms is running: http://127.0.0.1:{port}/   (ready in {elapsed:.0f}s)
  operator login: {login}
  Twilio: {twilio}{from_dotenv}
{try_it}
"""


if __name__ == "__main__":
    sys.exit(main())
