# Two entry points for a fresh machine: `make demo` and `make test` (both set up .venv first).
VENV ?= .venv
PY := $(VENV)/bin/python
OUT ?= builds

.PHONY: setup demo test lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml scripts/install_torch.sh
	test -x $(PY) || python3 -m venv $(VENV)
	PYTHON=$(PY) scripts/install_torch.sh
	$(PY) -m pip install -q -e ".[train,plot,dev]"
	touch $@

demo: setup
	$(VENV)/bin/tulu-data build preference_big_mixture --sources samples --out $(OUT)
	$(VENV)/bin/tulu-data inspect preference_big_mixture --out $(OUT) --show 1

test: setup
	$(PY) -m pytest

lint: setup
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(OUT) .pytest_cache
