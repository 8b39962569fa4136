# One venv per Python stack; every target that needs Python depends on it.
#   STACK=newest    (default) .venv: the newest releases on PyPI
#   STACK=oldest    .venv-oldest: the lowest versions setup.cfg declares (RHEL 9 / EPEL 9's),
#                   on Python 3.9 where the machine has it
#   STACK=debian12  .venv-debian12: Debian 12's python3 and its python3-* packages
# requirements/$(STACK).txt pins the stack (a pip constraints file); `make test STACK=oldest`
# runs the whole suite on it.
STACK ?= newest
ifeq ($(STACK),newest)
  VENV ?= .venv
  PYTHON ?= python3
else ifeq ($(STACK),oldest)
  VENV ?= .venv-oldest
  # RHEL 9's Python is 3.9: the first python3.9 that runs (pyenv's shim may not), else python3
  PYTHON ?= $(or $(shell for py in python3.9 $(HOME)/.pyenv/versions/3.9*/bin/python3.9; do \
    "$$py" -c 'import sys; print(sys.executable)' 2>/dev/null && break; done),python3)
else ifeq ($(STACK),debian12)
  VENV ?= .venv-debian12
  PYTHON ?= /usr/bin/python3
  VENV_OPTS := --system-site-packages
else
  $(error STACK must be newest, oldest or debian12, not "$(STACK)")
endif
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONSTRAINTS := requirements/$(STACK).txt
# PIP_CONSTRAINT rather than -c: it also reaches the build environments of sdists (oldest.txt
# on Python > 3.9); pip >= 26.2 reads PIP_BUILD_CONSTRAINT for those instead
PIP := PIP_CONSTRAINT=$(CURDIR)/$(CONSTRAINTS) PIP_BUILD_CONSTRAINT=$(CURDIR)/$(CONSTRAINTS) \
	$(BIN)/pip
DEBIAN_PKGS := python3-requests python3-urllib3 python3-yaml python3-jsonschema \
	python3-dateutil python3-six python3-defusedxml python3-venv

.PHONY: test lint py39 venv demo demo-clean bench chaos clean

$(STAMP): Makefile setup.cfg pyproject.toml requirements/runtime.txt requirements/tests.txt $(CONSTRAINTS)
ifeq ($(STACK),debian12)
	@$(PYTHON) -c 'import requests, urllib3, yaml, jsonschema, dateutil, six, defusedxml' \
	  || { echo "STACK=debian12 needs Debian's packages: apt-get install $(DEBIAN_PKGS)"; exit 1; }
endif
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV_OPTS) $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# setuptools + wheel: tests/cli builds the wheel with --no-build-isolation (no network),
	# borrowing them from the venv's own site-packages: installed there even when the system
	# has them (debian12)
	$(PIP) install --quiet --ignore-installed setuptools wheel
	# koji without its Kerberos extra (requests-gssapi needs krb5 headers and a compiler)
	$(PIP) install --quiet --no-deps koji
	$(PIP) install --quiet -r requirements/runtime.txt -r requirements/tests.txt
	$(PIP) install --quiet --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

# The whole suite on one stack; KCB_STACK lets tests/test_stack.py check the venv is that stack.
test: $(STAMP) lint py39
	@KCB_STACK=$(STACK) $(BIN)/python -m tests.test_stack
	KCB_STACK=$(STACK) $(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

# Nothing newer than Python 3.9 (RHEL 9's python3) in the package, the plugins, tests and tools:
# vermin for syntax and standard-library APIs; ruff (target-version py39, rule FA102) for
# PEP 604 unions in annotations evaluated at run time.
py39: $(STAMP)
	$(BIN)/vermin --quiet --no-tips --violations --target=3.9- \
	  koji_containerbuild hub_plugin builder_plugin cli_plugin tests bench tools

# The sandbox demo (README's first command): DEMO_ARGS="--keep", "--dir DIR", "--engine simulated"
demo: $(STAMP)
	$(BIN)/python -m koji_containerbuild.sandbox.demo $(DEMO_ARGS)

demo-clean:
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m koji_containerbuild.sandbox.demo --clean $(DEMO_ARGS); \
	else rm -rf sandbox-run; fi

clean:
	rm -rf .venv .venv-oldest .venv-debian12 build dist *.egg-info

# Fault-injection suite (issue 8) at full size; the test suite runs it small.
chaos: $(STAMP)
	CHAOS_BUILDS=$${CHAOS_BUILDS:-100} CHAOS_HUB_OUTAGE=$${CHAOS_HUB_OUTAGE:-30} \
	CHAOS_HUB_DELAY=$${CHAOS_HUB_DELAY:-2} CHAOS_SLOW_HUB_LOG_MB=$${CHAOS_SLOW_HUB_LOG_MB:-16} \
	$(BIN)/python -m pytest -q -m chaos -p no:cacheprovider tests/chaos

# Benchmarks with same-run baselines (bench/README.md); BENCH_* env vars shrink them.
bench: $(STAMP)
	$(BIN)/python bench/run.py $(BENCH_ARGS)
