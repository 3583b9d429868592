#!/usr/bin/env bash
# Create/refresh the repo-local Python virtualenv (.venv) with the pinned dev
# tooling from dev/requirements.txt (moto_server, boto3, cargo-lambda, twilio,
# pytest, requests).
#
#   bash dev/bootstrap-venv.sh          # idempotent; ~0.1 s when nothing changed
#
# A stamp file (.venv/.requirements.sha256) records the sha256 of
# requirements.txt that was last installed successfully; the install is re-run
# only when the venv is missing/broken or requirements.txt changed.
#
# `cargo lambda ...` is resolved by cargo as an external subcommand: cargo looks
# for an executable named `cargo-lambda` in $CARGO_HOME/bin and on $PATH and
# runs it as `cargo-lambda lambda ARGS...`. The PyPI package puts that binary
# at .venv/bin/cargo-lambda, so put .venv/bin on PATH first:
#
#   export PATH="$PWD/.venv/bin:$PATH"
#   cargo lambda --version
#
# (Running the binary directly needs the extra `lambda` argument:
#  `.venv/bin/cargo-lambda lambda --version`; `.venv/bin/cargo-lambda --version`
#  is rejected with "unexpected argument".) Note that .venv/bin on PATH also
# shadows python3/pip/pytest with the venv's copies, which is what the e2e
# tests want.
#
# Environment knobs: PYTHON (interpreter used to create the venv, default
# python3). PIP_FIND_LINKS etc. are honoured by pip as usual.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
REQ="$ROOT/dev/requirements.txt"
STAMP="$VENV/.requirements.sha256"
PY="${PYTHON:-python3}"

want="$(sha256sum "$REQ" | cut -d' ' -f1)"

up_to_date() {
    [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]] &&
        "$VENV/bin/python" -c '' 2>/dev/null
}

# Fast path: no lock, no pip.
if up_to_date; then
    exit 0
fi

# Serialise concurrent runs (e.g. two terminals, or CI + a test run).
if command -v flock >/dev/null 2>&1; then
    exec 9<"$REQ"
    flock 9
    if up_to_date; then exit 0; fi
fi

# On Debian/Ubuntu the system python3 ships without ensurepip; `python3 -m venv`
# then fails until the python3-venv package is installed.
if ! "$PY" -c 'import venv, ensurepip' 2>/dev/null; then
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
        echo "bootstrap-venv: installing python3-venv with apt-get" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq python3-venv >/dev/null
    fi
    if ! "$PY" -c 'import venv, ensurepip' 2>/dev/null; then
        echo "bootstrap-venv: '$PY -m venv' is unavailable (missing ensurepip);" \
            "install python3-venv (apt-get install python3-venv) and re-run" >&2
        exit 1
    fi
fi

# (Re)create the venv when it is missing or its interpreter no longer runs
# (e.g. the base Python it was created from was removed).
if ! "$VENV/bin/python" -c '' 2>/dev/null; then
    rm -rf "$VENV"
    echo "bootstrap-venv: creating $VENV" >&2
    "$PY" -m venv "$VENV"
fi

rm -f "$STAMP"
echo "bootstrap-venv: installing dev/requirements.txt (first run takes ~1-2 min)" >&2
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQ"
echo "$want" >"$STAMP.tmp"
mv "$STAMP.tmp" "$STAMP"
echo "bootstrap-venv: ok ($("$VENV/bin/cargo-lambda" lambda --version))" >&2
