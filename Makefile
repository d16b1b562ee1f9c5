# Maillage — two commands matter: `make run` and `make test`. Only Python 3.11+ and make are needed.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=
# Test processes (pytest-xdist): one per core by default; PYTEST_WORKERS=0 runs the suite in this process.
PYTEST_WORKERS ?= auto
PYTEST_PARALLEL := -n $(PYTEST_WORKERS) --dist loadgroup

.DEFAULT_GOAL := help
.PHONY: help install run worker demo test check lint typecheck pytest bench fuzz clean

help:
	@echo "make run    installe, migre, charge la démonstration et sert Maillage sur http://127.0.0.1:8000"
	@echo "make test   installe puis lance ruff, mypy, les contrats d'import et toute la suite de tests (durée affichée)"
	@echo "make check  avant un commit : ruff, mypy, les contrats d'import et les tests de ce qui a changé par rapport"
	@echo "            à main (src/maillage/<paquet>/ -> tests/<paquet>/, tests modifiés ; scripts/changed_tests.py)"
	@echo "make worker lance l'exécuteur des tâches de fond"
	@echo "make bench  lance les mesures de performance (benchmarks/)"
	@echo "make fuzz   fuzzing de toute l'API (Schemathesis) avec un budget plus large que make test"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,spark]'
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/maillage serve --demo

worker: $(STAMP)
	$(BIN)/maillage worker

demo: $(STAMP)
	$(BIN)/maillage demo

lint: $(STAMP)
	$(BIN)/ruff check src tests migrations benchmarks
	$(BIN)/lint-imports --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS)

# The same steps as before, one after the other (a failure stops the run), with the total time printed at the end.
test: $(STAMP)
	@start=$$(date +%s); status=0; \
	$(MAKE) --no-print-directory lint typecheck pytest || status=$$?; \
	elapsed=$$(( $$(date +%s) - start )); \
	echo "make test : $$(( elapsed / 60 )) min $$(( elapsed % 60 )) s au total (ruff, mypy, contrats d'import, pytest)"; \
	exit $$status

# Lint, types (mypy's incremental cache), import contracts (lint-imports' cache), then the tests of what changed.
# CHECK_BASE=<branch or commit> compares with it instead of main (CHECK_BASE=HEAD: only what is not committed yet).
check: $(STAMP)
	@start=$$(date +%s); \
	$(BIN)/ruff check src tests migrations benchmarks && $(BIN)/lint-imports && $(BIN)/mypy || exit $$?; \
	paths=$$($(BIN)/python scripts/changed_tests.py $(if $(CHECK_BASE),--base $(CHECK_BASE))) || exit $$?; \
	if [ -z "$$paths" ]; then echo "make check : aucun test ne couvre ce changement"; \
	else echo "make check : tests de" $$paths; $(BIN)/python -m pytest -q $(PYTEST_PARALLEL) $(PYTEST_ARGS) $$paths || exit $$?; fi; \
	echo "make check : $$(( $$(date +%s) - start )) s au total"

bench: $(STAMP)
	@for script in benchmarks/[!_]*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

# The fuzz passes of `make test` (tests/fuzz) with a larger budget: every identity on every backend, full
# coverage phase, 200 cases per operation (MAILLAGE_FUZZ_EXAMPLES); MAILLAGE_FUZZ_SEED changes the seed.
fuzz: $(STAMP)
	MAILLAGE_FUZZ_FULL=1 MAILLAGE_FUZZ_EXAMPLES=$${MAILLAGE_FUZZ_EXAMPLES:-200} \
		$(BIN)/python -m pytest -q -p no:cacheprovider tests/fuzz

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
