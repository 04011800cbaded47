# nbjobs: `make demo` and `make test` work from a clean clone (they create the venv themselves).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO := build/demo

.PHONY: venv demo test lint lint-app pytest clean test-compat test-slow bench bench-quick

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

demo: venv
	rm -rf $(DEMO) && mkdir -p $(DEMO)
	cd $(DEMO) && ../../$(BIN)/nbjobs sandbox --jobs-root ../../examples/jobs
	cd $(DEMO) && ../../$(BIN)/nbjobs plan --jobs-root ../../examples/jobs ../../examples/manifests
	cd $(DEMO) && ../../$(BIN)/nbjobs apply --yes --as admin --jobs-root ../../examples/jobs ../../examples/manifests
	cd $(DEMO) && ../../$(BIN)/nbjobs plan --detailed-exitcode --jobs-root ../../examples/jobs ../../examples/manifests
	@echo "Queue readiness (no broker or cluster is configured for the demo, so none is ready):"
	cd $(DEMO) && ../../$(BIN)/nbjobs plan --preflight --preflight-timeout 1 --job-queue-path ../../examples/kubernetes/job-queues \
		--jobs-root ../../examples/jobs ../../examples/manifests | sed -n '/Queue readiness/,$$p'

lint: venv
	$(BIN)/ruff check reconciler tests
	$(BIN)/mypy reconciler

pytest: venv
	$(BIN)/pytest -m 'not slow'

test: lint pytest

# The largest corpora, the kill matrix and the wheel install (minutes, not part of `make test`; `.ci/run` runs it).
test-slow: venv
	$(BIN)/pytest -m slow --durations=10

# The compatibility suite against a real Nautobot 3.2.7 on PostgreSQL (slow, not part of `make test`). It builds
# and caches Nautobot's venv and a migrated dump under $${NBJOBS_CACHE:-$$HOME/.cache/nbjobs}/nautobot-3.2.7/.
test-compat: venv
	NBJOBS_COMPAT=1 $(BIN)/pytest tests/compat --confcutdir=tests/compat -p no:cacheprovider -v --durations=5

# Every speed target beside its floor, written to bench/RESULTS.md (not part of `make test`): under 30 minutes;
# bench-quick (1,000 jobs, the smaller fleet and purge) under 5. PostgreSQL on 127.0.0.1 as for the tests.
bench: venv
	$(BIN)/python bench/run.py

bench-quick: venv
	$(BIN)/python bench/run.py --quick --out bench/RESULTS-quick.md

# The Nautobot App (reconciler_nautobot) apart from the core: ruff, and mypy against the compatibility suite's
# Nautobot venv (built and cached as for test-compat; Django and Nautobot ship no types, so imports from them are Any).
NAUTOBOT_PYTHON = $(shell $(BIN)/python -c 'import sys; sys.path.insert(0, "tests/compat"); import harness; print(harness.ensure_venv() / "python")')
lint-app: venv
	$(BIN)/ruff check reconciler_nautobot
	$(BIN)/ruff format --check reconciler_nautobot
	$(BIN)/mypy --python-executable $(NAUTOBOT_PYTHON) --ignore-missing-imports --allow-subclassing-any reconciler_nautobot

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache
