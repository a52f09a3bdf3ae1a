# Every target creates the virtual environment it needs: a fresh machine needs only python3.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-dev
IMAGE  ?= function-klutch-aws:dev
XPKG   ?= _output/function-klutch-aws.xpkg

.PHONY: help venv test render run lint typecheck generate format bench bench-calls build xpkg xpkg-stage xpkg-configuration clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-19s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

venv: $(STAMP) ## Create .venv with the function and its test tools

test: $(STAMP) ## Run every test (unit, protocol, schema, AWS semantics, properties)
	$(PY) -m pytest -q

render: $(STAMP) ## Render every example through the function (started locally, called over gRPC)
	$(PY) tools/render.py examples

run: $(STAMP) ## Serve the function insecurely on :9443, for `crossplane render`
	$(VENV)/bin/function --insecure --debug

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

bench: $(VENV)/.installed-bench ## Benchmark over gRPC against a no-op function (not part of test)
	$(PY) tools/bench.py

bench-calls: $(STAMP) ## Calls per reconcile at rest and the CPU of each call, per kind, from the control-plane twin (not part of test)
	$(PY) tools/reconcile_calls.py

build: ## Build the runtime container image (needs docker with a running engine)
	@command -v docker >/dev/null 2>&1 || { echo "make build: docker is not installed; install Docker to build $(IMAGE)" >&2; exit 1; }
	@docker info >/dev/null 2>&1 || { echo "make build: docker is installed but no Docker engine is running; start one to build $(IMAGE)" >&2; exit 1; }
	docker build -t $(IMAGE) .

# Package roots, staged so that each `crossplane xpkg build` sees exactly one package's files.
PKG_STAGE ?= _output/package
FN_ROOT  := $(PKG_STAGE)/function
CFG_ROOT := $(PKG_STAGE)/configuration
CFG_XPKG ?= _output/configuration-klutch-aws.xpkg

xpkg-stage: ## Stage both package roots under _output/package (needs no tools)
	rm -rf $(FN_ROOT) $(CFG_ROOT)
	mkdir -p $(FN_ROOT)/input $(CFG_ROOT)/xrds $(CFG_ROOT)/compositions
	cp package/crossplane.yaml $(FN_ROOT)/crossplane.yaml
	cp package/input/*.yaml $(FN_ROOT)/input/
	cp package/configuration/crossplane.yaml $(CFG_ROOT)/crossplane.yaml
	cp xrds/*.yaml $(CFG_ROOT)/xrds/
	cp compositions/*.yaml $(CFG_ROOT)/compositions/

xpkg: ## Build the Function package (image embedded) and the Configuration package (needs the crossplane CLI and docker)
	@command -v crossplane >/dev/null 2>&1 || { echo "make xpkg: the crossplane CLI is not installed; see https://docs.crossplane.io/latest/cli/" >&2; exit 1; }
	@$(MAKE) --no-print-directory build
	@$(MAKE) --no-print-directory xpkg-stage
	crossplane xpkg build --package-root=$(FN_ROOT) --examples-root=$(FN_ROOT)/examples --embed-runtime-image=$(IMAGE) --package-file=$(XPKG)
	crossplane xpkg build --package-root=$(CFG_ROOT) --examples-root=$(CFG_ROOT)/examples --package-file=$(CFG_XPKG)

xpkg-configuration: ## Build only the Configuration package (needs the crossplane CLI)
	@command -v crossplane >/dev/null 2>&1 || { echo "make xpkg-configuration: the crossplane CLI is not installed; see https://docs.crossplane.io/latest/cli/" >&2; exit 1; }
	@$(MAKE) --no-print-directory xpkg-stage
	crossplane xpkg build --package-root=$(CFG_ROOT) --examples-root=$(CFG_ROOT)/examples --package-file=$(CFG_XPKG)

clean: ## Remove the virtual environment and build output
	rm -rf $(VENV) _output .pytest_cache .ruff_cache .mypy_cache .hypothesis
