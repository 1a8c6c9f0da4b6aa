# frailtrial — everything a fresh machine needs is installed by these targets.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip

.PHONY: demo test install install-dev system-deps kernels lint typecheck unit bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

install: $(BIN)/python
	$(PIP) install -q -e .

# dev tools, the optional backends the tests exercise, and the benchmarks' peers (bench)
install-dev: $(BIN)/python
	$(PIP) install -q -e '.[dev,postgres,dask,bench]'

# Debian packages the tests use (PostgreSQL server, Chromium); skipped when present or not root.
system-deps:
	bash scripts/system-deps.sh

# the core install holds everything the README tour uses (web EDC and gunicorn included);
# the demo's models need only the compiled us optimiser (cached per user, see docs/design.md)
demo: install
	$(BIN)/python scripts/compile_kernels.py us
	$(BIN)/frailtrial demo

lint: install-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: install-dev
	$(BIN)/mypy

# compile the MMRM's numba kernels once per machine and source (two processes in parallel),
# so the test and benchmark workers load them from the per-user cache
kernels: install
	$(BIN)/python scripts/compile_kernels.py

# each test file on one worker: its module fixtures are built once and its tests run in
# file order (several modules build on what an earlier test of the module saved)
unit: install-dev system-deps kernels
	$(BIN)/python -m pytest -n 2 --dist loadfile

# every model change has its migration (makemigrations --check) and the import layers hold
# (import-linter; the contracts are in pyproject.toml)
.PHONY: checks
checks: install-dev
	$(BIN)/python scripts/check_migrations.py
	$(BIN)/lint-imports

test: lint typecheck checks unit

# the edit-test loop: no browser, no PostgreSQL, nothing marked slow; each test file on one
# worker (its module fixtures built once). Needs `make install-dev` once; compiles the MMRM
# kernels only when they are not cached.
QUICK_MARKS := not slow and not postgres and not browser
.PHONY: quick
quick:
	@test -x $(BIN)/pytest || { echo "make quick: no $(BIN)/pytest; run make install-dev first"; exit 2; }
	$(BIN)/python scripts/compile_kernels.py
	$(BIN)/python -m pytest -n 2 --dist loadfile -q -m "$(QUICK_MARKS)"

# the interface translations: recompile the committed .mo after editing a .po (GNU msgfmt)
messages:
	for po in src/frailtrial/web/locale/*/LC_MESSAGES/django.po; do msgfmt --check -o $${po%.po}.mo $$po || exit 1; done
.PHONY: messages

# every benchmark runs (one that fails does not hide the others' figures); fails at the end
bench: install-dev kernels
	@failed=""; for b in benchmarks/bench_*.py benchmarks/load_crf.py; do echo "== $$b"; \
		$(BIN)/python $$b || failed="$$failed $$b"; done; \
	if [ -n "$$failed" ]; then echo "make bench: failed:$$failed"; exit 1; fi

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache frailtrial-demo
