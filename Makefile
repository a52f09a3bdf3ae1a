# Every target creates the virtual environment it needs: a fresh machine needs only Python 3.11+
# with its venv module (Debian/Ubuntu: apt install python3-venv) and make.
PYTHON ?= python3
# .venv-run: the function's own dependencies (pyproject's dependencies, plus PyYAML for the
# example files): make render, make run. .venv: the development set: tests, lint, generate.
RUN_VENV  := .venv-run
RUN_PY    := $(RUN_VENV)/bin/python
RUN_STAMP := $(RUN_VENV)/.installed-run
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-dev
# Stops with what is missing: Python older than 3.11, or no venv module (python3-venv).
NEED_PYTHON = @$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { echo "make: $(PYTHON) must be Python 3.11 or newer (set PYTHON=python3.11 ...)" >&2; exit 1; }; $(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || { echo "make: $(PYTHON) has no venv module; on Debian/Ubuntu: apt install python3-venv" >&2; exit 1; }
IMAGE  ?= function-klutch-aws:dev
XPKG   ?= _output/function-klutch-aws.xpkg

.PHONY: help venv venv-run test e2e render run lint typecheck generate format bench bench-peers bench-scale bench-calls build xpkg xpkg-stage xpkg-configuration clean

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-19s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(NEED_PYTHON)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

$(RUN_STAMP): pyproject.toml
	$(NEED_PYTHON)
	$(PYTHON) -m venv $(RUN_VENV)
	$(RUN_PY) -m pip install -q --upgrade pip
	$(RUN_PY) -m pip install -q -e '.[render]'
	touch $@

venv: $(STAMP) ## Create .venv with the function and its test tools

venv-run: $(RUN_STAMP) ## Create .venv-run with the function's own dependencies only (make render, make run)

test: $(STAMP) ## Run every test (unit, protocol, schema, AWS semantics, properties)
	$(PY) -m pytest -q

e2e: $(STAMP) ## The real control plane (docs/e2e.md): build its Go programs once (cached outside the clone), then run tests/e2e
	bash tests/e2e/build.sh
	$(PY) -m pytest -q -m e2e tests/e2e

render: $(RUN_STAMP) ## Render every example at rest through the function (started locally, called over gRPC)
	$(RUN_PY) tools/render.py examples

run: $(RUN_STAMP) ## Serve the function insecurely on :9443, for `crossplane render`
	$(RUN_VENV)/bin/function --insecure --debug

lint: $(STAMP) ## ruff lint and format check; mypy --strict on function/; the import layers of function/ (import-linter contracts in pyproject.toml, docs/architecture.md); test modules import helpers from tests/support only
	$(VENV)/bin/ruff check function tests tools
	$(VENV)/bin/ruff format --check function tests tools
	$(VENV)/bin/lint-imports --no-logo --no-cache
	$(PY) tools/check_test_imports.py
	$(VENV)/bin/mypy

typecheck: $(STAMP) ## mypy --strict on function/ (configured in pyproject.toml; also run by lint)
	$(VENV)/bin/mypy

generate: $(STAMP) ## Write the generated files: example XRs, the user guide's field reference, the input CRD, the operator guide's settings table and the whole-output files (tests/golden)
	$(PY) tools/examples.py
	$(PY) tools/field_reference.py
	$(PY) tools/gen_input_crd.py
	$(PY) tools/golden.py

format: $(STAMP) ## Apply ruff's formatting and safe fixes
	$(VENV)/bin/ruff check --fix function tests tools
	$(VENV)/bin/ruff format function tests tools

$(VENV)/.installed-bench: $(STAMP)
	$(PY) -m pip install -q -e '.[dev,bench]'
	touch $@

# The Python peer of the bench (tools/bench_peers.py) in a virtual environment of its own: it
# pins crossplane-function-sdk-python==0.9.0 (ours needs ~=0.15.1), so no extra of ours can hold it.
PYTHONIC_VENV    := .venv-pythonic
PYTHONIC_VERSION := 0.1.4
$(PYTHONIC_VENV)/.installed:
	$(NEED_PYTHON)
	$(PYTHON) -m venv $(PYTHONIC_VENV)
	$(PYTHONIC_VENV)/bin/python -m pip install -q crossplane-function-pythonic==$(PYTHONIC_VERSION)
	touch $@

bench: $(VENV)/.installed-bench $(PYTHONIC_VENV)/.installed ## Benchmark over gRPC against a no-op function, then against the peers (go-templating built once, cached) (not part of test)
	$(PY) tools/bench.py
	bash tools/build_peers.sh
	$(PY) tools/bench_peers.py

bench-peers: $(VENV)/.installed-bench $(PYTHONIC_VENV)/.installed ## Only the peers part of make bench: no-op, this function, function-pythonic, function-go-templating, same output
	bash tools/build_peers.sh
	$(PY) tools/bench_peers.py

bench-scale: $(STAMP) ## SCALE_N claims (default 1000, SCALE_PG PostgreSQL instances) on make e2e's control plane: time to Ready, the function's CPU, RSS, calls at rest (not part of test or e2e)
	bash tests/e2e/build.sh
	$(PY) -m tests.e2e.scale

bench-calls: $(STAMP) ## Calls per reconcile at rest and the CPU of each call, per kind, from the control-plane twin (not part of test)
	$(PY) tools/reconcile_calls.py

build: ## Build the runtime container image (needs docker with a running engine)
	@command -v docker >/dev/null 2>&1 || { echo "make build: docker is not installed; install Docker to build $(IMAGE)" >&2; exit 1; }
	@docker info >/dev/null 2>&1 || { echo "make build: docker is installed but no Docker engine is running; start one to build $(IMAGE)" >&2; exit 1; }
	docker build -t $(IMAGE) .

# Where the packages are published: one setting. The Function's package is
# $(XPKG_REPOSITORY)/function-klutch-aws, the Configuration's
# $(XPKG_REPOSITORY)/configuration-klutch-aws. Crossplane names the Function it installs for the
# Configuration after the package path without its registry host ("/" -> "-"), and every
# Composition calls it by that name: xpkg-stage writes both into the staged package files.
XPKG_REPOSITORY ?= xpkg.upbound.io/anynines
XPKG_VERSION    ?= v0.1.0
FUNCTION_PACKAGE      := $(XPKG_REPOSITORY)/function-klutch-aws
CONFIGURATION_PACKAGE := $(XPKG_REPOSITORY)/configuration-klutch-aws
FUNCTION_NAME := $(subst /,-,$(patsubst $(firstword $(subst /, ,$(XPKG_REPOSITORY)))/%,%,$(FUNCTION_PACKAGE)))
# What the files in this repository say (the default repository).
REPO_FUNCTION_PACKAGE := xpkg.upbound.io/anynines/function-klutch-aws
REPO_FUNCTION_NAME    := anynines-function-klutch-aws

# Package roots, staged so that each `crossplane xpkg build` sees exactly one package's files.
PKG_STAGE ?= _output/package
FN_ROOT  := $(PKG_STAGE)/function
CFG_ROOT := $(PKG_STAGE)/configuration
CFG_XPKG ?= _output/configuration-klutch-aws.xpkg

xpkg-stage: ## Stage both package roots under _output/package for XPKG_REPOSITORY (needs no tools)
	rm -rf $(FN_ROOT) $(CFG_ROOT)
	mkdir -p $(FN_ROOT)/input $(CFG_ROOT)/xrds $(CFG_ROOT)/compositions
	cp package/crossplane.yaml $(FN_ROOT)/crossplane.yaml
	cp package/input/*.yaml $(FN_ROOT)/input/
	cp package/configuration/crossplane.yaml $(CFG_ROOT)/crossplane.yaml
	cp xrds/*.yaml $(CFG_ROOT)/xrds/
	cp compositions/*.yaml $(CFG_ROOT)/compositions/
	sed -i -e 's#$(REPO_FUNCTION_PACKAGE)#$(FUNCTION_PACKAGE)#g' -e 's#$(REPO_FUNCTION_NAME)#$(FUNCTION_NAME)#g' \
	  $(FN_ROOT)/crossplane.yaml $(CFG_ROOT)/crossplane.yaml $(CFG_ROOT)/compositions/*.yaml

xpkg: ## Build the Function package (image embedded) and the Configuration package (needs the crossplane CLI and docker)
	@command -v crossplane >/dev/null 2>&1 || { echo "make xpkg: the crossplane CLI is not installed; see https://docs.crossplane.io/latest/cli/" >&2; exit 1; }
	@$(MAKE) --no-print-directory build
	@$(MAKE) --no-print-directory xpkg-stage
	crossplane xpkg build --package-root=$(FN_ROOT) --examples-root=$(FN_ROOT)/examples --embed-runtime-image=$(IMAGE) --package-file=$(XPKG)
	crossplane xpkg build --package-root=$(CFG_ROOT) --examples-root=$(CFG_ROOT)/examples --package-file=$(CFG_XPKG)
	@echo "push: crossplane xpkg push -f $(XPKG) $(FUNCTION_PACKAGE):$(XPKG_VERSION)"
	@echo "push: crossplane xpkg push -f $(CFG_XPKG) $(CONFIGURATION_PACKAGE):$(XPKG_VERSION)"
	@echo "Compositions call the Function $(FUNCTION_NAME)"

xpkg-configuration: ## Build only the Configuration package (needs the crossplane CLI)
	@command -v crossplane >/dev/null 2>&1 || { echo "make xpkg-configuration: the crossplane CLI is not installed; see https://docs.crossplane.io/latest/cli/" >&2; exit 1; }
	@$(MAKE) --no-print-directory xpkg-stage
	crossplane xpkg build --package-root=$(CFG_ROOT) --examples-root=$(CFG_ROOT)/examples --package-file=$(CFG_XPKG)

clean: ## Remove the virtual environment and build output
	rm -rf $(VENV) $(RUN_VENV) $(PYTHONIC_VENV) _output .pytest_cache .ruff_cache .mypy_cache .hypothesis
