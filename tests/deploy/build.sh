#!/usr/bin/env bash
# `make build`: `sam build` of template.yaml, then the size of every function's
# bootstrap and of its zip (what `sam deploy` uploads).
#
#   bash tests/deploy/build.sh [sam build options...]
#
# SAM's rust-cargolambda build method runs `cargo lambda build --release
# --arm64 --bin NAME` in each function's package directory, into the
# workspace's shared target/ (so dependencies compile once). cargo-lambda comes
# from the venv (.venv/bin/cargo-lambda) and uses Zig from the `ziglang` pip
# package (a dependency of the cargo-lambda wheel) as its cross-linker; no
# Docker is needed. The output is in .aws-sam/build/, ready for `sam deploy`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

bash dev/bootstrap-venv.sh
export PATH="$ROOT/.venv/bin:$PATH"
export SAM_CLI_TELEMETRY=0
# sam build needs a region to load the template, not credentials.
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-${AWS_REGION:-us-east-1}}"

rustup target add aarch64-unknown-linux-gnu

sam build "$@"

python3 - <<'PY'
import io, zipfile
from pathlib import Path

rows = []
for bootstrap in sorted(Path(".aws-sam/build").glob("*/bootstrap")):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(bootstrap, "bootstrap")
    rows.append((bootstrap.parent.name, bootstrap.stat().st_size, len(buffer.getvalue())))
print(f"{'function':<28}{'bootstrap':>14}{'zip':>14}")
for name, size, zipped in rows:
    print(f"{name:<28}{size:>14,}{zipped:>14,}")
PY
