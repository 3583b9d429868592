#!/usr/bin/env bash
# Create/refresh the repo-local Python virtualenv (.venv) with the pinned
# tooling one command needs, in layers:
#
#   bash dev/bootstrap-venv.sh dev     make dev:   cargo-lambda (dev/requirements-dev.txt),
#                                                  moto and boto3 for the local SSM and
#                                                  session index (dev/requirements-local.txt)
#   bash dev/bootstrap-venv.sh test    make test:  + twilio, pytest, requests, selenium,
#                                                  aws-sam-cli, cfn-lint
#                                                  (dev/requirements-test.txt); the default
#   bash dev/bootstrap-venv.sh build   make build, make bench: + ziglang, the cross-linker
#                                                  of `cargo lambda build` (dev/requirements-build.txt)
#
# Idempotent; ~0.1 s when nothing changed. A stamp per requirements file
# (.venv/.stamp-requirements-*.txt) records the sha256 of the file last
# installed successfully; a layer is installed again only when the venv is
# missing or broken or its file changed. A later layer leaves the earlier ones
# in place, so `build` also satisfies `test` and `dev`.
#
# requirements-dev.txt is installed with --no-deps: the cargo-lambda wheel
# depends on ziglang (~410 MB), which only `cargo lambda build` uses (watch and
# invoke never do); the build layer pins and installs it.
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
#  `.venv/bin/cargo-lambda lambda --version`.) .venv/bin on PATH also shadows
# python3/pip/pytest with the venv's copies, which is what the tests want.
#
# Environment knobs: PYTHON (interpreter used to create the venv, default
# python3). PIP_FIND_LINKS etc. are honoured by pip as usual.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3}"
PROFILE="${1:-test}"

case "$PROFILE" in
    dev) LAYERS=(dev local) ;;
    test) LAYERS=(dev local test) ;;
    build) LAYERS=(dev local test build) ;;
    *)
        echo "usage: $0 [dev|test|build]" >&2
        exit 2
        ;;
esac

req() { echo "$ROOT/dev/requirements-$1.txt"; }
stamp() { echo "$VENV/.stamp-requirements-$1.txt"; }
# macOS has `shasum -a 256` where it lacks sha256sum.
if command -v sha256sum >/dev/null 2>&1; then SHA256=(sha256sum); else SHA256=(shasum -a 256); fi
sum() { "${SHA256[@]}" "$(req "$1")" | cut -d' ' -f1; }

layer_ok() { [[ -f "$(stamp "$1")" && "$(cat "$(stamp "$1")")" == "$(sum "$1")" ]]; }
up_to_date() {
    "$VENV/bin/python" -c '' 2>/dev/null || return 1
    local layer
    for layer in "${LAYERS[@]}"; do layer_ok "$layer" || return 1; done
}

# Fast path: no lock, no pip.
if up_to_date; then
    exit 0
fi

# Serialise concurrent runs (e.g. make test's background install and a step).
if command -v flock >/dev/null 2>&1; then
    exec 9<"$ROOT/dev/bootstrap-venv.sh"
    flock 9
    if up_to_date; then exit 0; fi
fi

# On Debian/Ubuntu the system python3 ships without ensurepip; `python3 -m venv`
# then fails until the python3-venv package is installed.
if ! "$PY" -c 'import venv, ensurepip' 2>/dev/null; then
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
        echo "bootstrap-venv: installing python3-venv with apt-get" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get -o DPkg::Lock::Timeout=600 update -qq
        apt-get -o DPkg::Lock::Timeout=600 install -y -qq python3-venv >/dev/null
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

for layer in "${LAYERS[@]}"; do
    layer_ok "$layer" && continue
    rm -f "$(stamp "$layer")"
    echo "bootstrap-venv: installing dev/requirements-$layer.txt" >&2
    flags=()
    [[ "$layer" == dev ]] && flags=(--no-deps)
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${flags[@]}" -r "$(req "$layer")"
    sum "$layer" >"$(stamp "$layer").tmp"
    mv "$(stamp "$layer").tmp" "$(stamp "$layer")"
done
echo "bootstrap-venv: ok ($PROFILE: $("$VENV/bin/cargo-lambda" lambda --version))" >&2
