# multicluster-service-account: developer entry points. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SERVE_DIR ?= .serve
SERVE_ADDRESS ?= 127.0.0.1:8443
TESTBED_DIR ?= .testbed
TESTBED_NETNS ?= mcsa-testbed
# Runs a command in the test bed's own network namespace with the real node (as root; it builds the
# node and the images first), or says why not and runs it on the kubelet-less bed.
ISOLATED := $(BIN)/python -m tests.testbed.isolated

.DEFAULT_GOAL := help
.PHONY: help venv lint test matrix unit e2e serve testbed-build testbed-up testbed-down demo bench dist clean

help: ## List the targets.
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) \
		| sed -e 's|$$(SERVE_ADDRESS)|$(SERVE_ADDRESS)|g' -e 's|$$(SERVE_DIR)|$(SERVE_DIR)|g' -e 's|$$(TESTBED_DIR)|$(TESTBED_DIR)|g' \
		| awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(BIN)/.installed: requirements.txt requirements-dev.txt pyproject.toml VERSION distributions/editable.py distributions/spec.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/python -m distributions.build --develop
	touch $@

venv: $(BIN)/.installed ## Create the virtualenv with pinned dependencies.

lint: venv ## Run ruff and mypy (strict), gofmt and go vet on the credential plugin, actionlint on the workflows.
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	@unformatted=$$(cd credential-plugin && gofmt -l .); [ -z "$$unformatted" ] || { echo "gofmt: $$unformatted" >&2; exit 1; }
	cd credential-plugin && go vet ./...
	actionlint=$$(tests/tools/build-actionlint.sh) && "$$actionlint"

testbed-build: ## Build etcd, kube-apiserver and kube-controller-manager (cached in ~/.cache); the node and images come with test/demo.
	tests/tools/build.sh

test: venv lint testbed-build ## Run every test: unit, app, and end-to-end on two real clusters (cluster1 with a real node, as root); then the matrix.
	cd credential-plugin && go test ./...
	$(BIN)/python -m tests.packages.wheelhouse
	$(ISOLATED) --with-clients -- $(BIN)/pytest
	$(BIN)/python -m tests.testbed.matrix

matrix: venv testbed-build ## Run the core end-to-end tests on the oldest and newest supported Kubernetes (built once each, cached).
	$(BIN)/python -m tests.testbed.matrix

unit: venv ## Run the tests that need no cluster.
	cd credential-plugin && go test ./...
	$(BIN)/pytest -m "not e2e"

e2e: venv testbed-build ## Run the end-to-end tests only.
	$(BIN)/python -m tests.packages.wheelhouse
	$(ISOLATED) --with-clients -- $(BIN)/pytest -m e2e

serve: venv ## Serve the hooks with gunicorn and TLS on $(SERVE_ADDRESS) (self-signed certificate in $(SERVE_DIR)/).
	$(BIN)/python -m hooks.pki $(SERVE_DIR) --host $(firstword $(subst :, ,$(SERVE_ADDRESS))) --host localhost
	MCSA_BIND=$(SERVE_ADDRESS) MCSA_TLS_CERT_FILE=$(SERVE_DIR)/tls.crt MCSA_TLS_KEY_FILE=$(SERVE_DIR)/tls.key \
		$(BIN)/gunicorn -c hooks/gunicorn.conf.py 'hooks:create_app()'

testbed-up: venv testbed-build ## Start cluster1 (with its node, as root) and cluster2; kubeconfig in $(TESTBED_DIR)/kubeconfig.
	$(ISOLATED) --name $(TESTBED_NETNS) --keep -- $(BIN)/python -m tests.testbed up --dir $(TESTBED_DIR)

testbed-down: venv ## Stop what testbed-up started.
	$(BIN)/python -m tests.testbed down --dir $(TESTBED_DIR) --netns $(TESTBED_NETNS)

demo: venv testbed-build ## Run the seed's two-cluster walkthrough (cluster1 with a real node, as root), step by step.
	$(ISOLATED) -- $(BIN)/python -m tests.demo

bench: venv testbed-build ## Benchmarks (BENCH_QUICK=1 for a short run; the node's parts as root); installs wrk from Debian if missing.
	@command -v wrk >/dev/null || apt-get install -y wrk >/dev/null || (apt-get update >/dev/null && apt-get install -y wrk >/dev/null) \
		|| { echo "error: cannot install wrk; install it (Debian: apt-get install wrk)" >&2; exit 1; }
	$(ISOLATED) -- $(BIN)/python -m bench.run

dist: venv ## Build every release artifact into dist/ (install.yaml, Helm chart, Python packages, image archives; images as root).
	hack/dist.sh dist

clean: ## Remove the virtualenv and local state (not the cached Kubernetes binaries).
	rm -rf $(VENV) $(SERVE_DIR) $(TESTBED_DIR) dist .pytest_cache .mypy_cache .ruff_cache *.egg-info
