# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv as needed.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint perf clean system-deps

# Debian packages the tests need (each issue that needs one adds it here). Installed only when
# missing, and only as root (CI, fresh machines); otherwise the tests that need them say so.
# postgresql: the tests start a throw-away server from its binaries (tests/integration/conftest.py).
# chromium: the HTML report is opened in a real headless browser (tests/integration/test_html_report.py).
APT_PACKAGES := bubblewrap postgresql chromium

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,postgres,tau2,plot]'
	touch $(STAMP)

# Starts the simulated provider on a free 127.0.0.1 port, evaluates its models on the default
# suite into demo/runs.db and prints the model x benchmark matrix.
demo: $(STAMP)
	$(BIN)/avp demo

system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else echo "missing Debian packages:$$missing (install them as root)" >&2; fi; \
	fi

test: $(STAMP) system-deps
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check avp_harness benchmarks graders tests perf
	$(BIN)/mypy avp_harness benchmarks graders
	$(BIN)/lint-imports

perf: $(STAMP)
	$(BIN)/python perf/collector.py

clean:
	rm -rf $(VENV) demo .pytest_cache
