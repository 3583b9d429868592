# masked-comms: the two commands are `make dev` (run it locally) and
# `make test` (every check, as CI runs it). Both check the machine first and
# install the rest themselves.
SHELL := /bin/bash
.DEFAULT_GOAL := help
EMULATOR ?= http://127.0.0.1:4010
PYTHON ?= python3
# make test SKIP=browser: leave steps out on purpose (the last line says so).
SKIP ?=
# make dev TWILIO=real: real Twilio with the credentials in .env (see dev/run-local.py).
TWILIO ?= emulator

.PHONY: help dev test venv python lint unit e2e contract browser deploy-checks load \
        bench bench-quick build params twilio-setup call close

help:
	@echo "make dev      run the whole product on http://127.0.0.1:9000 (emulator + sample config)"
	@echo "make dev TWILIO=real   the same against real Twilio (.env credentials, a tunnel; see docs/development.md)"
	@echo "make test     every test and check, as CI runs it (SKIP=browser leaves the browser test out)"
	@echo "make bench    benchmarks; writes BENCHMARKS.md"
	@echo "make build    sam build (arm64 bootstraps)"
	@echo "make params   write .env's configuration to SSM under PREFIX"
	@echo "make unparams delete masked-comms's parameters under PREFIX (after sam delete)"
	@echo "make twilio-setup [--dry-run]   point the pool numbers and Conversations webhooks at the stack"
	@echo "              (CONFIG_ENV=prod, BASE_URL=, PREFIX=, ENV_FILE=, LOCAL=1, ARGS=; see dev/twilio-setup.py)"
	@echo "make call FROM=+1... TO=+1...   simulate an inbound call (with make dev running)"
	@echo "make close SID=CH...            close a conversation as Twilio would"

# The launchers are Python >= 3.11 (tomllib); say so plainly when it is not there.
python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	    echo "make: Python >= 3.11 is needed as '$(PYTHON)' (found: $$($(PYTHON) --version 2>&1 || echo none))"; \
	    echo "      Debian/Ubuntu: apt-get install python3 python3-venv    macOS: brew install python@3.12"; \
	    exit 1; }

dev: python
	@$(PYTHON) dev/prereqs.py dev
	@bash dev/bootstrap-venv.sh dev
	@TWILIO='$(TWILIO)' $(PYTHON) dev/run-local.py

test: python
	@$(PYTHON) dev/make-test.py --skip '$(SKIP)'

call:
	@cargo run -q --bin twilio-emulator -- call --from '$(FROM)' --to '$(TO)' --emulator $(EMULATOR)

close:
	@cargo run -q --bin twilio-emulator -- close --sid '$(SID)' --emulator $(EMULATOR)

venv:
	bash dev/bootstrap-venv.sh test

# The link check first: it takes a second and needs no build.
lint:
	$(PYTHON) dev/tools/check-links.py
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	$(PYTHON) dev/tools/feature-drift.py

unit: venv
	cargo test --workspace

e2e: venv
	.venv/bin/pytest -q tests/e2e

contract:
	bash contract/run.sh

browser:
	bash tests/browser/run.sh

deploy-checks: venv
	bash tests/deploy/check.sh

bench-quick: venv
	bash bench/run.sh --quick

# The full benchmarks build arm64 zips: the build layer brings Zig.
bench:
	bash dev/bootstrap-venv.sh build
	bash bench/run.sh

build:
	bash dev/bootstrap-venv.sh build
	bash tests/deploy/build.sh

params: venv
	bash dev/params.sh

# Removes every masked-comms parameter under the prefix (after `sam delete`).
unparams: venv
	bash dev/params.sh --delete

# `make twilio-setup --dry-run` is make's own -n, which runs no recipe: the `+` runs this
# one anyway, and the tool gets --dry-run (prints the plan, changes nothing). Other options
# go in ARGS, e.g. ARGS="--refuse-messages-in-voice-only".
TWILIO_SETUP_DRY_RUN = $(if $(findstring n,$(firstword -$(MAKEFLAGS))),--dry-run)
twilio-setup:
	+@$(PYTHON) dev/twilio-setup.py $(TWILIO_SETUP_DRY_RUN) $(ARGS)
