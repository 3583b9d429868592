"""dev/params.py (`make params`) against moto's SSM: what it writes, with which
types, read back with boto3; and that no value ever reaches its output."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from deploy_support import AWS_REGION, DUMMY_CREDENTIALS, REPO, child_env, ssm_client

sys.path.insert(0, str(REPO / "dev"))
sys.path.insert(0, str(REPO / "tests"))  # for `support`
import params  # noqa: E402  (dev/params.py)
from support import project  # noqa: E402

SECRET_TOKEN = "tok-7f3a9c1e5b2d4f60a8e1c3b5d7f9a2c4"
SECRET_PASSWORD = "pw 'with' spaces=and#signs-91b2c3"
ENV_FILE = f"""\
# a .env as an operator writes it
export TWILIO_ACCOUNT_SID=AC00112233445566778899aabbccddeeff
TWILIO_AUTH_TOKEN="{SECRET_TOKEN}"
NUMBER_POOL=["+15005550001", "+15005550002", "+15005550003"]
AUTH_USERNAME=ops
AUTH_PASSWORD="{SECRET_PASSWORD}"
WHATSAPP_POOL=whatsapp:+15005550009, whatsapp:+15005550008
CONNECTING_CALL_ANNOUNCEMENT=Connecting you now.
SESSION_CLOSED_TIMER=P1D
CALL_ANNOUNCEMENT_VOICE=

CONFIG_TTL_SECONDS=60
RUST_LOG=debug
TWILIO_API_URL=http://127.0.0.1:4010
"""
EXPECTED = {
    "twilio/account-sid": ("String", "AC00112233445566778899aabbccddeeff"),
    "twilio/auth-token": ("SecureString", SECRET_TOKEN),
    "number-pool": ("StringList", "+15005550001,+15005550002,+15005550003"),
    "auth/username": ("String", "ops"),
    "auth/password": ("SecureString", SECRET_PASSWORD),
    "whatsapp-pool": ("StringList", "whatsapp:+15005550009,whatsapp:+15005550008"),
    "call/connecting-announcement": ("String", "Connecting you now."),
    "session/closed-timer": ("String", "P1D"),
}


def run_params(args: list[str], endpoint: str | None = None) -> subprocess.CompletedProcess:
    env = child_env({**DUMMY_CREDENTIALS, "AWS_REGION": AWS_REGION, "AWS_DEFAULT_REGION": AWS_REGION})
    argv = [sys.executable, str(REPO / "dev" / "params.py"), *args]
    if endpoint:
        argv += ["--endpoint-url", endpoint]
    return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def read_back(ssm, prefix: str) -> dict[str, tuple[str, str]]:
    pages = ssm.get_paginator("get_parameters_by_path").paginate(Path=prefix, Recursive=True, WithDecryption=True)
    return {
        p["Name"][len(prefix) + 1 :]: (p["Type"], p["Value"]) for page in pages for p in page["Parameters"]
    }


def assert_no_secret(text: str) -> None:
    for secret in (SECRET_TOKEN, SECRET_PASSWORD):
        assert secret not in text
        # nor a recognisable piece of it
        assert secret[:12] not in text


@pytest.fixture
def env_file(tmp_path):
    path = tmp_path / "env"
    path.write_text(ENV_FILE)
    return path


def test_keys_mirror_config_rs():
    """Every configuration key, with its SSM name and whether it is a
    SecureString, is one make params writes, and the other way round."""
    keys = project.config_keys()
    assert len(keys) == len(params.KEYS)
    from_code = {(k.env, k.ssm, "SecureString" if k.secret else None) for k in keys}
    from_params = {(env, ssm, kind if kind == "SecureString" else None) for env, ssm, kind in params.KEYS}
    assert from_code == from_params


# The AWS CLI backend is not run against moto (the CLI is not in the venv);
# test_aws_cli_gets_values_from_a_private_file_and_its_errors_are_masked
# drives it through a stand-in `aws` instead.
BACKENDS = ["boto3"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_writes_typed_parameters_and_prints_no_value(deploy_moto, env_file, backend):
    prefix = f"/masked-comms/test-{backend}"
    ssm = ssm_client(deploy_moto)
    # A parameter the env file does not mention is left alone.
    ssm.put_parameter(Name=f"{prefix}/number-selection/sticky", Type="String", Value="avoid")
    done = run_params(["--env-file", str(env_file), "--prefix", prefix, "--backend", backend], deploy_moto)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert_no_secret(output)
    for name, (kind, _) in EXPECTED.items():
        assert f"{prefix}/{name}  ({kind})" in done.stdout
    assert "skipped (not SSM settings): CONFIG_TTL_SECONDS, RUST_LOG, TWILIO_API_URL" in done.stdout
    written = read_back(ssm, prefix)
    reply_key = written.pop("reply-key")
    assert written == {**EXPECTED, "number-selection/sticky": ("String", "avoid")}
    assert_a_generated_reply_key(reply_key, output)

    # Run again with a changed password: overwritten in place, still String types intact.
    env_file.write_text(ENV_FILE.replace(SECRET_PASSWORD, SECRET_PASSWORD + "-2"))
    done = run_params(["--env-file", str(env_file), "--prefix", prefix, "--backend", backend], deploy_moto)
    assert done.returncode == 0, done.stderr
    assert read_back(ssm, prefix)["auth/password"] == ("SecureString", SECRET_PASSWORD + "-2")
    assert read_back(ssm, prefix)["reply-key"] == reply_key, "a made reply key is never overwritten"
    assert f"{prefix}/reply-key  (SecureString, already there: kept)" in done.stdout
    assert reply_key[1] not in done.stdout + done.stderr


def assert_a_generated_reply_key(parameter: tuple[str, str], output: str) -> None:
    """32 random bytes, base64, as a SecureString, and not in the output."""
    import base64

    kind, value = parameter
    assert kind == "SecureString"
    assert len(base64.b64decode(value, validate=True)) == 32
    assert len(value) >= params.MIN_REPLY_KEY_CHARS
    assert value not in output and value[:12] not in output


def test_a_reply_key_is_made_per_stack_and_one_already_there_is_kept(deploy_moto, env_file):
    """Each prefix gets its own random key; an existing one (written by an
    earlier run, or by hand) survives a run whose env file has none."""
    ssm = ssm_client(deploy_moto)
    keys = []
    for prefix in ("/masked-comms/test-key-a", "/masked-comms/test-key-b"):
        done = run_params(["--env-file", str(env_file), "--prefix", prefix], deploy_moto)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"{prefix}/reply-key  (SecureString, generated if absent)" in done.stdout
        keys.append(read_back(ssm, prefix)["reply-key"])
        assert_a_generated_reply_key(keys[-1], done.stdout + done.stderr)
    assert keys[0][1] != keys[1][1], "a key per stack"

    prefix = "/masked-comms/test-key-kept"
    ssm.put_parameter(Name=f"{prefix}/reply-key", Type="SecureString", Value="an-operators-own-key-" + "k" * 20)
    done = run_params(["--env-file", str(env_file), "--prefix", prefix], deploy_moto)
    assert done.returncode == 0, done.stdout + done.stderr
    assert read_back(ssm, prefix)["reply-key"] == ("SecureString", "an-operators-own-key-" + "k" * 20)


def test_a_short_reply_key_in_the_env_file_is_refused(tmp_path):
    path = tmp_path / "env"
    path.write_text(ENV_FILE + "REPLY_KEY=too-short-key\n")
    done = run_params(["--env-file", str(path), "--prefix", "/x/y", "--dry-run"])
    assert done.returncode == 1
    assert "REPLY_KEY must be at least 32 characters" in done.stderr
    assert "too-short-key" not in done.stdout + done.stderr


def test_the_functions_config_parser_accepts_what_was_written(deploy_moto, env_file):
    """Round trip through the shapes the configuration loader reads: the pool as SSM returns
    a StringList (comma-separated)."""
    prefix = "/masked-comms/test-shape"
    assert run_params(["--env-file", str(env_file), "--prefix", prefix], deploy_moto).returncode == 0
    values = read_back(ssm_client(deploy_moto), prefix)
    kind, pool = values["number-pool"]
    assert kind == "StringList" and re.fullmatch(r"\+\d+(,\+\d+)*", pool)


def test_prefix_comes_from_samconfig(env_file):
    done = run_params(["--env-file", str(env_file), "--dry-run", "--config-env", "prod"])
    assert done.returncode == 0, done.stderr
    assert "would write 8 parameters under /masked-comms/prod" in done.stdout
    assert "/masked-comms/prod/twilio/auth-token  (SecureString)" in done.stdout
    assert_no_secret(done.stdout + done.stderr)
    done = run_params(["--env-file", str(env_file), "--dry-run"])
    assert "under /masked-comms/dev" in done.stdout


def test_dry_run_writes_nothing(deploy_moto, env_file):
    prefix = "/masked-comms/test-dry"
    done = run_params(["--env-file", str(env_file), "--prefix", prefix, "--dry-run"], deploy_moto)
    assert done.returncode == 0, done.stderr
    assert read_back(ssm_client(deploy_moto), prefix) == {}


def test_missing_required_keys_are_named(tmp_path):
    path = tmp_path / "env"
    path.write_text(f"TWILIO_AUTH_TOKEN={SECRET_TOKEN}\nAUTH_USERNAME=ops\n")
    done = run_params(["--env-file", str(path), "--prefix", "/x/y", "--dry-run"])
    assert done.returncode == 1
    assert "TWILIO_ACCOUNT_SID, NUMBER_POOL, AUTH_PASSWORD" in done.stderr
    assert_no_secret(done.stdout + done.stderr)


def test_a_short_password_is_refused_before_anything_is_written(tmp_path, deploy_moto):
    path = tmp_path / "env"
    path.write_text(ENV_FILE.replace(SECRET_PASSWORD, "too-short-pw"))
    done = run_params(["--env-file", str(path), "--prefix", "/masked-comms/short"], deploy_moto)
    assert done.returncode != 0
    assert "AUTH_PASSWORD must be at least 16 characters" in done.stderr
    assert "too-short-pw" not in done.stdout + done.stderr
    assert read_back(ssm_client(deploy_moto), "/masked-comms/short") == {}


def test_make_params_refuses_what_the_functions_refuse():
    """The minimum lengths as the code states them (the facts file), not as
    its source text reads."""
    assert project.config_key("auth/password").min_chars == params.MIN_PASSWORD_CHARS
    assert project.config_key("reply-key").min_chars == params.MIN_REPLY_KEY_CHARS


def test_bad_pool_is_reported_without_its_value(tmp_path):
    path = tmp_path / "env"
    path.write_text(ENV_FILE.replace('NUMBER_POOL=["+15005550001"', 'NUMBER_POOL=["+15005550001" oops'))
    done = run_params(["--env-file", str(path), "--prefix", "/x/y", "--dry-run"])
    assert done.returncode == 1
    assert "NUMBER_POOL is not a valid JSON array" in done.stderr
    assert "+15005550001" not in done.stderr


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_refused_write_fails_without_printing_values(deploy_moto, env_file, backend):
    # SSM (and moto) refuse names under /ssm.
    done = run_params(["--env-file", str(env_file), "--prefix", "/ssm/refused", "--backend", backend], deploy_moto)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "/ssm/refused/twilio/account-sid failed" in done.stderr
    assert_no_secret(output)


def test_aws_cli_gets_values_from_a_private_file_and_its_errors_are_masked(tmp_path, env_file):
    """A stand-in `aws` that records its argv and the request file's mode, and
    echoes the request (values included) into its error output, as a careless
    error message might. The first write (the account SID) fails."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    argv_log = tmp_path / "argv.log"
    fake = bin_dir / "aws"
    fake.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> "{argv_log}"\n'
        'for a in "$@"; do case "$a" in file://*) f="${a#file://}";; esac; done\n'
        'stat -c %a "$f" >> "' + str(argv_log) + '"\n'
        'echo "An error occurred (ValidationException): bad request $(cat "$f")" >&2\n'
        "exit 254\n"
    )
    fake.chmod(0o755)
    env = child_env({**DUMMY_CREDENTIALS, "AWS_REGION": AWS_REGION})
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    done = subprocess.run(
        [sys.executable, str(REPO / "dev" / "params.py"), "--env-file", str(env_file), "--prefix", "/m/c",
         "--backend", "aws-cli"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 1
    assert "aws ssm put-parameter /m/c/twilio/account-sid failed" in done.stderr
    assert "bad request" in done.stderr and '"Value": "***"' in done.stderr
    assert "AC00112233445566778899aabbccddeeff" not in done.stderr
    recorded = argv_log.read_text()
    assert "AC00112233445566778899aabbccddeeff" not in recorded, "values never on the command line"
    assert recorded.splitlines()[1] == "600", "the request file is private"
    assert "--cli-input-json file://" in recorded


def test_boto3_errors_are_masked(env_file, monkeypatch, capsys):
    import boto3

    class Client:
        def put_parameter(self, **request):
            raise RuntimeError(f"refused {request['Name']} = {request['Value']}")

    class Session:
        region_name = "us-east-1"

        def __init__(self, **kwargs):
            pass

        def client(self, *args, **kwargs):
            return Client()

    monkeypatch.setattr(boto3.session, "Session", Session)
    assert params.main(["--env-file", str(env_file), "--prefix", "/m/b", "--backend", "boto3"]) == 1
    out, err = capsys.readouterr()
    assert "refused /m/b/twilio/account-sid = ***" in err
    assert_no_secret(out + err)


def test_env_file_parsing(tmp_path):
    path = tmp_path / "env"
    path.write_text("# c\n\nexport A=1\nB='two words'\nC=\"x=y\"\nA=3\n")
    assert params.read_env_file(path) == {"A": "3", "B": "two words", "C": "x=y"}
    path.write_text("not a pair\n")
    with pytest.raises(params.ParamsError, match=":1: not a KEY=VALUE line"):
        params.read_env_file(path)


def test_string_lists():
    assert params.string_list("P", ' ["+1", "+2"] ') == "+1,+2"
    assert params.string_list("P", "+1, +2") == "+1,+2"
    for bad in ("+1,,+2", '["+1", 2]', '["a,b"]'):
        with pytest.raises(params.ParamsError):
            params.string_list("P", bad)


def test_env_example_names_every_key_with_a_value_make_params_accepts(tmp_path):
    """.env.example lists every key (required ones set, optional ones
    commented out), and with every line uncommented make params takes it."""
    text = (REPO / ".env.example").read_text()
    lines = [line.removeprefix("# ") for line in text.splitlines()]
    named = {line.split("=", 1)[0] for line in lines if re.match(r"^[A-Z_]+=", line)}
    assert named == {env for env, _, _ in params.KEYS}
    for env in params.REQUIRED:
        assert re.search(rf"^{env}=", text, re.M), f"{env} is set, not commented"
    uncommented = tmp_path / "env"
    uncommented.write_text("\n".join(line for line in lines if re.match(r"^[A-Z_]+=", line)) + "\n")
    done = run_params(["--env-file", str(uncommented), "--prefix", "/m/example", "--dry-run"])
    assert done.returncode == 0, done.stdout + done.stderr
    for _, ssm, _ in params.KEYS:
        assert f"/m/example/{ssm}" in done.stdout, ssm


def test_delete_removes_every_key_under_the_prefix_ten_at_a_time(deploy_moto, env_file):
    """make unparams: SSM's DeleteParameters takes at most ten names, and
    there are more keys than that; parameters beside ours stay."""
    prefix = "/masked-comms/test-delete"
    assert len(params.KEYS) > params.DELETE_BATCH
    assert run_params(["--env-file", str(env_file), "--prefix", prefix], deploy_moto).returncode == 0
    ssm = ssm_client(deploy_moto)
    ssm.put_parameter(Name=f"{prefix}/someone-elses", Type="String", Value="x")
    written = set(read_back(ssm, prefix))
    assert written >= set(EXPECTED)

    done = run_params(["--prefix", prefix, "--delete"], deploy_moto)
    assert done.returncode == 0, done.stderr
    assert read_back(ssm, prefix) == {"someone-elses": ("String", "x")}
    # The env file's keys and the reply key make params made.
    assert f"deleted {len(EXPECTED) + 1} parameters" in done.stdout
    assert "not there:" in done.stdout
    assert_no_secret(done.stdout + done.stderr)
