# Maillage — two commands matter: `make run` and `make test`. Only Python 3.11+ and make are needed.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install run worker demo test lint typecheck pytest bench fuzz clean

help:
	@echo "make run    installe, migre, charge la démonstration et sert Maillage sur http://127.0.0.1:8000"
	@echo "make test   installe puis lance ruff, mypy, les contrats d'import et toute la suite de tests"
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
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test: lint typecheck pytest

bench: $(STAMP)
	@for script in benchmarks/[!_]*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

# The fuzz passes of `make test` (tests/fuzz) with a larger budget: every identity on every backend, full
# coverage phase, 200 cases per operation (MAILLAGE_FUZZ_EXAMPLES); MAILLAGE_FUZZ_SEED changes the seed.
fuzz: $(STAMP)
	MAILLAGE_FUZZ_FULL=1 MAILLAGE_FUZZ_EXAMPLES=$${MAILLAGE_FUZZ_EXAMPLES:-200} \
		$(BIN)/python -m pytest -q -p no:cacheprovider tests/fuzz

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
