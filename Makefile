# Two commands set everything up on a fresh machine: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Test-only FHIR validators (official R4 JSON schema, FHIRPath invariants), from npm with exact versions.
FHIR_VALIDATOR := tests/fhir/validator
NODE_STAMP := $(FHIR_VALIDATOR)/node_modules/.installed

# Debian packages the Python packages need at run time: Pango, HarfBuzz and fonts for WeasyPrint (PDF reports).
DEB_PACKAGES := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core

.PHONY: run test lint bench clean system-packages

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev,opensim,lab]"
	touch $(STAMP)

# Installs only what is missing, and only as root; otherwise names what to install and stops.
system-packages:
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "Missing Debian packages: $$missing (sudo apt-get install $$missing)"; exit 1; fi; \
	fi

$(NODE_STAMP): $(FHIR_VALIDATOR)/package.json
	cd $(FHIR_VALIDATOR) && npm install --no-audit --no-fund --no-package-lock --loglevel=error
	touch $(NODE_STAMP)

run: system-packages $(STAMP)
	$(BIN)/python -m hipext.web

test: system-packages $(STAMP) $(NODE_STAMP)
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
