# Two set-up commands a fresh machine needs: `make demo` (installs, then runs vigil on built-in
# material) and `make test` (installs, then runs the tests). Both create .venv when it is missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-test
DEMO_STAMP := $(VENV)/.installed-demo

.PHONY: demo test unit install bench clean

$(DEMO_STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[demo]'
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps rapidocr-onnxruntime==1.4.4
	touch $@

demo: $(DEMO_STAMP)
	$(PY) -m vigil demo

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps rapidocr-onnxruntime==1.4.4
	touch $@

install: $(STAMP)

test: $(STAMP)
	$(PY) -m mypy vigil
	$(PY) -m pytest -q -ra

unit: $(STAMP)
	$(PY) -m pytest -q tests/unit

bench: $(STAMP)
	$(PY) bench/pipeline.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
