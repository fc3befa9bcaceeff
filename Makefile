# The two commands of the README: `make lab` (the whole lab on the default data) and `make test`.
# `make lint` runs the guard rails (ruff, mypy, the import-linter architecture contract); .ci/run runs it, then
# `make test`.
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup lab test test-long lint bench bench-setup
setup: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml scripts/setup.sh
	VENV=$(VENV) bash scripts/setup.sh

lab: setup
	$(BIN)/instrumentid lab

# Every test, about 1-2 minutes on 2 cores. Cases marked `slow` run too while the whole suite stays under ~15 minutes;
# past that, add -m "not slow" here and let `make test-long` carry them.
test: setup
	$(BIN)/python -m pytest -q

# Every test whatever its markers (-m "" lifts any marker filter), the fuzz targets with thousands of examples each
# (tests/test_fuzz.py), and the ten slowest listed at the end.
test-long: setup
	HYPOTHESIS_PROFILE=long $(BIN)/python -m pytest -q -m "" --durations=10

# Guard rails (configured in pyproject.toml): lint and docstring rules, types, the layers of the package.
# All three always run; the target fails if any of them does.
LINT_STEPS := "$(BIN)/ruff check instrumentid tests benchmarks scripts" "$(BIN)/mypy" "$(BIN)/lint-imports"
lint: setup
	@status=0; for step in $(LINT_STEPS); do echo "== $$step"; $$step || status=1; done; exit $$status

# The speed table of issue 8 (benchmarks/run.py); the peers (TensorFlow, Keras) come from the optional `bench` extra,
# installed by the same set-up (which never lets pip resolve tinysoundfont's unbuildable pyaudio).
bench-setup: $(VENV)/.bench-installed
$(VENV)/.bench-installed: $(VENV)/.installed pyproject.toml
	VENV=$(VENV) EXTRAS="test export lint bench" bash scripts/setup.sh
	touch $@

bench: bench-setup
	$(BIN)/python benchmarks/run.py
