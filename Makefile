# The two commands: `make demo` and `make test`. Both build .venv from nothing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python


.PHONY: demo test lint bench bench-quick chromium postgresql clean

# One stamp per extra: `make demo` needs JupyterLab, `make test` the test tools.
$(VENV)/.installed-%: pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "flowup-nb needs Python >= 3.11 (set PYTHON=python3.11)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[$*]'
	touch $@

# Debian's chromium, for the browser tests (Playwright drives it; it never downloads one).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "browser tests need Debian's chromium: sudo apt-get install chromium"; exit 1; fi; }

# In a checkout the notebooks open where they are (`flowup-nb demo` copies them elsewhere).
demo: $(VENV)/.installed-lab
	$(PY) -m flowup_nb.demo notebooks

# Debian's PostgreSQL server binaries, for the ledger tests on PostgreSQL: each test
# session starts a throwaway cluster from them (tests/pgcluster.py). The package's own
# cluster is not needed, nor started.
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	  else echo "the ledger tests need Debian's postgresql: sudo apt-get install postgresql"; exit 1; fi; }

test: $(VENV)/.installed-test chromium postgresql
	$(PY) -m ruff check flowup_nb tests bench tools
	$(PY) -m mypy  # --strict on the package and tests/typecheck/usage_example.py (pyproject)
	$(PY) -m pytest

bench: $(VENV)/.installed-test
	$(PY) -m bench

# Every benchmark at small sizes: a first look in under 3 minutes.
bench-quick: $(VENV)/.installed-test
	$(PY) -m bench --quick

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache test-artifacts
