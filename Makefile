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

.PHONY: venv test lint run bench clean

venv: $(INSTALL_STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

# dev: nats-server for `make run`; test: the test tools (and dev).
$(INSTALL_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -e '.[dev,test]'
	touch $@

# pytest's exit code is the recipe's: failures (1), errors (2-4) and "no tests collected" (5) all fail.
test: venv
	$(PY) -m pytest -n $(TEST_WORKERS) -m "not faults" $(PYTEST_ARGS)
	scripts/allow-no-tests $(PY) -m pytest -m faults $(PYTEST_ARGS)

lint: venv
	$(PY) -m ruff check .
	$(PY) -m mypy

run: venv
	$(PY) -m services.devstack

bench: venv
	$(PY) -m bench

clean:
	rm -rf .pytest_cache .mypy_cache .ruff_cache build dist
	find . -path ./$(VENV) -prune -o -path ./.ci-venv -prune -o \
		\( -name __pycache__ -o -name '*.egg-info' \) -type d -prune -exec rm -rf {} +
