# The two commands of the README: `make lab` (the whole lab on the default data) and `make test`.
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup lab test bench bench-setup
setup: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml scripts/setup.sh
	VENV=$(VENV) bash scripts/setup.sh

lab: setup
	$(BIN)/instrumentid lab

test: setup
	$(BIN)/python -m pytest -q

# The speed table of issue 8 (benchmarks/run.py); the peers (TensorFlow, Keras) come from the optional `bench` extra.
bench-setup: $(VENV)/.bench-installed
$(VENV)/.bench-installed: $(VENV)/.installed pyproject.toml
	$(BIN)/python -m pip install -q -e ".[bench]"
	touch $@

bench: bench-setup
	$(BIN)/python benchmarks/run.py
