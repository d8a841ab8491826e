# shipgate — the commands the README shows.
CARGO ?= cargo
DATA_DIR ?= .shipgate

.PHONY: run demo test lint fmt clippy bench clean

## Run the whole pipeline locally: every scenario of the release procedure on a virtual clock.
run: demo

demo:
	$(CARGO) run --quiet --bin shipgate -- --data-dir $(DATA_DIR) demo

## Every test: unit, engine, conformance, end-to-end; plus formatting and lints.
test: lint
	$(CARGO) test --workspace --all-targets

lint: fmt clippy
	$(CARGO) run --quiet --bin shipgate -- asl validate statemachine.json

fmt:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## Benchmarks (not tests): wall time of releases on the virtual clock.
bench:
	$(CARGO) bench -p shipgate-tests --bench pipeline

clean:
	rm -rf $(DATA_DIR)
