# fastfit: two commands do everything on a fresh machine.
#   make demo   -> virtualenv + install + main example on bundled data
#   make test   -> test extras + full test suite
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.stamp-install
TSTAMP := $(VENV)/.stamp-test

.PHONY: demo test bench install clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e .
	touch $@

$(TSTAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[test,distributed]'
	touch $(STAMP) $@

install: $(STAMP)

demo: $(STAMP)
	$(PY) examples/01_relaxation_series.py --out out/demo

test: $(TSTAMP)
	$(PY) -m pytest -q -n 2 --dist loadfile tests

bench: $(TSTAMP)
	$(PY) -m pytest benchmarks --benchmark-only -q

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info out
