"""`make twilio-setup` end to end: the real binary, run through make and
dev/twilio-setup.py, reading its configuration from SSM (moto) as the
functions do, against an emulator of its own that owns the pool numbers and
one number outside the pool (configured by another app). A dry run (make's own
`-n`, as `make twilio-setup --dry-run`), a real run, and a second run with
nothing to change; then the binary's refusals and exit codes.

Needs no `cargo lambda watch`: only moto, SSM and the emulator.
"""

from __future__ import annotations

import json
import subprocess

import pytest
import requests

from conftest import REPO, TARGET_DIR
from support import stack

OUTSIDE = "+15005550099"
OUTSIDE_VOICE = "https://other-app.example.com/voice"
AWS = {
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@pytest.fixture(scope="module")
def account(suite_stack, ssm_params):
    """An emulator holding the SSM account, owning the pool and OUTSIDE."""
    child, url = suite_stack.emulator(
        ssm_params.account_sid,
        ssm_params.auth_token,
        numbers=ssm_params.number_pool,
        name="twilio-emulator-setup",
    )
    added = requests.post(
        f"{url}/_emulator/numbers", json={"phone_number": OUTSIDE, "voice_url": OUTSIDE_VOICE}, timeout=10
    )
    assert added.status_code == 201, added.text
    suite_stack.cargo_build(["twilio-setup"], name="build-twilio-setup")
    yield url
    child.stop()


def tool_env(moto: str, emulator: str, extra: dict[str, str]) -> dict[str, str]:
    env = stack.child_env({**AWS, "AWS_ENDPOINT_URL": moto, "TWILIO_API_URL": emulator,
                           "TWILIO_CONVERSATIONS_URL": emulator, **extra})
    # This test may itself run under make (make test): its flags are not this make's.
    for name in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):
        env.pop(name, None)
    return env


def make_twilio_setup(moto, emulator, ssm_params, *make_flags: str) -> subprocess.CompletedProcess:
    env = tool_env(moto, emulator, {"PREFIX": ssm_params.prefix, "BASE_URL": ssm_params.public_base_url})
    return subprocess.run(["make", "--no-print-directory", *make_flags, "twilio-setup"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)


def binary(moto, emulator, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(TARGET_DIR / "debug" / "twilio-setup"), *args], env=tool_env(moto, emulator, env),
                          capture_output=True, text=True, timeout=120)


def writes(emulator: str) -> list[dict]:
    requests_made = requests.get(f"{emulator}/_emulator/requests", timeout=10).json()
    return [r for r in requests_made if r["method"] != "GET"]


def numbers(emulator: str) -> dict[str, dict]:
    return {n["phone_number"]: n for n in requests.get(f"{emulator}/_emulator/numbers", timeout=10).json()}


def assert_private(done: subprocess.CompletedProcess, ssm_params) -> None:
    shown = done.stdout + done.stderr
    for secret in [*ssm_params.number_pool, OUTSIDE, ssm_params.auth_token]:
        assert secret not in shown, f"{secret!r} printed:\n{shown}"


def test_dry_run_then_a_real_run_then_nothing_to_change(moto, account, ssm_params):
    emulator, base = account, ssm_params.public_base_url
    outside = numbers(emulator)[OUTSIDE]

    dry = make_twilio_setup(moto, emulator, ssm_params, "-n")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert f"configuration from SSM parameters under {ssm_params.prefix}" in dry.stdout
    assert f"Pool numbers ({len(ssm_params.number_pool)} owned by the account)" in dry.stdout
    assert "Dry run: 4 updates planned, nothing changed." in dry.stdout, dry.stdout
    assert writes(emulator) == []
    assert all(n["voice_url"] is None for p, n in numbers(emulator).items() if p != OUTSIDE)
    assert_private(dry, ssm_params)

    real = make_twilio_setup(moto, emulator, ssm_params)
    assert real.returncode == 0, real.stdout + real.stderr
    assert "Done: 4 updates applied." in real.stdout, real.stdout
    assert len(writes(emulator)) == 4
    now = numbers(emulator)
    for number in ssm_params.number_pool:
        assert now[number]["voice_url"] == f"{base}/inbound-call"
        assert now[number]["sms_url"] == f"{base}/inbound-message"
        assert now[number]["voice_method"] == now[number]["sms_method"] == "POST"
    assert now[OUTSIDE] == outside
    hooks = requests.get(f"{emulator}/_emulator/conversations-webhooks", timeout=10).json()["account"]
    assert hooks["post_webhook_url"] == f"{base}/conversation-events"
    # Closes clean up; added messages are told (message.added) and logged.
    assert hooks["filters"] == ["onConversationStateUpdated", "onConversationUpdated", "onMessageAdded"]
    assert hooks["pre_webhook_url"] is None
    assert_private(real, ssm_params)

    again = make_twilio_setup(moto, emulator, ssm_params)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Nothing to change" in again.stdout, again.stdout
    assert len(writes(emulator)) == 4, "the second run wrote"
    assert numbers(emulator)[OUTSIDE] == outside


def test_refusals_and_errors_exit_non_zero_and_change_nothing(moto, account, ssm_params):
    emulator = account
    before = writes(emulator)
    env = {
        "TWILIO_ACCOUNT_SID": ssm_params.account_sid,
        "TWILIO_AUTH_TOKEN": ssm_params.auth_token,
        "PUBLIC_BASE_URL": ssm_params.public_base_url,
        # The last is not the account's.
        "NUMBER_POOL": ",".join([*ssm_params.number_pool, "+15005550098"]),
    }
    refused = binary(moto, emulator, env)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "+1********98 is not a number of account" in refused.stdout, refused.stdout
    assert "Refused; nothing was changed" in refused.stdout
    assert_private(refused, ssm_params)

    plain_http = binary(moto, emulator, {**env, "NUMBER_POOL": ssm_params.number_pool[0]},
                        "--base-url", "http://masked.example.com")
    assert plain_http.returncode == 1
    assert "must be https" in plain_http.stderr, plain_http.stderr

    missing = binary(moto, emulator, {k: v for k, v in env.items() if k != "NUMBER_POOL"})
    assert missing.returncode == 1
    assert "configuration `NUMBER_POOL` is missing" in missing.stderr, missing.stderr

    wrong_token = binary(moto, emulator, {**env, "TWILIO_AUTH_TOKEN": "0" * 32})
    assert wrong_token.returncode == 1
    assert "HTTP 401, error 20003" in wrong_token.stderr, wrong_token.stderr

    usage = binary(moto, emulator, env, "--dryrun")
    assert usage.returncode == 2
    assert "unknown option --dryrun" in usage.stderr
    assert writes(emulator) == before


def test_without_base_url_or_prefix_the_deployed_stacks_outputs_are_used(moto, account, ssm_params, ssm_override):
    """The stack samconfig.toml names, as `sam list stack-outputs` reads it (from moto)."""
    import boto3

    cloudformation = boto3.client("cloudformation", endpoint_url=moto, region_name=AWS["AWS_REGION"],
                                  aws_access_key_id="testing", aws_secret_access_key="testing")
    stack_url = "https://abc123.execute-api.us-east-1.amazonaws.com"
    cloudformation.create_stack(StackName="masked-comms-dev", TemplateBody=json.dumps({
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"ApiBaseUrl": {"Value": stack_url}, "ParameterPrefix": {"Value": ssm_params.prefix}},
    }))
    try:
        env = tool_env(moto, account, {})
        done = subprocess.run(["make", "--no-print-directory", "-n", "twilio-setup"], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "reading the outputs of stack masked-comms-dev" in done.stderr, done.stderr
        assert f"configuration from SSM parameters under {ssm_params.prefix}" in done.stdout, done.stdout
        # The functions check signatures against public-base-url: it wins over the stack's URL.
        assert f"Base URL {ssm_params.public_base_url} (from the configured public-base-url)" in done.stdout

        with ssm_override({"public-base-url": None}):
            moving = subprocess.run(["make", "--no-print-directory", "-n", "twilio-setup"], cwd=REPO, env=env,
                                    capture_output=True, text=True, timeout=600)
            done = subprocess.run(["make", "--no-print-directory", "-n", "twilio-setup", "ARGS=--replace-webhooks"],
                                  cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
        # The webhooks point at the earlier base URL: moving them is the operator's call.
        assert moving.returncode != 0
        assert "(another deployment of masked-comms, by its path)" in moving.stdout, moving.stdout
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"Base URL {stack_url} (from the stack's ApiBaseUrl output)" in done.stdout, done.stdout
        assert f"{stack_url}/inbound-call" in done.stdout
    finally:
        cloudformation.delete_stack(StackName="masked-comms-dev")
