# Two entry points for a fresh machine with Python 3.11 and make:
#   make demo   set up .venv, then run the main job on the embedded data
#   make test   lint (ruff, pyproject.toml) and the full test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo lint test bench clean

$(STAMP): requirements.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	# torch first, pinned to the CPU wheel CI uses; then the versions CI tested (constraints.txt)
	# within the ranges users need (requirements.txt).
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -r requirements.txt
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m grading demo --out build/demo

lint: $(STAMP)
	$(BIN)/python -m ruff check .
	$(BIN)/python -m ruff format --check .

test: lint
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_fc.py
	$(BIN)/python benchmarks/bench_conv.py
	$(BIN)/python benchmarks/bench_grading.py --quick

clean:
	rm -rf build release $(VENV)
