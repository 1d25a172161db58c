# signdeal — `make run` runs the system, `make test` passes the tests. Both set up .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)

SHELL := /bin/bash

.PHONY: install browser run reset test lint audit audit-pip format bench mutate clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

# VERBOSE=1 (or SANDBOX_LOG_REQUESTS=1): the sandbox also logs every request it answers.
run: install
	$(if $(VERBOSE),SANDBOX_LOG_REQUESTS=1 )$(BIN)/python -m sandbox.local_stack

# make run keeps its data across restarts (data/: the store, the sandbox's state; its queues in
# RabbitMQ); make reset removes it all and says what it removed.
reset: install
	$(BIN)/python -m sandbox.local_stack reset

# Tests use the local RabbitMQ/PostgreSQL when they answer and nothing else was configured;
# otherwise the fixtures fall back to testcontainers (a Docker engine) or fail clearly.
# The history page's browser tests drive Debian's Chromium through its ChromeDriver, where Debian
# puts them (/usr/bin, as tests/e2e/browser.py expects; Playwright's own browser download is not
# reachable here). Installed when missing and we are root; otherwise
# one line says what to run. A missing browser fails those tests, it never skips them.
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	   if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	     echo "installing chromium and chromium-driver for the browser tests" >&2; \
	     { DEBIAN_FRONTEND=noninteractive apt-get update -qq \
	       && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; } \
	       >/tmp/signdeal-chromium-install.log 2>&1 \
	       || echo "could not install chromium (see /tmp/signdeal-chromium-install.log): the browser tests will fail" >&2; \
	   else \
	     echo "the browser tests need Chromium: sudo apt-get install chromium chromium-driver" >&2; \
	   fi; \
	 fi

test: install browser
	@if [ -z "$$AMQP_URL" ] && (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; then \
	   export AMQP_URL=amqp://guest:guest@127.0.0.1:5672/; fi; \
	 if [ -z "$$TEST_POSTGRES_URL" ] && (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then \
	   export TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test; fi; \
	 $(BIN)/python -m pytest $(PYTEST_ARGS)

# Benchmarks print figures and write bench/results/latest.json (BENCH_ARGS="--quick", "--full", …).
bench: install
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# Mutation testing of the pure core (the modules in pyproject.toml [tool.mutmut] only_mutate)
# against the fast unit tests: about two minutes with two workers; not part of `make test` or CI.
# Fails when a mutant survives that docs/testing.md does not account for ("Mutation testing"),
# or when that page lists one that no longer survives.
mutate: install
	rm -rf mutants
	set -o pipefail; $(BIN)/mutmut run --max-children 2 | tr '\r' '\n' | tail -n 2
	$(BIN)/mutmut results | sed -E 's/^ *([^:]+):.*/\1/' | LC_ALL=C sort > mutants/survivors.txt
	grep -oE '`[a-z_.]+\.x[^` ]+__mutmut_[0-9]+`' docs/testing.md | tr -d '`' | LC_ALL=C sort -u \
	  > mutants/accounted.txt
	@echo "$$(wc -l < mutants/survivors.txt) mutants survived; \
	 every one is listed in docs/testing.md unless named below"
	@LC_ALL=C comm -23 mutants/survivors.txt mutants/accounted.txt > mutants/unaccounted.txt; \
	 LC_ALL=C comm -13 mutants/survivors.txt mutants/accounted.txt > mutants/stale.txt; \
	 if [ -s mutants/unaccounted.txt ]; then \
	   echo "not accounted for (mutmut show NAME; then kill it with a test or explain it):"; \
	   cat mutants/unaccounted.txt; fi; \
	 if [ -s mutants/stale.txt ]; then \
	   echo "listed in docs/testing.md but no longer surviving (renumbered or killed; take out):"; \
	   cat mutants/stale.txt; fi; \
	 test ! -s mutants/unaccounted.txt -a ! -s mutants/stale.txt

lint: install audit
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Every pin of constraints.txt (runtime, dev and tools) against PyPI's advisory data, from a
# network that may serve only PyPI's project endpoint (docs/dependency-audit.md); part of `lint`.
# `make audit-pip` is pip-audit itself, for full internet: it needs pypi.org's per-release JSON
# API, which this network does not serve; --strict makes a package it cannot look up fail the
# audit instead of being skipped in silence.
audit: install
	$(BIN)/python -m tools.audit_pins constraints.txt

audit-pip: install
	$(BIN)/pip-audit --strict --vulnerability-service pypi --progress-spinner off \
	  --requirement constraints.txt --no-deps --disable-pip

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
