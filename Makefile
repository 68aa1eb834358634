# Every target builds its own virtualenv in .venv first (torch's CPU build before the rest).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev,scienceworld]'
	touch $(STAMP)

demo: $(STAMP)
	rm -f demo.db demo.db-wal demo.db-shm
	$(VENV)/bin/rememberer ingest fixtures/traces/webshop_small.jsonl --db demo.db --run demo
	$(VENV)/bin/rememberer qtable --db demo.db --run demo
	$(VENV)/bin/rememberer verify --db demo.db

test: $(STAMP)
	$(PY) -m pytest -q

# make bench [BENCH="append read"] [QUICK=1]: figures go to docs/BENCHMARKS.md
bench: $(STAMP)
	$(PY) bench/run.py $(if $(QUICK),--quick) $(BENCH)

clean:
	rm -rf $(VENV) demo.db demo.db-wal demo.db-shm .pytest_cache .hypothesis
