# The two commands of the README: `make run` and `make test`. Each one builds its own environment.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONFIG ?= config.example.yml

.PHONY: run test lint bench clean db

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/klub --config $(CONFIG) db upgrade
	$(BIN)/klub --config $(CONFIG) console

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/pipeline_bench.py
	$(BIN)/python bench/faq_bench.py
	$(BIN)/python bench/reminders_bench.py
	$(BIN)/python bench/web_bench.py
	$(BIN)/python bench/hostile_bench.py

clean:
	rm -rf $(VENV) klub.db klub.db-wal klub.db-shm
