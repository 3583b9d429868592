#!/usr/bin/env python3
"""What `make dev` and `make test` need from the machine, checked before they
start, with how to get whatever is missing on Debian/Ubuntu and on macOS.

    python3 dev/prereqs.py dev                  # make dev: Rust, a C compiler, Python >= 3.11 with venv
    python3 dev/prereqs.py test [--skip browser]  # make test: + Node/npm (contract/), Chromium + chromedriver
    python3 dev/prereqs.py browser              # Chromium + chromedriver; installs them with
                                                # apt-get when run as root on Debian/Ubuntu
    python3 dev/prereqs.py apt-install PKG...   # apt-get update + install (root), waiting for the dpkg lock

The versions are read from the project, not written here: Rust from
`rust-version` in the root Cargo.toml, Node and npm from the `engines` of
every package in contract/package-lock.json. What `make test` installs by
itself (python3-venv and Chromium with apt-get, as root on Debian/Ubuntu) is
reported as "will be installed", not as missing.

Exit status 1 when something is missing (the list says what and how to get it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from support.stack import find_chromium  # noqa: E402

MIN_PYTHON = (3, 11)
BROWSER_PACKAGES = ["chromium", "chromium-driver"]


@dataclass
class Finding:
    what: str
    ok: bool
    detail: str = ""  # what was found, or why it is not enough
    debian: str = ""  # how to get it on Debian/Ubuntu
    macos: str = ""  # how to get it on macOS
    auto: bool = False  # missing, but the command installs it itself


# ---------------------------------------------------------------- versions


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text)[:3])


def command_version(argv: list[str]) -> str | None:
    """The first x.y[.z] that `argv` prints, or None when it does not run."""
    if not shutil.which(argv[0]):
        return None
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"\d+\.\d+(\.\d+)?", done.stdout + done.stderr)
    return match.group(0) if done.returncode == 0 and match else None


def _bound(text: str) -> tuple[int, int, int]:
    parts = [0 if p in ("x", "X", "*") else int(p) for p in text.split(".") if p != ""]
    return tuple((parts + [0, 0, 0])[:3])  # type: ignore[return-value]


def _comparator_ok(version: tuple[int, ...], token: str) -> bool:
    """One npm comparator (`>=18.17.0`, `^12.20`, `6.*`, `4.x`, `*`)."""
    match = re.fullmatch(r"(>=|<=|>|<|=|\^|~)?v?([0-9xX*][0-9xX*.]*)?", token)
    if not match:
        raise ValueError(f"engine range not understood: {token!r}")
    op, spec = match.group(1) or "", match.group(2) or "*"
    if spec in ("*", "x", "X"):
        return True
    low = _bound(spec)
    given = [p for p in spec.split(".") if p not in ("", "x", "X", "*")]
    v = tuple((list(version) + [0, 0, 0])[:3])
    if op == ">=":
        return v >= low
    if op == ">":
        return v > low
    if op == "<":
        return v < low
    if op == "<=":
        return v <= low
    if op == "^":
        return v >= low and v[0] == low[0]
    if op == "~":
        return v >= low and v[:2] == low[:2]
    # bare or `=`: a partial version is a range (6.* is 6.x.y; 18 is 18.x.y)
    return tuple(v[: len(given)]) == tuple(low[: len(given)])


def satisfies(version: tuple[int, ...], npm_range: str) -> bool:
    """Does `version` satisfy an npm engines range (`a || b`, each a set of comparators)?"""
    for alternative in npm_range.split("||"):
        alternative = re.sub(r"(>=|<=|>|<|=|\^|~)\s+", r"\1", alternative.strip())
        if all(_comparator_ok(version, t) for t in alternative.split()):
            return True
    return False


def engine_needs(lock: Path = REPO / "contract" / "package-lock.json") -> dict[str, list[tuple[str, str]]]:
    """engine (node, npm) -> [(package, range)] from every package in the lock."""
    needs: dict[str, list[tuple[str, str]]] = {}
    for name, meta in json.loads(lock.read_text()).get("packages", {}).items():
        engines = meta.get("engines")
        if not isinstance(engines, dict) or not name:
            continue
        for engine, npm_range in engines.items():
            if engine in ("node", "npm"):
                needs.setdefault(engine, []).append((name.rsplit("node_modules/", 1)[-1], npm_range))
    return needs


def least_version(ranges: list[tuple[str, str]]) -> str:
    """The lowest version named in `ranges` that satisfies all of them."""
    candidates = sorted({_bound(v) for _, r in ranges for v in re.findall(r"\d+(?:\.[\dxX*]+)*", r)})
    for candidate in candidates:
        if all(satisfies(candidate, r) for _, r in ranges):
            return ".".join(map(str, candidate))
    return "?"


# ---------------------------------------------------------------- checks


def can_apt() -> bool:
    return os.geteuid() == 0 and shutil.which("apt-get") is not None


def check_rust() -> list[Finding]:
    import tomllib

    wanted = tomllib.loads((REPO / "Cargo.toml").read_text())["workspace"]["package"]["rust-version"]
    how_debian = "curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh   (rustup; Debian's own cargo may be older)"
    how_macos = "brew install rustup && rustup-init   (or the rustup.rs script)"
    found = command_version(["rustc", "--version"])
    cargo = command_version(["cargo", "--version"])
    if not found or not cargo:
        return [Finding(f"Rust >= {wanted} (cargo, rustc)", False, "not found", how_debian, how_macos)]
    ok = version_tuple(found) >= version_tuple(wanted)
    return [Finding(f"Rust >= {wanted} (cargo, rustc)", ok, f"rustc {found}",
                    "rustup update" if not ok else how_debian, "rustup update" if not ok else how_macos)]


def check_cc() -> list[Finding]:
    cc = os.environ.get("CC", "cc")
    ok = shutil.which(cc) is not None
    return [Finding("a C compiler (cc)", ok, cc if ok else "not found",
                    "apt-get install build-essential", "xcode-select --install")]


def check_python() -> list[Finding]:
    wanted = ".".join(map(str, MIN_PYTHON))
    found = sys.version_info[:2]
    findings = [Finding(f"Python >= {wanted}", found >= MIN_PYTHON, f"python3 {sys.version.split()[0]}",
                        "apt-get install python3 python3-venv", "brew install python@3.12")]
    try:
        import ensurepip  # noqa: F401
        import venv  # noqa: F401

        has_venv = True
    except ImportError:
        has_venv = False
    findings.append(Finding("Python's venv module (with ensurepip)", has_venv,
                            "" if has_venv else "python3 -m venv cannot make a virtualenv",
                            "apt-get install python3-venv", "brew install python@3.12",
                            auto=not has_venv and can_apt()))
    return findings


def check_node() -> list[Finding]:
    needs = engine_needs()
    findings = []
    for engine, label in (("node", "Node.js"), ("npm", "npm")):
        ranges = needs.get(engine, [])
        least = least_version(ranges) if ranges else "any"
        found = command_version([engine, "--version"])
        failing = [f"{p} needs {r}" for p, r in ranges if found and not satisfies(version_tuple(found), r)]
        detail = "not found" if not found else f"{engine} {found}" + (f"; {failing[0]}" if failing else "")
        findings.append(Finding(
            f"{label} >= {least} (contract tests; engines in contract/package-lock.json)",
            bool(found) and not failing,
            detail,
            "apt-get install nodejs npm where the release's nodejs is new enough (Debian 13); "
            "else nvm (nvm install --lts) or NodeSource's nodejs package",
            "brew install node",
        ))
    return findings


def check_browser() -> list[Finding]:
    found = find_chromium()
    return [Finding(
        "Chromium and chromedriver (browser test)",
        found is not None,
        " and ".join(found) if found else "not found (or set CHROMIUM_BIN and CHROMEDRIVER_BIN)",
        "apt-get install chromium chromium-driver (Debian; make test does this itself as root); "
        "Ubuntu: snap install chromium, CHROMEDRIVER_BIN=/snap/bin/chromium.chromedriver",
        "brew install --cask chromium chromedriver",
        auto=found is None and can_apt(),
    )]


def findings_for(command: str, skip: set[str]) -> list[Finding]:
    findings = check_rust() + check_cc() + check_python()
    if command == "test":
        findings += check_node()
        if "browser" not in skip:
            findings += check_browser()
    return findings


def missing_apt_packages(findings: list[Finding]) -> list[str]:
    """What make test installs itself with apt-get, from the findings."""
    packages = []
    for f in findings:
        if f.auto and f.what.startswith("Python's venv"):
            packages.append("python3-venv")
        if f.auto and f.what.startswith("Chromium"):
            packages += BROWSER_PACKAGES
    return packages


def report(command: str, findings: list[Finding]) -> bool:
    """Prints what is missing and how to get it; True when nothing is."""
    missing = [f for f in findings if not f.ok and not f.auto]
    for f in findings:
        if f.auto:
            print(f"make {command}: {f.what}: will be installed with apt-get", file=sys.stderr)
    if not missing:
        return True
    print(f"make {command}: missing prerequisites:", file=sys.stderr)
    for f in missing:
        print(f"  - {f.what}: {f.detail}", file=sys.stderr)
        print(f"      Debian/Ubuntu: {f.debian}", file=sys.stderr)
        print(f"      macOS:         {f.macos}", file=sys.stderr)
    return False


def apt_install(packages: list[str]) -> int:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    lock = ["-o", "DPkg::Lock::Timeout=600"]
    for argv in (["apt-get", *lock, "update", "-qq"], ["apt-get", *lock, "install", "-y", "-qq", *packages]):
        print("$ " + " ".join(argv), flush=True)
        rc = subprocess.run(argv, env=env).returncode
        if rc != 0:
            return rc
    return 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("dev", "test", "browser", "apt-install"):
        print(__doc__, file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    if command == "apt-install":
        return apt_install(rest)
    if command == "browser":
        if find_chromium() is None and can_apt():
            print("browser-test: installing chromium and chromium-driver with apt-get", file=sys.stderr)
            apt_install(BROWSER_PACKAGES)
        findings = check_browser()
        for f in findings:
            f.auto = False
        return 0 if report("browser", findings) else 1
    skip = set()
    if rest[:1] == ["--skip"]:
        skip = {s for s in ",".join(rest[1:]).replace(" ", ",").split(",") if s}
    return 0 if report(command, findings_for(command, skip)) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
