# shipgate — the commands the README shows.
CARGO ?= cargo
DATA_DIR ?= .shipgate
ADDR ?= 127.0.0.1:8080
PAYLOAD ?= ../shared/fixtures/github/push-main.json
FUNCTIONS := approve window deploy health-check monitor rollback announce trigger callback

.PHONY: run demo test lint fmt clippy serve push bench bench-engine bench-cold-start clean

## Run the whole pipeline locally: every scenario of the release procedure on a virtual clock.
run: demo

demo:
	$(CARGO) run --quiet --bin shipgate -- --data-dir $(DATA_DIR) demo

## Every test: unit, engine, conformance, differential, AWS adapters on moto, Lambda
## runtime harness, web and browser, end-to-end; plus formatting and lints.
test: lint
	$(CARGO) test --workspace --all-targets

lint: fmt clippy
	$(CARGO) run --quiet --bin shipgate -- asl validate statemachine.json

fmt:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## Serve the dashboard, approval links and the webhook locally (wall clock).
serve:
	$(CARGO) run --quiet --bin shipgate -- --data-dir $(DATA_DIR) serve --addr $(ADDR)

## Send a signed push (SHIPGATE_GITHUB_WEBHOOK_SECRET must match the server's) to `make serve`.
push:
	$(CARGO) run --quiet --bin shipgate -- webhook send --url http://$(ADDR) --payload $(PAYLOAD)

## Benchmarks (not tests); figures go to BENCHMARKS.md.
bench: bench-engine bench-cold-start
	$(CARGO) bench -p shipgate-tests --bench pipeline

bench-engine:
	$(CARGO) bench -p shipgate-asl --bench engine

bench-cold-start:
	$(CARGO) build --release $(foreach f,$(FUNCTIONS),-p shipgate-fn-$(f))
	$(CARGO) bench -p shipgate-aws --bench cold_start

clean:
	rm -rf $(DATA_DIR)
