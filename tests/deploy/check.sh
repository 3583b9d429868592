#!/usr/bin/env bash
# Deployment checks, run by `make test`:
#   1. cfn-lint template.yaml
#   2. sam validate --lint
#   3. openapi-spec-validator openapi.yaml (the API's description, OpenAPI 3.1)
#   4. pytest tests/deploy: template vs code (routes, binaries, IAM, logs,
#      outputs, sam local environment), samconfig.toml, events/ (generated,
#      signed), dev/params.py against moto, and every function binary invoked
#      with `cargo lambda invoke --data-file events/...` against `cargo lambda
#      watch` with its configuration in moto's SSM; and tests/support, which
#      holds openapi.yaml against the sources (routes, error codes) and its
#      checker against wrong answers.
# All offline: a region and no credentials (nothing here talks to AWS).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

bash dev/bootstrap-venv.sh
export PATH="$ROOT/.venv/bin:$PATH"
export SAM_CLI_TELEMETRY=0
offline() {
    env -u AWS_PROFILE -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN \
        AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1 "$@"
}

echo "== cfn-lint template.yaml"
offline cfn-lint template.yaml
echo "cfn-lint: no findings"

echo "== sam validate --lint"
offline sam validate --lint --template-file template.yaml

echo "== openapi-spec-validator openapi.yaml"
openapi-spec-validator openapi.yaml

echo "== pytest tests/deploy"
offline pytest -q -p no:cacheprovider -W ignore::DeprecationWarning tests/deploy tests/support "$@"
