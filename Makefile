# Every target bootstraps .venv itself (idempotent: re-installs only when pyproject.toml changes).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run warm test docs bench lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[all,dev]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/ballast simulate west_texas_2024 --out out/west_texas_2024

# Compile the numba kernels of the live runtime and the backtests into numba's on-disk cache
# (__pycache__ beside each module; `python -m ballast.warm` says which). A clean clone has none:
# the first runtime start then compiles the controller (about 30 s of CPU, 50 s wall on 2 shared
# cores) and all kernels take about 80 s of CPU. Its stamp (ballast/__pycache__/warm.stamp.json,
# ballast.warm_stamp) skips the work when no kernel source, numba or Python version and no cache
# file it left changed since: about 0.1 s then; without the stamp, warm, about 3-4 s of CPU.
warm: $(STAMP)
	$(BIN)/python -m ballast.warm

test: $(STAMP) warm
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

# The docs site (mkdocs.yml, docs/): offline, strict (a broken link or reference fails); site/ out.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) out site .pytest_cache
