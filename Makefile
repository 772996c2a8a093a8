# The two commands of the README: `make demo` and `make test`, from a fresh clone.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Devices the tests must find usable (a missing one fails instead of skipping its tests).
XPGRAD_REQUIRE_DEVICES ?= cpu,opencl:0,fpga:0
export XPGRAD_REQUIRE_DEVICES

.PHONY: demo test lint install bench clean conformance

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install -q -e ".[test,opencl,examples]"
	@touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(PY) -m ruff check src tests examples benchmarks

test: lint
	$(PY) -m pytest -q -p no:cacheprovider

demo: $(STAMP)
	$(PY) examples/train_digits.py

# The conformance suite, in full, on each device CI requires; reports in build/conformance/<device>/.
conformance: $(STAMP)
	@status=0; for d in $$(echo "$(XPGRAD_REQUIRE_DEVICES)" | tr ',' ' '); do \
	  $(PY) -m xpgrad.conformance --device $$d --report build/conformance/$$(echo $$d | tr ':' '-') || status=1; \
	done; exit $$status

bench: $(STAMP)
	$(PY) benchmarks/op_overhead.py
	$(PY) benchmarks/dispatch_overhead.py
	$(PY) benchmarks/dispatch_regret.py
	$(PY) benchmarks/mlp_step.py
	$(PY) benchmarks/checkpoint_memory.py
	$(PY) benchmarks/profiler_overhead.py
	$(PY) benchmarks/determinism_overhead.py
	$(PY) benchmarks/anomaly_overhead.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
