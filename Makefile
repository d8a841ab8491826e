# shipgate — the commands the README shows.
CARGO ?= cargo
DATA_DIR ?= .shipgate
ADDR ?= 127.0.0.1:8080
PAYLOAD ?= tests/fixtures/github/push-main.json
FUNCTIONS := approve window deploy health-check monitor rollback announce trigger callback

.PHONY: run demo twin test test-deps test-twin-launcher lint lint-infra lint-iam fmt clippy serve push bench bench-engine bench-cold-start \
	package package-tools deploy cost clean

## Run the whole pipeline locally: every scenario of the release procedure on a virtual clock.
run: demo

demo:
	$(CARGO) run --quiet --bin shipgate -- --data-dir $(DATA_DIR) demo

## The production stack (infra/template.yaml) run offline as deployed, every scenario on it.
## Needs Python 3 with moto[server], boto3 and aws-sam-translator, and Debian's faketime.
twin:
	$(CARGO) build --workspace --bins
	$(CARGO) run --quiet --bin shipgate -- --data-dir $(DATA_DIR) twin

## Every test: unit, engine, conformance, differential, AWS adapters on moto, Lambda
## runtime harness, web and browser, the twin, end-to-end; plus formatting and lints.
test: test-deps lint test-twin-launcher
	# The Lambda runtime harness, the twin and the cold-start smoke run the function binaries.
	$(CARGO) build --workspace --bins
	$(CARGO) test --workspace --all-targets --no-fail-fast

## What the tests need (pip, npm, apt as root), installed when missing.
test-deps:
	bash .ci/deps

## The twin's launcher (template translation, moto with IAM enforced, the ECS extension).
test-twin-launcher:
	python3 -m pytest -q -p no:cacheprovider infra/twin

## Formatting, clippy, and the pipeline and infrastructure checks. The infrastructure
## linters need `pip install cfn-lint` and `npm ci` (.ci/run does both).
lint: fmt clippy lint-infra
	$(CARGO) run --quiet --bin shipgate -- asl validate statemachine.json

lint-infra: lint-iam
	cfn-lint infra/template.yaml
	@test -x node_modules/.bin/asl-validator || { echo "asl-validator missing: run npm ci" >&2; exit 1; }
	node_modules/.bin/asl-validator --json-path statemachine.json
	$(CARGO) test --quiet -p shipgate-tests --test infra

## Resource scoping of every IAM policy in the template (parliament); the twin checks actions.
lint-iam:
	@if [ -f infra/twin/iam_lint.py ]; then python3 infra/twin/iam_lint.py --template infra/template.yaml --parameters infra/twin/parameters.json; fi

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
	$(CARGO) build --release -p shipgate-aws --bin lambda_echo
	$(CARGO) bench -p shipgate-aws --bench cold_start

## What one release costs on AWS (the minor-happy scenario, infra/prices.toml).
cost:
	$(CARGO) run --quiet --bin shipgate -- --data-dir $(DATA_DIR) cost

## Lambda zips for infra/template.yaml: target/lambda/<function>/bootstrap.zip (arm64).
LAMBDA_DIR ?= target/lambda
package: package-tools
	$(CARGO) lambda build --release --arm64 --output-format zip --lambda-dir $(LAMBDA_DIR) \
		$(foreach f,$(FUNCTIONS),--package shipgate-fn-$(f))
	@ls -l $(foreach f,$(FUNCTIONS),$(LAMBDA_DIR)/$(f)/bootstrap.zip)

## cargo-lambda and zig (the arm64 linker) from PyPI, and Rust's arm64 standard library.
package-tools:
	python3 -m pip install --quiet --disable-pip-version-check 'cargo-lambda==1.9.2' 'ziglang==0.15.1'
	rustup target add aarch64-unknown-linux-gnu

## Deploy the stack (SAM CLI; `sam deploy --guided` asks for the parameters the first
## time and keeps them in samconfig.toml). Run `make package` first. Not run in CI.
STACK ?= shipgate
deploy:
	sam deploy --template-file infra/template.yaml --stack-name $(STACK) \
		--capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND --resolve-s3 \
		$(if $(wildcard samconfig.toml),,--guided) $(DEPLOY_ARGS)

clean:
	rm -rf $(DATA_DIR)
