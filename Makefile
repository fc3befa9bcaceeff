# The two commands of the README: `make lab` (the whole lab on the default data) and `make test`.
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup lab test bench
setup: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml scripts/setup.sh
	VENV=$(VENV) bash scripts/setup.sh

lab: setup
	$(BIN)/instrumentid lab

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python benchmarks/run.py
