# `make demo` and `make test` work on a fresh machine with nothing but Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
# pytest-xdist workers: one per core. Tests of the "timing" group (kills, lock waits, races: see
# tests/support/timing.py; the kills have one group per database) run on one worker, one at a
# time; PYTEST_WORKERS=0 runs in one process.
PYTEST_WORKERS ?= auto

.PHONY: demo test check docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamps keep re-runs fast; editing pyproject.toml reinstalls.
$(VENV)/.installed-demo: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: $(VENV)/.installed-demo
	$(BIN)/flask --app example_app db safe-upgrade
	$(BIN)/flask --app example_app db verify

check: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict flask_safemigrate example_app

$(VENV)/.installed-docs: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[docs]'
	touch $@

# The docs site, warnings as errors (CI runs it after the tests): docs/_build/html/index.html.
docs: $(VENV)/.installed-docs
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html

test: check
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache .nox docs/_build
