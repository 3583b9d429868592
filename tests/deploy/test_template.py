"""template.yaml and samconfig.toml against the code: routes, binaries,
runtime settings, least-privilege IAM (derived from the keys each function
reads, tests/support/project.py), throttling, the session index table,
logging, outputs, and the environment `sam local invoke` gives the functions."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for `support`
from support import project  # noqa: E402

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


# What each function serves, as its handler's route table states it (the facts
# file): the oracle the template's routes are checked against. Paths and
# functions are also checked against the cargo-lambda router in Cargo.toml below.
HANDLED_ROUTES = {(r.method, r.path): f.binary for f in project.functions() for r in f.routes}

# Every key some function cannot start without (the facts file).
REQUIRED_CONFIG_ENV = sorted({k.env for f in project.functions() for k in f.required})


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


# ---------------------------------------------------------------- routes


def test_every_handled_route_is_in_the_http_api_and_vice_versa(template):
    assert api_routes(template) == HANDLED_ROUTES


def test_project_module_reads_the_same_routes(template):
    """tests/support/project.py (which other suites use) agrees with cfn-lint's reading."""
    assert {(r.method, r.path): r.binary for r in project.routes()} == api_routes(template)
    for route in project.routes():
        assert binary_of(template["Resources"][route.logical_id]) == route.binary
    assert project.router() == router_table()


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
    budgets = project.budgets()
    budget = budgets["request_secs"] + budgets["rollback_secs"]
    assert glob["Timeout"] == 15 and glob["Timeout"] > budget
    for name, fn in functions(template).items():
        for key in ("Runtime", "Handler", "Architectures", "MemorySize", "Timeout"):
            assert key not in fn["Properties"], f"{name} overrides Globals.{key}"


# ---------------------------------------------------------------- IAM

PARAMETER_ARN = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${ParameterPrefix}/"
ANY_KEY_HERE = "arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/*"
VIA_SSM = {"Fn::Sub": "ssm.${AWS::Region}.${AWS::URLSuffix}"}
LOGS = {"logs:CreateLogStream", "logs:PutLogEvents"}

def session_index_actions() -> dict[str, set[str]]:
    """Per binary, the DynamoDB actions its code paths use, as the code states
    them (shared/src/index/access.rs, through the facts file)."""
    return {f.binary: set(f.dynamodb) for f in project.functions()}


SESSION_INDEX_ACTIONS = session_index_actions()
QUERY_ONLY_ON = {"landing-page": {"index/by-proxy"}}  # the others: the table and each index


def parameter_arn(key: project.ConfigKey) -> dict:
    return {"Fn::Sub": PARAMETER_ARN + key.ssm}


def role_of(template: dict, fn: dict) -> tuple[str, dict]:
    name = getatt(fn["Properties"]["Role"])[0]
    return name, template["Resources"][name]


def statements(role: dict) -> list[dict]:
    """Every statement of every inline policy; an `Fn::If` statement as is."""
    return [s for p in role["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]


def if_branches(statement: dict) -> list[dict]:
    """The statement, or both branches of an `Fn::If` on HasKmsKey."""
    if "Fn::If" not in statement:
        return [statement]
    condition, with_key, without_key = statement["Fn::If"]
    assert condition == "HasKmsKey", statement
    return [with_key, without_key]


def actions(statement: dict) -> set[str]:
    return set(as_list(statement["Action"]))


def table_part(resource) -> str:
    """'table' or 'index/<name>' for an ARN of the session index, else fail."""
    if getatt(resource) == ["SessionIndexTable", "Arn"]:
        return "table"
    text = sub(resource) or ""
    prefix = "${SessionIndexTable.Arn}/index/"
    assert text.startswith(prefix) and "*" not in text, f"not the session index or one named index: {resource}"
    return "index/" + text[len(prefix):]


def function_by_binary(template: dict) -> dict[str, dict]:
    return {binary_of(fn): fn for fn in functions(template).values()}


BINARIES = [f.binary for f in project.functions()]


def test_each_function_has_its_own_role(template):
    resources = template["Resources"]
    roles_seen = set()
    assert set(function_by_binary(template)) == set(BINARIES)
    for name, fn in functions(template).items():
        props = fn["Properties"]
        assert "Policies" not in props, f"{name}: SAM policies would add AWSLambdaBasicExecutionRole"
        role_name, role = role_of(template, fn)
        assert role_name not in roles_seen, f"{name} shares a role"
        roles_seen.add(role_name)
        assert role["Type"] == "AWS::IAM::Role"
        role_props = role["Properties"]
        assert not role_props.get("ManagedPolicyArns"), f"{role_name}: no managed policies"
        assert role_props["AssumeRolePolicyDocument"]["Statement"] == [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ]
        log_group = ref(props["LoggingConfig"]["LogGroup"])
        logs = [s for s in statements(role) if actions(if_branches(s)[0]) & LOGS]
        assert len(logs) == 1 and actions(logs[0]) == LOGS
        assert getatt(logs[0]["Resource"]) == [log_group, "Arn"], f"{role_name}: own log group only"


@pytest.mark.parametrize("binary", BINARIES)
def test_each_role_grants_only_what_its_function_uses(template, binary):
    fn = function_by_binary(template)[binary]
    role_name, role = role_of(template, fn)
    expected = LOGS | {"ssm:GetParameters"} | {f"dynamodb:{a}" for a in SESSION_INDEX_ACTIONS[binary]}
    if project.function(binary).secret_keys:
        expected.add("kms:Decrypt")
    granted = set()
    for statement in statements(role):
        for branch in if_branches(statement):
            assert branch["Effect"] == "Allow"
            assert "NotAction" not in branch and "NotResource" not in branch
            for resource in as_list(branch["Resource"]):
                assert resource != "*", f"{role_name}: Resource *"
            granted |= actions(branch)
    assert granted == expected, f"{role_name}: exactly these actions"


@pytest.mark.parametrize("binary", BINARIES)
def test_each_role_reads_exactly_its_own_parameters(template, binary):
    """ssm:GetParameters on the exact parameter ARNs of the keys the function
    reads (Function::required + optional), nothing on the path, no condition."""
    role_name, role = role_of(template, function_by_binary(template)[binary])
    reads = [s for s in statements(role) if "Fn::If" not in s and "ssm:GetParameters" in actions(s)]
    assert len(reads) == 1, role_name
    (read,) = reads
    assert actions(read) == {"ssm:GetParameters"} and "Condition" not in read
    required, optional = project.function_keys(binary)
    resources = as_list(read["Resource"])
    assert len(resources) == len(required + optional), f"{role_name}: each parameter once"
    assert sorted(map(json.dumps, resources)) == sorted(json.dumps(parameter_arn(k)) for k in required + optional)


@pytest.mark.parametrize("binary", BINARIES)
def test_each_role_decrypts_only_its_own_secrets_through_ssm(template, binary):
    role_name, role = role_of(template, function_by_binary(template)[binary])
    secrets = project.function(binary).secret_keys
    decrypts = [s for s in statements(role) if "kms:Decrypt" in actions(if_branches(s)[0])]
    if not secrets:
        assert not decrypts, f"{role_name} reads no SecureString"
        return
    assert len(decrypts) == 1 and "Fn::If" in decrypts[0], f"{role_name}: one kms:Decrypt, by KmsKeyArn"
    with_key, without_key = if_branches(decrypts[0])
    own_secrets = sorted(json.dumps(parameter_arn(k)) for k in secrets)
    for branch in (with_key, without_key):
        assert actions(branch) == {"kms:Decrypt"}
        equals = branch["Condition"]["StringEquals"]
        assert set(equals) == {"kms:ViaService", "kms:EncryptionContext:PARAMETER_ARN"}
        assert equals["kms:ViaService"] == VIA_SSM, f"{role_name}: only through SSM"
        contexts = as_list(equals["kms:EncryptionContext:PARAMETER_ARN"])
        assert sorted(map(json.dumps, contexts)) == own_secrets, f"{role_name}: only its own SecureStrings"
    assert ref(with_key["Resource"]) == "KmsKeyArn"
    assert set(with_key["Condition"]) == {"StringEquals"}
    assert sub(without_key["Resource"]) == ANY_KEY_HERE
    assert set(without_key["Condition"]) == {"StringEquals", "ForAnyValue:StringEquals"}
    assert without_key["Condition"]["ForAnyValue:StringEquals"] == {"kms:ResourceAliases": "alias/aws/ssm"}


@pytest.mark.parametrize("binary", BINARIES)
def test_no_role_names_a_parameter_its_function_does_not_read(template, binary):
    _, role = role_of(template, function_by_binary(template)[binary])
    text = json.dumps(role)
    own = {k.ssm for k in project.function(binary).keys}
    for key in project.config_keys():
        if key.ssm not in own:
            assert f"${{ParameterPrefix}}/{key.ssm}\"" not in text, f"{binary}: {key.ssm}"
    assert "ParameterPrefix}/*" not in text and "ParameterPrefix}\"" not in text, "nothing on the path"


def test_the_landing_page_cannot_read_the_twilio_token(template):
    _, role = role_of(template, function_by_binary(template)["landing-page"])
    assert "twilio/auth-token" not in json.dumps(role)
    assert "auth/password" in json.dumps(role)


def test_no_function_lists_parameters_by_path(template):
    text = json.dumps(template)
    for action in ("ssm:GetParametersByPath", "ssm:GetParameter\"", "ssm:*", "kms:*", "dynamodb:*"):
        assert action not in text


@pytest.mark.parametrize("binary", BINARIES)
def test_each_role_reaches_only_the_session_index(template, binary):
    _, role = role_of(template, function_by_binary(template)[binary])
    table = template["Resources"]["SessionIndexTable"]["Properties"]
    indexes = {f"index/{i['IndexName']}" for i in table["GlobalSecondaryIndexes"] + table["LocalSecondaryIndexes"]}
    granted: dict[str, set[str]] = {}
    for statement in statements(role):
        for branch in if_branches(statement):
            for action in actions(branch):
                if action.startswith("dynamodb:"):
                    parts = {table_part(r) for r in as_list(branch["Resource"])}
                    granted.setdefault(action.removeprefix("dynamodb:"), set()).update(parts)
    assert set(granted) == SESSION_INDEX_ACTIONS[binary]
    for action, parts in granted.items():
        if action == "Query":
            assert parts == QUERY_ONLY_ON.get(binary, {"table"} | indexes), binary
        else:
            assert parts == {"table"}, f"{binary}: {action} works on the table, never on an index"


def test_every_function_is_in_the_session_index_design():
    assert set(SESSION_INDEX_ACTIONS) == set(BINARIES)


def resolved(template: dict, values: dict[str, str]) -> dict:
    """The template after AWS::LanguageExtensions with these parameter values,
    as SAM CLI's own implementation resolves it (Sub with parameters, If)."""
    from samcli.lib.cfn_language_extensions.sam_integration import expand_language_extensions

    pseudo = {"AWS::Region": "eu-west-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws",
              "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": "masked-comms-test"}
    result = expand_language_extensions(copy.deepcopy(template), {**pseudo, **values}, enabled=True)
    assert result.had_language_extensions
    return result.expanded_template


@pytest.mark.parametrize("kms_key", ["", "arn:aws:kms:eu-west-1:123456789012:key/0000aaaa-bb11-cc22-dd33-eeeeee444444"])
def test_resolved_kms_grant_follows_the_kms_key_parameter(template, kms_key):
    doc = resolved(template, {"ParameterPrefix": "/masked-comms/test", "KmsKeyArn": kms_key})
    for binary in BINARIES:
        fn = function_by_binary(doc)[binary]
        role = doc["Resources"][getatt(fn["Properties"]["Role"])[0]]
        secret_arns = sorted(
            f"arn:aws:ssm:eu-west-1:123456789012:parameter/masked-comms/test/{k.ssm}"
            for k in project.function(binary).secret_keys
        )
        (decrypt,) = [s for s in statements(role) if "kms:Decrypt" in actions(s)]
        equals = decrypt["Condition"]["StringEquals"]
        assert equals["kms:ViaService"] == "ssm.eu-west-1.amazonaws.com", binary
        assert sorted(as_list(equals["kms:EncryptionContext:PARAMETER_ARN"])) == secret_arns, binary
        if kms_key:
            assert decrypt["Resource"] == kms_key and set(decrypt["Condition"]) == {"StringEquals"}
        else:
            assert decrypt["Resource"] == "arn:aws:kms:eu-west-1:123456789012:key/*"
            assert decrypt["Condition"]["ForAnyValue:StringEquals"] == {"kms:ResourceAliases": "alias/aws/ssm"}


def test_resource_types(template):
    kinds = {v["Type"] for v in template["Resources"].values()}
    assert kinds == {
        SERVERLESS_FUNCTION,
        "AWS::Serverless::HttpApi",
        "AWS::IAM::Role",
        "AWS::Logs::LogGroup",
        "AWS::DynamoDB::Table",
        "AWS::CloudWatch::Dashboard",
        "AWS::CloudWatch::Alarm",
    }


# ---------------------------------------------------------------- throttling


def password_protected(route: project.Route) -> bool:
    """The operator's routes: served by a function that reads the password."""
    return project.config_key("auth/password") in project.function(route.binary).keys


def throttle_refs(settings: dict) -> tuple[str | None, str | None]:
    assert set(settings) == {"ThrottlingBurstLimit", "ThrottlingRateLimit"}, settings
    return ref(settings["ThrottlingBurstLimit"]), ref(settings["ThrottlingRateLimit"])


def test_every_route_is_throttled_and_the_operator_routes_more_strictly(template):
    props = template["Resources"]["HttpApi"]["Properties"]
    assert throttle_refs(props["DefaultRouteSettings"]) == ("ThrottleBurstLimit", "ThrottleRateLimit")
    operator = {r.key for r in project.routes() if password_protected(r)}
    webhooks = {r.key for r in project.routes() if not password_protected(r)}
    assert "POST /sessions" in operator and "DELETE /sessions/{sid}" in operator and "GET /" in operator
    assert webhooks == {
        "POST /inbound-call",
        "POST /call-events",
        "POST /inbound-message",
        "POST /proxypoc/inboundCall",
        "POST /conversation-events",
        "POST /conversations-post-event",
    }
    # Webhooks take the default; each operator route has its own stricter entry.
    assert set(props["RouteSettings"]) == operator
    for key in operator:
        assert throttle_refs(props["RouteSettings"][key]) == (
            "OperatorThrottleBurstLimit", "OperatorThrottleRateLimit"), key


def test_throttle_parameters(template):
    params = template["Parameters"]
    for name in ("ThrottleBurstLimit", "ThrottleRateLimit", "OperatorThrottleBurstLimit", "OperatorThrottleRateLimit"):
        assert params[name]["Type"] == "Number" and params[name]["MinValue"] >= 1, name
        assert params[name]["MinValue"] <= params[name]["Default"] <= params[name]["MaxValue"], name
    assert params["OperatorThrottleRateLimit"]["Default"] < params["ThrottleRateLimit"]["Default"]
    assert params["OperatorThrottleBurstLimit"]["Default"] < params["ThrottleBurstLimit"]["Default"]
    for prefix in ("", "Operator"):
        assert params[f"{prefix}ThrottleBurstLimit"]["Default"] >= params[f"{prefix}ThrottleRateLimit"]["Default"]


def substitute(value, values: dict):
    if isinstance(value, dict):
        if set(value) == {"Ref"} and value["Ref"] in values:
            return values[value["Ref"]]
        return {k: substitute(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, values) for v in value]
    return value


def sam_translate(template: dict, monkeypatch) -> dict:
    """The CloudFormation SAM's transform makes of the template (offline)."""
    from samtranslator.translator.transform import transform

    class NoManagedPolicies:
        def load(self):
            return {}

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    doc = copy.deepcopy(template)
    # CloudFormation runs AWS::LanguageExtensions first; nothing SAM reads depends on it.
    doc["Transform"] = "AWS::Serverless-2016-10-31"
    for fn in functions(doc).values():
        fn["Properties"]["CodeUri"] = "s3://bucket/key"
    return transform(doc, {}, NoManagedPolicies())


def test_throttle_parameters_reach_the_stage_for_every_route(template, monkeypatch):
    values = {"ThrottleBurstLimit": 301, "ThrottleRateLimit": 151,
              "OperatorThrottleBurstLimit": 7, "OperatorThrottleRateLimit": 3}
    doc = copy.deepcopy(template)
    doc["Resources"]["HttpApi"] = substitute(doc["Resources"]["HttpApi"], values)
    out = sam_translate(doc, monkeypatch)["Resources"]
    (stage,) = [v for v in out.values() if v["Type"] == "AWS::ApiGatewayV2::Stage"]
    assert stage["Properties"]["StageName"] == "$default"
    assert stage["Properties"]["DefaultRouteSettings"] == {"ThrottlingBurstLimit": 301, "ThrottlingRateLimit": 151}
    body = out["HttpApi"]["Properties"]["Body"]["paths"]
    api_keys = {f"{method.upper()} {path}" for path, methods in body.items() for method in methods}
    assert api_keys == {r.key for r in project.routes()}
    settings = stage["Properties"]["RouteSettings"]
    assert set(settings) <= api_keys, "a RouteSettings key that is no route fails the deployment"
    for key in api_keys:
        limits = settings.get(key, stage["Properties"]["DefaultRouteSettings"])
        strict = key in settings
        assert limits == ({"ThrottlingBurstLimit": 7, "ThrottlingRateLimit": 3} if strict
                          else {"ThrottlingBurstLimit": 301, "ThrottlingRateLimit": 151}), key


# ---------------------------------------------------------------- session index table


def test_session_index_table(template):
    table = template["Resources"]["SessionIndexTable"]
    assert table["Type"] == "AWS::DynamoDB::Table"
    props = table["Properties"]
    assert "TableName" not in props, "a generated name: a retained table never blocks a new stack"
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    attributes = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
    assert attributes == {"pk": "S", "sk": "S", "proxy": "S", "created": "S"}
    assert props["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]
    assert props["GlobalSecondaryIndexes"] == [{
        "IndexName": "by-proxy",
        "KeySchema": [{"AttributeName": "proxy", "KeyType": "HASH"}, {"AttributeName": "pk", "KeyType": "RANGE"}],
        "Projection": {"ProjectionType": "KEYS_ONLY"},
    }]
    assert props["LocalSecondaryIndexes"] == [{
        "IndexName": "by-created",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "created", "KeyType": "RANGE"}],
        "Projection": {"ProjectionType": "ALL"},
    }]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["PointInTimeRecoverySpecification"] == {
        "PointInTimeRecoveryEnabled": {"Fn::If": ["PointInTimeRecoveryOn", True, False]}
    }
    assert props["SSESpecification"] == {"SSEEnabled": True}


def test_point_in_time_recovery_is_a_parameter_off_by_default(template):
    # On, it keeps deleted items (closed sessions' numbers) restorable for 35 days.
    param = template["Parameters"]["PointInTimeRecovery"]
    assert param["Default"] == "false" and sorted(param["AllowedValues"]) == ["false", "true"]
    assert template["Conditions"]["PointInTimeRecoveryOn"] == {"Fn::Equals": [{"Ref": "PointInTimeRecovery"}, "true"]}


def test_a_parameter_chooses_whether_the_table_outlives_the_stack(template):
    param = template["Parameters"]["DeleteTableWithStack"]
    assert param["Default"] == "false" and sorted(param["AllowedValues"]) == ["false", "true"]
    assert template["Conditions"]["DeleteTable"] == {"Fn::Equals": [{"Ref": "DeleteTableWithStack"}, "true"]}
    # Only AWS::LanguageExtensions lets an intrinsic choose these policies, and
    # it must run before SAM's transform.
    assert template["Transform"] == ["AWS::LanguageExtensions", "AWS::Serverless-2016-10-31"]
    for value, policy in (("false", "Retain"), ("true", "Delete"), (None, "Retain")):
        values = {} if value is None else {"DeleteTableWithStack": value}
        table = resolved(template, values)["Resources"]["SessionIndexTable"]
        assert table["DeletionPolicy"] == policy and table["UpdateReplacePolicy"] == policy, value


def test_only_resolvable_policies_use_intrinsics(template):
    for name, resource in template["Resources"].items():
        for attribute in ("DeletionPolicy", "UpdateReplacePolicy"):
            value = resource.get(attribute)
            if value is not None and not isinstance(value, str):
                assert "AWS::LanguageExtensions" in as_list(template["Transform"]), f"{name}.{attribute}"


def test_every_function_gets_the_table_name(template):
    variables = template["Globals"]["Function"]["Environment"]["Variables"]["Fn::If"]
    for branch in variables[1:]:
        assert ref(branch["SESSION_INDEX_TABLE"]) == "SessionIndexTable"
    for name, fn in functions(template).items():
        assert "Environment" not in fn["Properties"], f"{name}: environment comes from Globals"
    assert ref(template["Outputs"]["SessionIndexTableName"]["Value"]) == "SessionIndexTable"


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
    assert params["AlarmTopicArn"]["Default"] == "", "alarms need no topic to deploy"


def test_deployed_environment_reads_ssm_and_holds_no_configuration(template):
    condition, local, deployed = template["Globals"]["Function"]["Environment"]["Variables"]["Fn::If"]
    assert condition == "ConfigFromEnvironment"
    assert ref(deployed["SSM_PARAMETER_PREFIX"]) == "ParameterPrefix"
    assert ref(deployed["CONFIG_TTL_SECONDS"]) == "ConfigTtlSeconds"
    assert set(deployed) == {
        "SSM_PARAMETER_PREFIX", "CONFIG_TTL_SECONDS", "TWILIO_CONVERSATIONS_URL", "TWILIO_API_URL", "SESSION_INDEX_TABLE",
    }
    assert not {k.env for k in project.config_keys()} & set(deployed), "configuration comes from SSM only"
    # Lambda reserves AWS_LAMBDA_*: the log level reaches the functions through LoggingConfig.
    assert not [k for k in local if k.startswith("AWS_")]
    assert all(v == "" for k, v in local.items() if k in REQUIRED_CONFIG_ENV), "no values in the template"
    for name, fn in functions(template).items():
        assert "Environment" not in fn["Properties"], f"{name}: environment comes from Globals"


def test_no_function_is_told_it_runs_locally(template):
    """MASKED_COMMS_LOCAL lets loopback http URLs through (shared/src/callback_url.rs);
    on Lambda loopback is the Runtime API, so the template never sets it,
    in either configuration source, for any function."""
    assert project.local_flag() == "MASKED_COMMS_LOCAL"
    condition, *branches = template["Globals"]["Function"]["Environment"]["Variables"]["Fn::If"]
    environments = list(branches) + [
        fn["Properties"].get("Environment", {}).get("Variables", {}) for fn in functions(template).values()
    ]
    for variables in environments:
        assert "MASKED_COMMS_LOCAL" not in variables
    assert "MASKED_COMMS_LOCAL" not in (REPO / "template.yaml").read_text()


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
    refs = {k: ref(v["Value"]) for k, v in template["Outputs"].items() if not sub(v["Value"])}
    assert refs == {
        "ParameterPrefix": "ParameterPrefix",
        "SessionIndexTableName": "SessionIndexTable",
        "DashboardName": "Dashboard",
    }


# ---------------------------------------------------------------- metrics: dashboard and alarms
#
# The functions' own metrics come from the code's catalogue (the facts file,
# through tests/support/project.py), so a metric renamed or dropped in the code
# fails here, not silently on an empty graph or an alarm that never fires.

# What AWS publishes for this stack's resources, by namespace: the metric
# names the dashboard and alarms may use, and the one dimension naming the
# resource (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-metrics.html,
# https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html).
AWS_METRICS = {
    "AWS/ApiGateway": ({"Count", "4xx", "5xx", "Latency", "IntegrationLatency", "DataProcessed"}, "ApiId"),
    "AWS/Lambda": ({"Errors", "Throttles", "Duration", "Invocations", "ConcurrentExecutions"}, "FunctionName"),
}
CLOUDWATCH_ALARM = "AWS::CloudWatch::Alarm"


def alarms(template: dict) -> dict[str, dict]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == CLOUDWATCH_ALARM}


def dashboard_body(template: dict) -> dict:
    """The dashboard's JSON, its ${...} made checkable: `ref:<LogicalId>` for
    a resource's Ref, `arn:<LogicalId>` for an alarm's ARN; anything else
    it substitutes is an error."""
    text = sub(template["Resources"]["Dashboard"]["Properties"]["DashboardBody"])
    assert text, "DashboardBody is one !Sub"
    resources = template["Resources"]

    def placeholder(match: re.Match) -> str:
        name = match.group(1)
        if name == "AWS::Region":
            return "REGION"
        if name.endswith(".Arn"):
            assert resources[name[: -len(".Arn")]]["Type"] == CLOUDWATCH_ALARM, name
            return f"arn:{name[: -len('.Arn')]}"
        assert name in resources, f"the dashboard substitutes {name!r}"
        return f"ref:{name}"

    return json.loads(re.sub(r"\$\{([^}]+)\}", placeholder, text))


def metric_uses(template: dict) -> list[tuple[str, str, str, tuple[tuple[str, str], ...]]]:
    """(where, namespace, metric name, ((dimension, value), ...)) for every
    metric graphed on the dashboard or watched by an alarm. Also checks that
    each widget's and alarm's math names only ids it defines."""
    uses = []
    for widget in dashboard_body(template)["widgets"]:
        if widget["type"] != "metric":
            continue
        props = widget["properties"]
        where = props["title"]
        ids, hidden, expressions = set(), set(), []
        for row in props["metrics"]:
            assert isinstance(row, list) and row, f"{where}: {row!r}"
            if len(row) == 1 and isinstance(row[0], dict) and "expression" in row[0]:
                expressions.append(row[0]["expression"])
                ids.add(row[0]["id"])
                continue
            options = row[-1] if isinstance(row[-1], dict) else {}
            fields = row[:-1] if options else row
            assert all(isinstance(f, str) for f in fields), f"{where}: {row!r}"
            assert "." not in fields and "..." not in fields, f"{where}: spell every row out: {row!r}"
            namespace, name, *pairs = fields
            assert len(pairs) % 2 == 0, f"{where}: {row!r}"
            uses.append((where, namespace, name, tuple(zip(pairs[::2], pairs[1::2]))))
            if "id" in options:
                assert options["id"] not in ids, f"{where}: id {options['id']} twice"
                ids.add(options["id"])
                if options.get("visible") is False:
                    hidden.add(options["id"])
        assert_math_is_closed(where, expressions, ids, hidden)
    for name, alarm in alarms(template).items():
        queries = alarm["Properties"]["Metrics"]
        ids = {q["Id"] for q in queries}
        assert len(ids) == len(queries), name
        returned = [q for q in queries if q.get("ReturnData", True)]
        assert len(returned) == 1 and "Expression" in returned[0], f"{name}: one expression is the alarm's series"
        expressions = [q["Expression"] for q in queries if "Expression" in q]
        stats = [q for q in queries if "MetricStat" in q]
        assert_math_is_closed(name, expressions, ids, {q["Id"] for q in stats})
        for query in stats:
            stat = query["MetricStat"]
            assert (stat["Period"], stat["Stat"]) == (300, "Sum"), f"{name}.{query['Id']}"
            metric = stat["Metric"]
            dimensions = tuple((d["Name"], f"ref:{ref(d['Value'])}") for d in metric["Dimensions"])
            uses.append((name, metric["Namespace"], metric["MetricName"], dimensions))
    return uses


def assert_math_is_closed(where: str, expressions: list[str], ids: set[str], hidden: set[str]):
    """Expressions name only ids defined beside them, and every hidden metric
    is used by one (a hidden metric nothing sums is a graph line lost)."""
    named = {token for e in expressions for token in re.findall(r"\b[a-z]\w*\b", e)}
    assert named <= ids, f"{where}: expressions name {sorted(named - ids)}, which nothing defines"
    assert hidden <= named, f"{where}: {sorted(hidden - named)} hidden and used by no expression"


def test_the_dashboard_and_alarms_name_only_metrics_the_functions_emit(template):
    catalogue = project.metrics()
    resources = template["Resources"]
    function_ids = set(functions(template))
    uses = metric_uses(template)
    assert len(uses) > 50, "the dashboard and alarms were read"
    for where, namespace, name, dimensions in uses:
        keys = tuple(k for k, _ in dimensions)
        values = dict(dimensions)
        assert len(set(keys)) == len(keys), f"{where}: {name} names a dimension twice"
        if namespace == catalogue.namespace:
            metric = catalogue.metric(name)
            assert sorted(keys) == sorted(metric.dimensions), f"{where}: {name} is emitted with {metric.dimensions}"
            # The code names its function by Lambda's name for it: the Ref.
            assert values["Function"].removeprefix("ref:") in function_ids, f"{where}: {name} {values}"
            if "Outcome" in values:
                assert values["Outcome"] in catalogue.outcomes, f"{where}: {values['Outcome']} is no call outcome"
        else:
            assert namespace in AWS_METRICS, f"{where}: namespace {namespace}"
            names, dimension = AWS_METRICS[namespace]
            assert name in names, f"{where}: {namespace} has no {name}"
            assert keys == (dimension,), f"{where}: {namespace} {name} by {keys}"
            target = values[dimension].removeprefix("ref:")
            expected = "AWS::Serverless::HttpApi" if dimension == "ApiId" else SERVERLESS_FUNCTION
            assert resources[target]["Type"] == expected, f"{where}: {name} of {target}"


def test_the_dashboard_shows_every_metric_and_call_outcome_the_functions_emit(template):
    catalogue = project.metrics()
    graphed = [(name, dict(dims)) for where, ns, name, dims in metric_uses(template)
               if ns == catalogue.namespace and where in {w["properties"].get("title") for w in dashboard_body(template)["widgets"]}]
    assert {name for name, _ in graphed} == {m.name for m in catalogue.metrics}
    assert {dims["Outcome"] for name, dims in graphed if name == "Calls"} == set(catalogue.outcomes)
    # Every function's own request metrics, and Lambda's view of each.
    for metric in ("Latency", "Errors4xx", "Errors5xx"):
        assert {dims["Function"] for name, dims in graphed if name == metric} == {f"ref:{f}" for f in functions(template)}


def test_the_function_dimension_is_each_functions_lambda_name(template):
    # The code takes AWS_LAMBDA_FUNCTION_NAME, which Lambda sets to FunctionName.
    for name, fn in functions(template).items():
        assert sub(fn["Properties"]["FunctionName"]) == f"${{AWS::StackName}}-{binary_of(fn)}", name
    assert project.metrics().function_name_env == "AWS_LAMBDA_FUNCTION_NAME"


# The alarms the issue asks for, by what each watches.
EXPECTED_ALARMS = {
    "ApiErrorRateAlarm": ("AWS/ApiGateway", {"5xx", "Count"}),
    "PoolExhaustedAlarm": ("MaskedComms", {"PoolExhausted"}),
    "UnauthorizedAlarm": ("MaskedComms", {"Unauthorized"}),
    "TwilioErrorsAlarm": ("MaskedComms", {"TwilioErrors"}),
    "LambdaThrottlesAlarm": ("AWS/Lambda", {"Throttles"}),
    "IndexUnavailableAlarm": ("MaskedComms", {"IndexUnavailable"}),
}


def test_the_alarms_watch_what_the_issue_asks_for(template):
    found = alarms(template)
    assert set(found) == set(EXPECTED_ALARMS)
    names = [sub(a["Properties"]["AlarmName"]) for a in found.values()]
    assert len(set(names)) == len(names) and all(n.startswith("${AWS::StackName}-") for n in names), names
    for name, alarm in found.items():
        props = alarm["Properties"]
        namespace, watched = EXPECTED_ALARMS[name]
        stats = [q["MetricStat"]["Metric"] for q in props["Metrics"] if "MetricStat" in q]
        assert {m["Namespace"] for m in stats} == {namespace}, name
        assert {m["MetricName"] for m in stats} == watched, name
        assert props["TreatMissingData"] == "notBreaching", f"{name}: no data is no trouble"
        assert props["EvaluationPeriods"] >= props.get("DatapointsToAlarm", 1) >= 1, name
    pool = found["PoolExhaustedAlarm"]["Properties"]
    assert (pool["ComparisonOperator"], pool["Threshold"], pool["EvaluationPeriods"]) == (
        "GreaterThanOrEqualToThreshold", 1, 1,
    ), "any exhaustion in five minutes"
    rate = found["ApiErrorRateAlarm"]["Properties"]
    assert {ref(d["Value"]) for q in rate["Metrics"] if "MetricStat" in q for d in q["MetricStat"]["Metric"]["Dimensions"]} == {"HttpApi"}
    throttled = {ref(q["MetricStat"]["Metric"]["Dimensions"][0]["Value"])
                 for q in found["LambdaThrottlesAlarm"]["Properties"]["Metrics"] if "MetricStat" in q}
    assert throttled == set(functions(template)), "every function's throttles"


def test_the_dashboard_shows_every_alarm(template):
    (widget,) = [w for w in dashboard_body(template)["widgets"] if w["type"] == "alarm"]
    shown = widget["properties"]["alarms"]
    assert sorted(shown) == sorted(f"arn:{name}" for name in alarms(template))


def test_alarms_notify_the_topic_parameter_only_when_it_is_set(template):
    assert template["Conditions"]["HasAlarmTopic"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]}
    conditional = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}
    for name, alarm in alarms(template).items():
        props = alarm["Properties"]
        assert props["AlarmActions"] == props["OKActions"] == conditional, name
        assert props.get("ActionsEnabled", True) is True, name


@pytest.mark.parametrize("topic", ["", "arn:aws:sns:eu-west-1:123456789012:masked-comms-alarms"])
def test_resolved_alarm_actions_follow_the_topic_parameter(template, topic):
    doc = resolved(template, {"ParameterPrefix": "/masked-comms/test", "AlarmTopicArn": topic})
    for name in alarms(template):
        props = doc["Resources"][name]["Properties"]
        for actions in ("AlarmActions", "OKActions"):
            if topic:
                assert props[actions] == [topic], name
            else:
                assert actions not in props, f"{name}: no actions without a topic"


def test_the_topic_parameter_takes_only_an_sns_topic_arn(template):
    pattern = template["Parameters"]["AlarmTopicArn"]["AllowedPattern"]
    for good in ["", "arn:aws:sns:us-east-1:123456789012:alarms", "arn:aws-us-gov:sns:us-gov-west-1:123456789012:a_b-c"]:
        assert re.fullmatch(pattern, good), good
    for bad in ["alarms", "arn:aws:sqs:us-east-1:123456789012:q", "arn:aws:sns:us-east-1:1234:alarms"]:
        assert not re.fullmatch(pattern, bad), bad


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
