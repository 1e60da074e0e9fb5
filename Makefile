# Two set-up commands a fresh machine needs: `make test` (installs, then runs the tests) and,
# from the daemon issue on, `make demo`. Both create .venv when it is missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-test

.PHONY: test unit install bench clean

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
