# Two commands set everything up on a fresh machine: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# JavaScript the browser tests inject (accessibility checks), from the npm registry.
AXE := $(VENV)/axe/node_modules/axe-core/axe.min.js
AXE_VERSION := 4.10.3
# Test-only FHIR validators (official R4 JSON schema, FHIRPath invariants), from npm with exact versions.
FHIR_VALIDATOR := tests/fhir/validator
NODE_STAMP := $(FHIR_VALIDATOR)/node_modules/.installed

# Debian packages the tests and the app need beyond Python: one list, installed by `system-packages`.
# chromium: the browser tests (Playwright drives Debian's build; it cannot download its own).
# Pango, HarfBuzz and fonts: WeasyPrint (PDF reports).
DEB_PACKAGES := chromium libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core

.PHONY: run test lint bench clean system-packages

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev,opensim,lab]"
	touch $(STAMP)

# Installs only what is missing, and only as root; otherwise prints the one command to run and stops.
system-packages:
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	missing=$$(echo $$missing); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Debian packages: $$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || exit 1; \
	  else \
	    echo "Missing Debian packages. Run this once, then make again:"; \
	    echo "  sudo apt-get install -y $$missing"; exit 1; \
	  fi; \
	fi

$(NODE_STAMP): $(FHIR_VALIDATOR)/package.json
	cd $(FHIR_VALIDATOR) && npm install --no-audit --no-fund --no-package-lock --loglevel=error
	touch $(NODE_STAMP)

$(AXE): | $(STAMP)
	@command -v npm >/dev/null || { echo "npm is needed for the accessibility checks: sudo apt-get install -y npm"; exit 1; }
	npm install --silent --no-audit --no-fund --prefix $(VENV)/axe axe-core@$(AXE_VERSION)

run: system-packages $(STAMP)
	$(BIN)/python -m hipext.web

test: system-packages $(STAMP) $(NODE_STAMP) $(AXE)
	HIPEXT_AXE_JS=$(AXE) $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy src

# Every benchmark prints its figures with their goals (MET / NOT MET); --json for machine-readable output.
# A benchmark exits non-zero only when its contenders' outputs disagree (an equality check failed).
bench: $(STAMP)
	for b in benchmarks/bench_*.py; do echo "### $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
