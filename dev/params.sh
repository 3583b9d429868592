#!/usr/bin/env bash
# `make params`: write .env's configuration to SSM Parameter Store (dev/params.py).
#
#   make params                          # prefix of samconfig.toml [default] (/masked-comms/dev)
#   make params CONFIG_ENV=prod          # prefix of samconfig.toml [prod] (/masked-comms/prod)
#   make params PREFIX=/masked-comms/x   # any prefix
#   make params ENV_FILE=path/to/file    # another env file than .env
#
# Extra options go to dev/params.py (--dry-run, --region, --kms-key-id, ...):
#   bash dev/params.sh --dry-run
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/dev/bootstrap-venv.sh"
args=()
if [[ -n "${PREFIX:-}" ]]; then args+=(--prefix "$PREFIX"); fi
if [[ -n "${ENV_FILE:-}" ]]; then args+=(--env-file "$ENV_FILE"); fi
exec "$ROOT/.venv/bin/python" "$ROOT/dev/params.py" "${args[@]}" "$@"
