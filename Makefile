# Every target creates the virtual environment it needs: a fresh machine needs only python3.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-dev
IMAGE  ?= function-klutch-aws:dev
XPKG   ?= _output/function-klutch-aws.xpkg

.PHONY: help venv test render run lint format bench build xpkg clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

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

lint: $(STAMP) ## ruff lint and format check
	$(VENV)/bin/ruff check function tests tools
	$(VENV)/bin/ruff format --check function tests tools

format: $(STAMP) ## Apply ruff's formatting and safe fixes
	$(VENV)/bin/ruff check --fix function tests tools
	$(VENV)/bin/ruff format function tests tools

bench: $(STAMP) ## Benchmark over gRPC against a no-op function (not part of test)
	$(PY) tools/bench.py

build: ## Build the runtime container image (needs docker with a running engine)
	@command -v docker >/dev/null 2>&1 || { echo "make build: docker is not installed; install Docker to build $(IMAGE)" >&2; exit 1; }
	@docker info >/dev/null 2>&1 || { echo "make build: docker is installed but no Docker engine is running; start one to build $(IMAGE)" >&2; exit 1; }
	docker build -t $(IMAGE) .

xpkg: build ## Build the Function package with the image embedded (needs the crossplane CLI)
	@command -v crossplane >/dev/null 2>&1 || { echo "make xpkg: the crossplane CLI is not installed; see https://docs.crossplane.io/latest/cli/" >&2; exit 1; }
	mkdir -p $(dir $(XPKG))
	crossplane xpkg build --package-root=package --embed-runtime-image=$(IMAGE) --package-file=$(XPKG)

clean: ## Remove the virtual environment and build output
	rm -rf $(VENV) _output .pytest_cache .ruff_cache .hypothesis
