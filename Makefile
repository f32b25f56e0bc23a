# order-service: `make run` serves the API on the embedded default; `make test` checks everything.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
# uv comes from PyPI; a fresh machine gets it the first time any target needs it.
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
RUN := $(UV) run --frozen --no-sync
VENV_STAMP := .venv/.synced

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(VENV_STAMP): pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --frozen
	@touch $@

.PHONY: install
install: $(VENV_STAMP) ## Create .venv with the locked dependencies

.PHONY: run
run: $(VENV_STAMP) ## Migrate the embedded SQLite under ./var and serve on 127.0.0.1:8080
	$(RUN) order-service migrate
	$(RUN) order-service serve

.PHONY: lint
lint: $(VENV_STAMP) ## ruff, mypy --strict and the import contracts
	$(RUN) ruff check src tests bench
	$(RUN) ruff format --check src tests bench
	$(RUN) mypy
	$(RUN) lint-imports

.PHONY: format
format: $(VENV_STAMP) ## Apply ruff's fixes and formatting
	$(RUN) ruff check --fix src tests bench
	$(RUN) ruff format src tests bench

.PHONY: test
test: lint ## Lint, type-check and run every test
	$(RUN) pytest

.PHONY: test-fast
test-fast: $(VENV_STAMP) ## Unit and contract tests only
	$(RUN) pytest tests/unit tests/contract

.PHONY: bench
bench: $(VENV_STAMP) ## Full benchmark (about 11 min): the API's, then the thumbnailer's -> bench/results/
	$(RUN) python -m bench
	$(RUN) python bench/images/run.py

.PHONY: bench-quick
bench-quick: $(VENV_STAMP) ## The benchmark's quick mode (about 30 s): checks the harness, -> var/bench-quick/
	$(RUN) python -m bench --quick

.PHONY: lock
lock: ## Refresh uv.lock after editing pyproject.toml
	$(UV) lock

.PHONY: dist
dist: $(VENV_STAMP) ## Wheel, sdist and single-file executables (linux x86_64, aarch64) + SHA256SUMS in dist/
	UV="$(UV)" deploy/dist.sh x86_64 aarch64

.PHONY: deploy-check
deploy-check: $(VENV_STAMP) ## Dockerfile, workflows and Kubernetes manifests: lint, schemas, policy
	$(RUN) pytest tests/deploy/test_dockerfile.py tests/deploy/test_workflows.py tests/deploy/test_k8s_manifests.py

.PHONY: clean
clean: ## Remove the environment, caches and ./var
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache var dist

.PHONY: bench-observability
bench-observability: $(VENV_STAMP) ## What logs, metrics and traces cost on GET /v1/users/{id}
	$(RUN) python bench/observability_edge_cost.py
	$(RUN) python bench/observability_cost.py --seconds 5 --rounds 5

.PHONY: bench-images
bench-images: $(VENV_STAMP) ## Thumbnailer only (about 3 min): ours vs thumbor vs the ceiling -> bench/results/
	$(RUN) python bench/images/run.py
