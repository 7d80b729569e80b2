# fastfit: two commands do everything on a fresh machine.
#   make demo   -> virtualenv + install + main example on bundled data
#   make test   -> test extras + full test suite
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.stamp-install
TSTAMP := $(VENV)/.stamp-test

.PHONY: demo test bench install clean browser

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

# The dashboard's browser tests (tests/test_serve_browser.py) drive the system's Chromium
# with Playwright (no browser download). Install it where we can (root + apt-get);
# elsewhere those tests are skipped with a message saying why.
browser:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
	    || [ -n "$$FASTFIT_CHROMIUM" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "make: installing chromium (apt-get) for the dashboard's browser tests"; \
	  (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium) \
	    >/dev/null 2>&1 || echo "make: could not install chromium: browser tests will be skipped"; \
	else echo "make: no chromium, and no root/apt-get to install it: browser tests will be skipped"; fi

test: $(TSTAMP) browser
	$(PY) -m pytest -q -n 2 --dist loadfile --durations=25 tests

bench: $(TSTAMP)
	$(PY) -m pytest benchmarks --benchmark-only -q

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info out
