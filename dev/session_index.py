#!/usr/bin/env python3
"""The session index table for local runs and tests, exactly as template.yaml
declares it (keys, indexes, TTL), created in moto's DynamoDB.

    python dev/session_index.py create --endpoint http://127.0.0.1:5000 --table NAME
    python dev/session_index.py definition      # the CreateTable request, as JSON

The template is the one description of the table: the stack creates it in
AWS, and this creates the same one locally, so tests exercise the keys and
indexes that production has.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
RESOURCE = "SessionIndexTable"
# The properties CreateTable takes; TTL is set by a separate call, and
# point-in-time recovery is an AWS-side backup that a local table has no use for.
CREATE_TABLE_PROPERTIES = [
    "AttributeDefinitions",
    "KeySchema",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "BillingMode",
    "SSESpecification",
]


class CloudFormation(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Ref, !If, ...) read as plain values."""


def _tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


CloudFormation.add_multi_constructor("!", _tag)


def table_properties(template: Path = REPO / "template.yaml") -> dict:
    resources = yaml.load(template.read_text(), Loader=CloudFormation)["Resources"]
    table = resources.get(RESOURCE)
    if not table or table.get("Type") != "AWS::DynamoDB::Table":
        raise SystemExit(f"template.yaml has no AWS::DynamoDB::Table named {RESOURCE}")
    return table["Properties"]


def definition() -> dict:
    """CreateTable's arguments (without TableName), from the template."""
    properties = table_properties()
    arguments = {name: properties[name] for name in CREATE_TABLE_PROPERTIES if name in properties}
    sse = arguments.get("SSESpecification")
    if sse is not None:
        # CloudFormation spells the API's `Enabled` as `SSEEnabled`.
        arguments["SSESpecification"] = {
            ("Enabled" if name == "SSEEnabled" else name): value for name, value in sse.items()
        }
    return arguments


def ttl_attribute() -> str | None:
    spec = table_properties().get("TimeToLiveSpecification") or {}
    return spec.get("AttributeName") if spec.get("Enabled") else None


def create(endpoint: str, table: str, region: str) -> None:
    import boto3

    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    try:
        client.create_table(TableName=table, **definition())
    except client.exceptions.ResourceInUseException:
        return  # already there: creating is idempotent for local runs
    attribute = ttl_attribute()
    if attribute:
        client.update_time_to_live(
            TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": attribute}
        )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    made = commands.add_parser("create", help="create the table (no error if it exists)")
    made.add_argument("--endpoint", required=True, help="moto's URL, e.g. http://127.0.0.1:5000")
    made.add_argument("--table", required=True)
    made.add_argument("--region", default="us-east-1")
    commands.add_parser("definition", help="print CreateTable's arguments as JSON")
    args = parser.parse_args(argv)
    if args.command == "definition":
        print(json.dumps(definition(), indent=2))
    else:
        create(args.endpoint, args.table, args.region)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
