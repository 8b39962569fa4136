# One venv per checkout; every target that needs Python depends on it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint demo demo-clean bench chaos clean

$(STAMP): setup.cfg pyproject.toml requirements/runtime.txt requirements/tests.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# setuptools + wheel: tests/cli builds the wheel with --no-build-isolation (no network)
	$(BIN)/pip install --quiet setuptools wheel
	# koji without its Kerberos extra (requests-gssapi needs krb5 headers and a compiler)
	$(BIN)/pip install --quiet --no-deps koji
	$(BIN)/pip install --quiet -r requirements/runtime.txt -r requirements/tests.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

# The sandbox demo (README's first command): DEMO_ARGS="--keep", "--dir DIR", "--engine simulated"
demo: $(STAMP)
	$(BIN)/python -m koji_containerbuild.sandbox.demo $(DEMO_ARGS)

demo-clean:
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m koji_containerbuild.sandbox.demo --clean $(DEMO_ARGS); \
	else rm -rf sandbox-run; fi

clean:
	rm -rf $(VENV) build dist *.egg-info

# Fault-injection suite (issue 8) at full size; the test suite runs it small.
chaos: $(STAMP)
	CHAOS_BUILDS=$${CHAOS_BUILDS:-100} CHAOS_HUB_OUTAGE=$${CHAOS_HUB_OUTAGE:-30} \
	CHAOS_HUB_DELAY=$${CHAOS_HUB_DELAY:-2} CHAOS_SLOW_HUB_LOG_MB=$${CHAOS_SLOW_HUB_LOG_MB:-16} \
	$(BIN)/python -m pytest -q -m chaos -p no:cacheprovider tests/chaos

# Benchmarks with same-run baselines (bench/README.md); BENCH_* env vars shrink them.
bench: $(STAMP)
	$(BIN)/python bench/run.py $(BENCH_ARGS)
