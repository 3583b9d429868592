#!/usr/bin/env bash
# Browser test of the operator's page: a real headless Chromium, driven over
# WebDriver (chromedriver) by Python/selenium, against the real stack, which
# tests/browser/conftest.py starts with tests/support/stack.py.
#
#   bash tests/browser/run.sh                 # run the test (make browser)
#   bash tests/browser/run.sh --update-docs   # also refresh docs/landing.png
#
# Installs what is missing: Chromium and chromedriver with apt-get (as root on
# Debian/Ubuntu; dev/prereqs.py browser), the repo venv (.venv, test layer).
# Without Chromium it fails, naming it and how to install it: a browser test
# that did not run is not a pass (`make test SKIP=browser` leaves it out on
# purpose). Artifacts (logs, screenshots): test-artifacts/browser/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
UPDATE_DOCS=false
for arg in "$@"; do
    case "$arg" in
        --update-docs) UPDATE_DOCS=true ;;
        *) echo "usage: $0 [--update-docs]" >&2; exit 2 ;;
    esac
done

python3 dev/prereqs.py browser
bash dev/bootstrap-venv.sh test
PYTHONDONTWRITEBYTECODE=1 .venv/bin/python -m pytest -p no:cacheprovider -q -rs tests/browser

if [[ "$UPDATE_DOCS" == true ]]; then
    cp test-artifacts/browser/landing.png docs/landing.png
    echo "browser-test: updated docs/landing.png" >&2
fi
