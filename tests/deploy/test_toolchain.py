"""The toolchain is pinned, and the minimum Rust the manifests declare is the
one the locked dependencies really need: a first run on an older compiler
fails at the version check, not deep inside a dependency's build."""

from __future__ import annotations

import json
import subprocess
import tomllib

from deploy_support import REPO


def version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def locked_dependency_minimums() -> dict[str, str]:
    """`rust-version` of every package in the lock's resolution, by name@version."""
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    metadata = json.loads(out.stdout)
    resolved = {node["id"] for node in metadata["resolve"]["nodes"]}
    members = set(metadata["workspace_members"])
    return {
        f"{p['name']}@{p['version']}": p["rust_version"]
        for p in metadata["packages"]
        if p["id"] in resolved and p["id"] not in members and p.get("rust_version")
    }


def test_rust_version_is_what_the_locked_dependencies_need():
    declared = tomllib.loads((REPO / "Cargo.toml").read_text())["workspace"]["package"]["rust-version"]
    needs = locked_dependency_minimums()
    assert needs, "cargo metadata named no dependency minimums"
    highest = max(needs.values(), key=version)
    assert version(declared) == version(highest), (
        f"Cargo.toml says {declared}; the locked dependencies need {highest}: "
        + ", ".join(sorted(name for name, v in needs.items() if v == highest))
    )


def test_the_toolchain_file_pins_a_release_with_the_tools_and_the_lambda_target():
    toolchain = tomllib.loads((REPO / "rust-toolchain.toml").read_text())["toolchain"]
    declared = tomllib.loads((REPO / "Cargo.toml").read_text())["workspace"]["package"]["rust-version"]
    channel = toolchain["channel"]
    assert channel[0].isdigit(), f"a release number, not {channel!r}"
    assert version(channel) >= version(declared)
    assert {"rustfmt", "clippy"} <= set(toolchain["components"])
    # template.yaml builds arm64 bootstraps.
    assert "aarch64-unknown-linux-gnu" in toolchain["targets"]
    template = (REPO / "template.yaml").read_text()
    assert "arm64" in template
