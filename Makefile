# Developer entry points. Override the interpreter or the venv location:
#   make test PYTHON=python3.13 VENV=.venv-313 PYTEST_ARGS='-x -k nats'
VENV ?= .venv
PYTHON ?= $(shell scripts/find-python)
PY = $(VENV)/bin/python
PYTEST_ARGS ?=
# Tests run in parallel processes (each starts its own nats-server and database); the fault suite runs
# after them on its own, since it times kills and restarts of real processes against a quiet machine.
TEST_WORKERS ?= 3
# Re-install only when pyproject.toml changes.
INSTALL_STAMP = $(VENV)/.jamjet-installed

.PHONY: venv test lint run bench bench-peers bench-parked console chromium clean

venv: $(INSTALL_STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

# dev: nats-server for `make run`; test: the test tools (and dev).
$(INSTALL_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -e '.[dev,test]'
	touch $@

# pytest's exit code is the recipe's: failures (1), errors (2-4) and "no tests collected" (5) all fail.
test: venv console chromium
	$(PY) -m pytest -n $(TEST_WORKERS) -m "not faults" $(PYTEST_ARGS)
	scripts/allow-no-tests $(PY) -m pytest -m faults $(PYTEST_ARGS)

lint: venv
	$(PY) -m ruff check .
	$(PY) -m mypy

run: venv console
	$(PY) -m services.devstack

bench: venv
	$(PY) -m bench

# LangGraph (sync durability) from ../shared/peers in the same invocation, with the ratios.
PEERS_VENV ?= .venv-peers
PEERS_DIR ?= ../shared/peers

$(PEERS_VENV)/bin/python:
	$(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/pip install -r $(PEERS_DIR)/requirements.txt

bench-peers: venv $(PEERS_VENV)/bin/python
	PEERS_PYTHON=$(PEERS_VENV)/bin/python PEERS_DIR=$(PEERS_DIR) $(PY) -m bench --peers

# The scheduler's cost per event and memory as parked executions pile up.
bench-parked: venv
	$(PY) -m bench --runs 1 --parked 10,100,1000,10000

# The web console the gateway serves at / (console/dist), rebuilt when its sources change; its load
# figures: $(PY) -m bench.console
CONSOLE_DIST = console/dist/index.html
console: $(CONSOLE_DIST)

$(CONSOLE_DIST): console/package.json console/package-lock.json console/index.html console/vite.config.js \
		$(shell find console/src -type f)
	cd console && npm ci --no-audit --no-fund && npm run build

chromium:
	@scripts/ensure-chromium

clean:
	rm -rf .pytest_cache .mypy_cache .ruff_cache build dist
	find . -path ./$(VENV) -prune -o -path ./.ci-venv -prune -o \
		\( -name __pycache__ -o -name '*.egg-info' \) -type d -prune -exec rm -rf {} +
