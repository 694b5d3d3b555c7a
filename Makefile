# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench native clean-native clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $(STAMP)

# The per-message modules compiled with mypyc (hub/native.py); skipped with a warning where no C compiler is.
native: $(STAMP)
	$(BIN)/python -m hub.native_build

clean-native: $(STAMP)
	$(BIN)/python -m hub.native_build --clean

demo: $(STAMP) native
	$(BIN)/eldercare-hub demo

test: $(STAMP) native
	bash scripts/services.sh
	$(BIN)/ruff check hub tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest -q -ra --durations=15

lint: $(STAMP)
	$(BIN)/ruff check hub tests bench
	$(BIN)/ruff format --check hub tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

bench: $(STAMP) native
	bash scripts/services.sh
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) data build *.egg-info hub/native-build.json
	find hub -name '*.so' -delete
