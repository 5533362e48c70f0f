# Two commands set everything up on a fresh machine: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev,opensim,lab]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m hipext.web

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy src/hipext/core src/hipext/evidence src/hipext/care src/hipext/biomech src/hipext/app.py

# Every benchmark prints its figures with their goals (MET / NOT MET); --json for machine-readable output.
# A benchmark exits non-zero only when its contenders' outputs disagree (an equality check failed).
bench: $(STAMP)
	for b in benchmarks/bench_*.py; do echo "### $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
