#!/usr/bin/env python3
"""Checks that every workspace member resolves its dependencies with the same
features as the whole workspace does under `cargo test --workspace`.

When they differ, cargo compiles a second copy of the dependency (and of
everything above it) for each selection: a function built alone by
`cargo lambda watch` would not reuse what the tests compiled. The crate
dev/workspace-hack pins the union; this check says what it is missing.

    python3 dev/tools/feature-drift.py          # exit 1 and a list when they drift
"""
from __future__ import annotations

import collections
import json
import subprocess
import sys


def resolved(args: list[str]) -> dict[tuple[str, str], frozenset[str]]:
    """(package, version) -> enabled features, from `cargo tree`."""
    out = subprocess.run(
        ["cargo", "tree", "--quiet", "--edges", "features", "--prefix", "none",
         "--format", "{p} {f}", *args],
        capture_output=True, text=True, check=True,
    ).stdout
    features: dict[tuple[str, str], set[str]] = collections.defaultdict(set)
    for line in out.splitlines():
        parts = line.replace(" (*)", "").split(" ")
        # Lines for a feature node read `name feature "x"`; package lines `name vX.Y.Z [(path)] [f,g]`.
        if len(parts) < 2 or not parts[1].startswith("v"):
            continue
        name, version = parts[0], parts[1]
        listed = parts[-1] if len(parts) > 2 and not parts[-1].endswith(")") else ""
        features[(name, version)] |= {f for f in listed.split(",") if f}
    return {k: frozenset(v) for k, v in features.items()}


def members() -> list[str]:
    meta = json.loads(subprocess.run(
        ["cargo", "metadata", "--no-deps", "--format-version", "1"],
        capture_output=True, text=True, check=True,
    ).stdout)
    return sorted(p["name"] for p in meta["packages"])


def main() -> int:
    workspace = resolved(["--workspace", "--edges", "normal,build,dev"])
    drift: dict[tuple[str, str], set[str]] = collections.defaultdict(set)
    for member in members():
        alone = resolved(["--package", member, "--edges", "normal,build"])
        for package, features in alone.items():
            if features != workspace.get(package, features):
                drift[package] |= set(workspace[package] - features) | set(features - workspace[package])
    if not drift:
        print(f"feature-drift: every member resolves dependencies as the workspace does ({len(workspace)} packages)")
        return 0
    print("feature-drift: these dependencies resolve differently when a member is built alone;")
    print("add them to dev/workspace-hack/Cargo.toml with the workspace's features:")
    for (name, version), _ in sorted(drift.items()):
        print(f"  {name} {version}: {','.join(sorted(workspace[(name, version)]))}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
