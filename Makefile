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

# The offline policy (a seeded heuristic, not an LLM) on the bundled shop, with and
# without memory, the same seeds: no key, no network.
DEMO_RUN := --env webshop-mini --db demo.db --llm offline --epochs 3 --train-tasks 0:20 --test-tasks 0:20 --seed 0
demo: $(STAMP)
	rm -f demo.db demo.db-wal demo.db-shm
	$(VENV)/bin/rememberer run $(DEMO_RUN) --run memory
	$(VENV)/bin/rememberer run $(DEMO_RUN) --run no-memory --no-memory
	$(VENV)/bin/rememberer report --db demo.db memory no-memory
	$(VENV)/bin/rememberer verify --db demo.db
	@echo "Browse it: .venv/bin/rememberer tui demo.db   (the Q-table: .venv/bin/rememberer qtable --db demo.db --run memory)"

test: $(STAMP)
	$(PY) -m pytest -q

# make bench [BENCH="append read"] [QUICK=1]: figures go to docs/BENCHMARKS.md
bench: $(STAMP)
	$(PY) bench/run.py $(if $(QUICK),--quick) $(BENCH)

clean:
	rm -rf $(VENV) demo.db demo.db-wal demo.db-shm .pytest_cache .hypothesis
