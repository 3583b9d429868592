"""Fixtures for the deployment checks (tests/deploy), run by tests/deploy/check.sh.

    suite_stack   the suite's children (tests/support/stack.py), logs in test-artifacts/deploy/
    deploy_moto   a moto_server on 127.0.0.1 (SSM for dev/params.py and the functions)
    template      template.yaml, loaded with its short-form tags (!Ref, !Sub, ...)

For test_invoke.py (module scope): the functions as `make params` and a
deployed stack configure them, run by one `cargo lambda watch`:

    built         `cargo build` of every function and the emulator (dev profile)
    ssm_config    the configuration in SSM, written by dev/params.py from the
                  values in events/env.json (every configuration key it has a value for)
    emulator      the Twilio emulator holding events/env.json's account
    watch         (child, port) of `cargo lambda watch` serving every function,
                  its environment pointing at SSM (moto) and the emulator

Helpers live in deploy_support.py (not here: test modules import them, and
another directory's conftest.py may already own the module name `conftest`).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from deploy_support import (
    ARTIFACTS,
    AWS_REGION,
    BINARIES,
    DUMMY_CREDENTIALS,
    REPO,
    child_env,
    env_json,
    free_port,
    load_template,
    project,
    ssm_client,
    stack,
)
from support.pytest_stack import *  # noqa: F401,F403  (SIGTERM and StackError hooks)

INVOKE_PREFIX = "/masked-comms/deploy-check"


@pytest.fixture(scope="session")
def stack_options() -> dict:
    """The children's logs go to test-artifacts/deploy/ (`suite_stack`, `moto`)."""
    return {"suite": "deploy", "log_dir": ARTIFACTS}


@pytest.fixture(scope="session")
def deploy_moto(moto):
    """URL of a moto_server on 127.0.0.1 (in-memory AWS)."""
    return moto


@pytest.fixture(scope="session")
def template() -> dict:
    return load_template()


@pytest.fixture(scope="module")
def built(suite_stack):
    suite_stack.cargo_build(BINARIES + ["twilio-emulator"])


@pytest.fixture(scope="module")
def ssm_config(deploy_moto):
    """The prefix under which dev/params.py wrote events/env.json's configuration."""
    env = env_json()
    keys = [k.env for k in project.config_keys() if env.get(k.env)]
    env_file = ARTIFACTS / "params.env"
    stack.write_private(env_file, "".join(f"{k}={env[k]}\n" for k in keys))
    done = subprocess.run(
        [sys.executable, str(REPO / "dev" / "params.py"), "--env-file", str(env_file), "--prefix", INVOKE_PREFIX,
         "--endpoint-url", deploy_moto, "--region", AWS_REGION, "--backend", "boto3"],
        cwd=REPO, env=child_env(DUMMY_CREDENTIALS), capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    written = ssm_client(deploy_moto).get_parameters_by_path(Path=INVOKE_PREFIX, Recursive=True)["Parameters"]
    assert {p["Name"] for p in written} >= {f"{INVOKE_PREFIX}/{k.ssm}" for k in project.config_keys() if k.env in keys}
    return INVOKE_PREFIX


@pytest.fixture(scope="module")
def emulator(built, suite_stack):
    env = env_json()
    child, url = suite_stack.emulator(env["TWILIO_ACCOUNT_SID"], env["TWILIO_AUTH_TOKEN"], build=False)
    yield url
    child.stop()


@pytest.fixture(scope="module")
def watch(built, deploy_moto, ssm_config, emulator, suite_stack):
    """`cargo lambda watch` serving every function, with the settings a
    deployed function gets from template.yaml plus the local endpoints."""
    function_env = {
        "SSM_PARAMETER_PREFIX": ssm_config,
        "CONFIG_TTL_SECONDS": "300",
        "AWS_ENDPOINT_URL": deploy_moto,
        "AWS_REGION": AWS_REGION,
        **DUMMY_CREDENTIALS,
        "AWS_EC2_METADATA_DISABLED": "true",
        "TWILIO_CONVERSATIONS_URL": emulator,
        "TWILIO_API_URL": emulator,
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_LAMBDA_LOG_LEVEL": "INFO",
    }
    port = free_port()
    child, _ = suite_stack.watch(port, function_env, stack.watched_functions(project.router()))
    yield child, port
    child.stop()
