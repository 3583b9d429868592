"""template.yaml and samconfig.toml against the code: routes, binaries,
runtime settings, least-privilege IAM, logging, outputs, and the environment
`sam local invoke` gives the functions."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from pathlib import Path

import pytest

from deploy_support import (
    REPO,
    SERVERLESS_FUNCTION,
    api_routes,
    as_list,
    binary_of,
    functions,
    getatt,
    ref,
    router_table,
    sub,
)


# What each function serves (shared/src/handlers/*.rs). Paths and functions
# are also checked against the cargo-lambda router in Cargo.toml below.
HANDLED_ROUTES = {
    ("GET", "/"): "landing-page",
    ("POST", "/sessions"): "sessions",
    ("GET", "/sessions"): "sessions",
    ("GET", "/sessions/{sid}"): "sessions",
    ("DELETE", "/sessions/{sid}"): "sessions",
    ("POST", "/inbound-call"): "inbound-call",
    ("POST", "/conversation-events"): "conversation-events",
}

REQUIRED_CONFIG_ENV = ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "NUMBER_POOL", "AUTH_USERNAME", "AUTH_PASSWORD"]


# ---------------------------------------------------------------- helpers


def cargo_metadata() -> dict:
    out = subprocess.run(
        ["cargo", "metadata", "--no-deps", "--format-version", "1"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def rust_const_seconds(path: str, name: str) -> int:
    text = (REPO / path).read_text()
    match = re.search(rf"const {name}: Duration = Duration::from_secs\((\d+)\)", text)
    assert match, f"{name} not found in {path}"
    return int(match.group(1))


# ---------------------------------------------------------------- routes


def test_every_handled_route_is_in_the_http_api_and_vice_versa(template):
    assert api_routes(template) == HANDLED_ROUTES


def test_api_routes_match_the_cargo_lambda_router(template):
    """Same paths, same functions as `cargo lambda watch` (Cargo.toml), so
    local runs and the deployed API route alike."""
    router = router_table()
    served = {}
    for (method, path), binary in api_routes(template).items():
        served.setdefault(path, set()).add(binary)
    assert set(served) == set(router), "paths in template.yaml vs [workspace.metadata.lambda.watch.router]"
    for path, binaries in served.items():
        assert binaries == {router[path]}, path


def test_one_http_api_with_the_default_stage(template):
    apis = [k for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::HttpApi"]
    assert apis == ["HttpApi"]
    props = template["Resources"]["HttpApi"].get("Properties", {})
    # No StageName: the $default stage, so paths carry no stage prefix (the
    # functions and the webhook signatures see /inbound-call, not /prod/inbound-call).
    assert "StageName" not in props


# ---------------------------------------------------------------- binaries


def test_every_function_is_a_workspace_member_binary(template):
    metadata = cargo_metadata()
    root = Path(metadata["workspace_root"])
    members = set(metadata["workspace_members"])
    bins_by_dir = {}
    for package in metadata["packages"]:
        if package["id"] not in members:
            continue
        directory = Path(package["manifest_path"]).parent.relative_to(root).as_posix()
        bins_by_dir[directory] = [t["name"] for t in package["targets"] if "bin" in t["kind"]]

    template_bins = set()
    for name, fn in functions(template).items():
        code_uri = fn["Properties"]["CodeUri"]
        binary = binary_of(fn)
        assert code_uri in bins_by_dir, f"{name}: CodeUri {code_uri} is not a workspace member"
        assert bins_by_dir[code_uri] == [binary], f"{name}: {code_uri} builds {bins_by_dir[code_uri]}"
        template_bins.add(binary)

    lambda_bins = {b for d, bins in bins_by_dir.items() if d.startswith("functions/") for b in bins}
    assert template_bins == lambda_bins, "every functions/* binary is deployed, and nothing else"
    assert template_bins == set(router_table().values())


def test_runtime_settings(template):
    glob = template["Globals"]["Function"]
    assert glob["Runtime"] == "provided.al2023"
    assert glob["Handler"] == "bootstrap"
    assert glob["Architectures"] == ["arm64"]
    assert glob["MemorySize"] == 128
    budget = rust_const_seconds("shared/src/app.rs", "REQUEST_BUDGET") + rust_const_seconds(
        "shared/src/provision.rs", "ROLLBACK_BUDGET"
    )
    assert glob["Timeout"] == 15 and glob["Timeout"] > budget
    for name, fn in functions(template).items():
        for key in ("Runtime", "Handler", "Architectures", "MemorySize", "Timeout"):
            assert key not in fn["Properties"], f"{name} overrides Globals.{key}"


# ---------------------------------------------------------------- IAM


PREFIX_ARN = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${ParameterPrefix}"


def test_each_function_has_its_own_least_privilege_role(template):
    resources = template["Resources"]
    roles_seen = set()
    for name, fn in functions(template).items():
        props = fn["Properties"]
        assert "Policies" not in props, f"{name}: SAM policies would add AWSLambdaBasicExecutionRole"
        role_name = getatt(props["Role"])[0]
        assert role_name not in roles_seen, f"{name} shares a role"
        roles_seen.add(role_name)
        role = resources[role_name]
        assert role["Type"] == "AWS::IAM::Role"
        role_props = role["Properties"]
        assert not role_props.get("ManagedPolicyArns"), f"{role_name}: no managed policies"
        assert role_props["AssumeRolePolicyDocument"]["Statement"] == [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ]
        log_group = ref(props["LoggingConfig"]["LogGroup"])

        grants: dict[str, list] = {}
        for policy in role_props["Policies"]:
            for statement in policy["PolicyDocument"]["Statement"]:
                assert statement["Effect"] == "Allow"
                for action in as_list(statement["Action"]):
                    assert "*" not in action, f"{role_name}: wildcard action {action}"
                    grants.setdefault(action, []).append(statement)

        assert set(grants) == {
            "logs:CreateLogStream",
            "logs:PutLogEvents",
            "ssm:GetParametersByPath",
            "ssm:GetParameter",
            "ssm:GetParameters",
            "kms:Decrypt",
        }, f"{role_name}: nothing else"

        for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
            (statement,) = grants[action]
            assert getatt(statement["Resource"]) == [log_group, "Arn"], f"{role_name}: own log group only"

        (by_path,) = grants["ssm:GetParametersByPath"]
        assert sorted(sub(r) for r in as_list(by_path["Resource"])) == [PREFIX_ARN, PREFIX_ARN + "/*"]
        for action in ("ssm:GetParameter", "ssm:GetParameters"):
            (statement,) = grants[action]
            assert [sub(r) for r in as_list(statement["Resource"])] == [PREFIX_ARN + "/*"]
        for statement in grants["ssm:GetParametersByPath"] + grants["ssm:GetParameter"]:
            assert "Condition" not in statement

        (decrypt,) = grants["kms:Decrypt"]
        assert decrypt["Condition"] == {
            "StringEquals": {"kms:ViaService": {"Fn::Sub": "ssm.${AWS::Region}.${AWS::URLSuffix}"}}
        }, f"{role_name}: kms:Decrypt only through SSM"
        condition, customer_key, any_key = decrypt["Resource"]["Fn::If"]
        assert condition == "HasKmsKey" and ref(customer_key) == "KmsKeyArn"
        assert sub(any_key) == "arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/*"


def test_no_other_iam_resources(template):
    kinds = {v["Type"] for v in template["Resources"].values()}
    assert kinds == {
        SERVERLESS_FUNCTION,
        "AWS::Serverless::HttpApi",
        "AWS::IAM::Role",
        "AWS::Logs::LogGroup",
    }


# ---------------------------------------------------------------- logs and environment


def test_each_function_logs_json_to_its_own_log_group_with_retention(template):
    resources = template["Resources"]
    for name, fn in functions(template).items():
        props = fn["Properties"]
        binary = binary_of(fn)
        assert sub(props["FunctionName"]) == f"${{AWS::StackName}}-{binary}"
        logging = props["LoggingConfig"]
        assert logging["LogFormat"] == "JSON"
        assert ref(logging["ApplicationLogLevel"]) == "LogLevel"
        group = resources[ref(logging["LogGroup"])]
        assert group["Type"] == "AWS::Logs::LogGroup"
        assert sub(group["Properties"]["LogGroupName"]) == f"/aws/lambda/${{AWS::StackName}}-{binary}"
        assert ref(group["Properties"]["RetentionInDays"]) == "LogRetentionDays"


def test_parameters(template):
    params = template["Parameters"]
    assert params["ParameterPrefix"]["Default"].startswith("/")
    assert set(params["LogLevel"]["AllowedValues"]) == {"TRACE", "DEBUG", "INFO", "WARN", "ERROR"}
    assert 30 in params["LogRetentionDays"]["AllowedValues"]
    assert params["ConfigSource"]["Default"] == "ssm"


def test_deployed_environment_reads_ssm_and_holds_no_configuration(template):
    condition, local, deployed = template["Globals"]["Function"]["Environment"]["Variables"]["Fn::If"]
    assert condition == "ConfigFromEnvironment"
    assert ref(deployed["SSM_PARAMETER_PREFIX"]) == "ParameterPrefix"
    assert ref(deployed["CONFIG_TTL_SECONDS"]) == "ConfigTtlSeconds"
    assert set(deployed) == {"SSM_PARAMETER_PREFIX", "CONFIG_TTL_SECONDS", "TWILIO_CONVERSATIONS_URL", "TWILIO_API_URL"}
    # Lambda reserves AWS_LAMBDA_*: the log level reaches the functions through LoggingConfig.
    assert not [k for k in local if k.startswith("AWS_")]
    assert all(v == "" for k, v in local.items() if k in REQUIRED_CONFIG_ENV), "no values in the template"
    for name, fn in functions(template).items():
        assert "Environment" not in fn["Properties"], f"{name}: environment comes from Globals"


def test_outputs(template):
    base = "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"
    outputs = {k: sub(v["Value"]) for k, v in template["Outputs"].items() if sub(v["Value"])}
    assert outputs == {
        "ApiBaseUrl": base,
        "LandingPageUrl": base + "/",
        "InboundCallWebhookUrl": base + "/inbound-call",
        "ConversationEventsWebhookUrl": base + "/conversation-events",
    }
    for key, url in outputs.items():
        path = url[len(base):] or None
        if path:
            assert any(p == path for _, p in HANDLED_ROUTES), f"{key} points at a served path"


# ---------------------------------------------------------------- sam local invoke


def local_environment(function_logical_id: str, overrides: dict[str, str]) -> dict[str, str]:
    """The environment `sam local invoke FUNCTION --env-vars events/env.json`
    gives the function, computed with SAM CLI's own code (no Docker needed)."""
    from samcli.commands.local.lib.local_lambda import LocalLambdaRunner
    from samcli.lib.providers.sam_function_provider import SamFunctionProvider
    from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider

    stacks, _ = SamLocalStackProvider.get_stacks(str(REPO / "template.yaml"), parameter_overrides=overrides)
    function = SamFunctionProvider(stacks).get(function_logical_id)
    env_vars = json.loads((REPO / "events" / "env.json").read_text())
    runner = LocalLambdaRunner.__new__(LocalLambdaRunner)  # only _make_env_vars is used
    runner.env_vars_values = env_vars
    runner.get_aws_creds = lambda: {}
    runner.is_debugging = lambda: False
    variables = runner._make_env_vars(function)
    variables.shell_env_values = {}  # as if the developer's shell exported nothing
    return variables.resolve()


def test_sam_local_invoke_gets_the_configuration_from_env_json(template, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    samconfig = tomllib.loads((REPO / "samconfig.toml").read_text())
    local = samconfig["default"]["local_invoke"]["parameters"]
    assert local["env_vars"] == "events/env.json"
    overrides = dict(word.split("=", 1) for word in local["parameter_overrides"].replace('"', "").split())
    env_json = json.loads((REPO / "events" / "env.json").read_text())["Parameters"]
    for logical_id in functions(template):
        env = local_environment(logical_id, overrides)
        assert env["SSM_PARAMETER_PREFIX"] == ""
        for key in REQUIRED_CONFIG_ENV + ["TWILIO_CONVERSATIONS_URL", "TWILIO_API_URL"]:
            assert env[key] == env_json[key], f"{logical_id}: {key}"


def test_without_config_source_environment_env_json_cannot_add_configuration(template, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    env = local_environment("SessionsFunction", {})
    assert env["SSM_PARAMETER_PREFIX"] == template["Parameters"]["ParameterPrefix"]["Default"]
    assert not set(REQUIRED_CONFIG_ENV) & set(env), "sam local overrides only declared variables"


# ---------------------------------------------------------------- samconfig.toml


@pytest.mark.parametrize("config_env", ["default", "prod"])
def test_samconfig_environment(config_env, template):
    samconfig = tomllib.loads((REPO / "samconfig.toml").read_text())
    assert samconfig["version"] == 0.1
    section = samconfig[config_env]
    deploy = section["deploy"]["parameters"]
    assert deploy["resolve_s3"] is True
    assert deploy["capabilities"] == "CAPABILITY_IAM"
    assert deploy["confirm_changeset"] is True
    build = section["build"]["parameters"]
    assert build["parallel"] is True
    overrides = dict(word.split("=", 1) for word in deploy["parameter_overrides"].replace('"', "").split())
    assert set(overrides) <= set(template["Parameters"])
    assert re.fullmatch(template["Parameters"]["ParameterPrefix"]["AllowedPattern"], overrides["ParameterPrefix"])


def test_samconfig_environments_do_not_collide():
    samconfig = tomllib.loads((REPO / "samconfig.toml").read_text())
    stacks = {e: samconfig[e]["deploy"]["parameters"]["stack_name"] for e in ("default", "prod")}
    assert len(set(stacks.values())) == 2
    prefixes = {
        e: re.search(r'ParameterPrefix="?([^" ]+)', samconfig[e]["deploy"]["parameters"]["parameter_overrides"]).group(1)
        for e in ("default", "prod")
    }
    assert len(set(prefixes.values())) == 2
    assert prefixes["prod"] == "/masked-comms/prod"
