# masked-comms: the two commands are `make dev` (run it locally) and
# `make test` (every check, as CI runs it). Both install what they need.
SHELL := /bin/bash
.DEFAULT_GOAL := help
EMULATOR ?= http://127.0.0.1:4010

.PHONY: help dev test venv lint unit e2e contract browser deploy-checks load \
        bench bench-quick build params call close

help:
	@echo "make dev      run the whole product on http://127.0.0.1:9000 (emulator + sample config)"
	@echo "make test     every test and check, as CI runs it"
	@echo "make bench    benchmarks; writes BENCHMARKS.md"
	@echo "make build    sam build (arm64 bootstraps)"
	@echo "make params   write .env's configuration to SSM under PREFIX"
	@echo "make call FROM=+1... TO=+1...   simulate an inbound call (with make dev running)"
	@echo "make close SID=CH...            close a conversation as Twilio would"

dev:
	bash dev/run-local.sh

call:
	@cargo run -q --bin twilio-emulator -- call --from '$(FROM)' --to '$(TO)' --emulator $(EMULATOR)

close:
	@cargo run -q --bin twilio-emulator -- close --sid '$(SID)' --emulator $(EMULATOR)

venv:
	bash dev/bootstrap-venv.sh

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	python3 dev/tools/feature-drift.py

unit:
	cargo test --workspace

e2e: venv
	.venv/bin/pytest -q tests/e2e

contract:
	bash contract/run.sh

browser: venv
	bash tests/browser/run.sh

deploy-checks: venv
	bash tests/deploy/check.sh

bench-quick:
	bash bench/run.sh --quick

bench:
	bash bench/run.sh

build: venv
	bash tests/deploy/build.sh

params: venv
	bash dev/params.sh

test: lint unit e2e contract browser deploy-checks bench-quick
	@echo "make test: all checks passed"
