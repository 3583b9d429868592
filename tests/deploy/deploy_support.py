"""Helpers for the deployment checks (tests/deploy); fixtures are in conftest.py.

Processes are started by tests/support/stack.py, as in every suite: each
child in its own process group with its output in test-artifacts/deploy/
<name>.log, stopped at the end, also when a test fails or pytest is
interrupted. Facts about the project (functions, config keys, the watch
router) come from tests/support/project.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: `support`
from support import project, settings, stack  # noqa: E402
from support.stack import REPO, VENV_BIN, StackError, child_env, free_port, wait_until  # noqa: E402,F401

ARTIFACTS = REPO / "test-artifacts" / "deploy"
AWS_REGION = "us-east-1"
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}

# Every function binary (functions/*), and the configuration they require.
BINARIES = [f.binary for f in project.functions()]
REQUIRED_CONFIG_ENV = [k.env for k in settings.required_keys(BINARIES)]


def env_json() -> dict[str, str]:
    """events/env.json's values (what `sam local invoke` gives the functions)."""
    return json.loads((REPO / "events" / "env.json").read_text())["Parameters"]


class Child(stack.Child):
    """A child process in its own process group, output to ARTIFACTS/<name>.log."""

    def __init__(self, name: str, argv: list, env: dict[str, str]):
        super().__init__(name, argv, env, ARTIFACTS)


def ssm_client(endpoint_url: str):
    import boto3

    session = boto3.session.Session(region_name=AWS_REGION, **{
        "aws_access_key_id": DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    })
    return session.client("ssm", endpoint_url=endpoint_url)


def load_template(path: Path = REPO / "template.yaml") -> dict:
    """template.yaml as CloudFormation sees it: short-form tags become their
    long forms (!Ref X -> {"Ref": "X"}, !Sub s -> {"Fn::Sub": s}, ...)."""
    from cfnlint.decode import cfn_yaml

    return cfn_yaml.load(str(path))


# ---------------------------------------------------------------- template helpers

SERVERLESS_FUNCTION = "AWS::Serverless::Function"


def functions(template: dict) -> dict[str, dict]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == SERVERLESS_FUNCTION}


def binary_of(resource: dict) -> str:
    assert resource["Metadata"]["BuildMethod"] == "rust-cargolambda"
    return resource["Metadata"]["BuildProperties"]["Binary"]


def ref(value) -> str | None:
    return value.get("Ref") if isinstance(value, dict) else None


def getatt(value) -> list | None:
    return value.get("Fn::GetAtt") if isinstance(value, dict) else None


def sub(value) -> str | None:
    return value.get("Fn::Sub") if isinstance(value, dict) else None


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def router_table() -> dict[str, str]:
    return project.router()


def api_routes(template: dict) -> dict[tuple[str, str], str]:
    """(method, path) -> binary for every HttpApi event."""
    routes: dict[tuple[str, str], str] = {}
    for name, fn in functions(template).items():
        for event_name, event in fn["Properties"].get("Events", {}).items():
            assert event["Type"] == "HttpApi", f"{name}.{event_name}"
            props = event["Properties"]
            assert ref(props["ApiId"]) == "HttpApi", f"{name}.{event_name}: one HTTP API"
            assert str(props.get("PayloadFormatVersion", "2.0")) == "2.0", f"{name}.{event_name}"
            key = (props["Method"].upper(), props["Path"])
            assert key not in routes, f"route {key} is declared twice"
            routes[key] = binary_of(fn)
    return routes
