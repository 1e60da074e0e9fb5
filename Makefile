# Two set-up commands a fresh machine needs: `make demo` (installs, then runs vigil on built-in
# material) and `make test` (installs, then runs the tests). Both create .venv when it is missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-test
DEMO_STAMP := $(VENV)/.installed-demo
PIP := $(PY) -m pip --quiet --disable-pip-version-check
# rapidocr-onnxruntime (the OCR reference and the PP-OCR weights) and trackers (the `tracking`
# extra: ByteTrack) ask for opencv-python, the GUI wheel; vigil uses opencv-python-headless (same
# cv2). packaging/opencv-alias tells pip that the headless wheel provides it, so they install with
# their dependencies and `pip check` is clean.
TRACKING = trackers>=2.6,<3
# trackeval (the `eval` extra: `vigil eval`'s HOTA/IDF1, the MOTChallenge kit) asks for opencv-python too.
TRACKEVAL = trackeval>=1.3
# The torch and hf backends' tests need torch: this release is a local CPU wheel on our machines
# (any other can pull a CUDA build of several GB), installed before the extras that ask for torch.
TORCH = torch==2.13.0
OCR_REFERENCE = OPENCV_VERSION=$$($(PY) -c "import importlib.metadata as m; print(m.version('opencv-python-headless'))") \
	$(PIP) install ./packaging/opencv-alias rapidocr-onnxruntime==1.4.4 '$(TRACKING)' '$(TRACKEVAL)'

.PHONY: demo test unit lint install bench clean services image deb

$(DEMO_STAMP): pyproject.toml packaging/opencv-alias/setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) uninstall --yes vigil 2>/dev/null | grep -v '^Skipping' || true  # the old distribution name
	$(PIP) install -e '.[demo]'
	$(OCR_REFERENCE)
	touch $@

demo: $(DEMO_STAMP)
	$(PY) -m vigil demo

$(STAMP): pyproject.toml packaging/opencv-alias/setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) uninstall --yes vigil 2>/dev/null | grep -v '^Skipping' || true  # the old distribution name
	$(PIP) install $(TORCH)
	bash packaging/install-services.sh  # first: the gstreamer extra's PyGObject builds against GStreamer's headers
	$(PIP) install -e '.[test,torch,hf,gstreamer]'
	$(OCR_REFERENCE)
	touch $@

install: $(STAMP)

services:
	bash packaging/install-services.sh

# The tests run on $(TEST_WORKERS) pytest-xdist workers, each test file on one worker (its module
# fixtures made once), the longest files first (tests/conftest.py, LONG_FIRST); the tests marked
# `serial` (real-time pacing, timed budgets) then run alone.
# Both runs always run; the target fails when either does (pytest's 5: no test selected, is fine).
TEST_WORKERS ?= 2
PARALLEL = -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder -m "not serial"
# ruff (ruff.toml): lint, and the format checked (`ruff format vigil tests bench` applies it).
lint: $(STAMP)
	$(VENV)/bin/ruff check vigil tests bench
	$(VENV)/bin/ruff format --check vigil tests bench

test: $(STAMP) services lint
	$(PY) -m mypy vigil
	$(PY) -m pytest -q -ra --durations=25 $(PARALLEL); parallel=$$?; \
	$(PY) -m pytest -q -ra --durations=25 -m serial; serial=$$?; \
	echo "make test: parallel run exit $$parallel, serial run exit $$serial"; \
	[ $$parallel -eq 0 ] && { [ $$serial -eq 0 ] || [ $$serial -eq 5 ]; }

unit: $(STAMP)
	$(PY) -m pytest -q -ra $(PARALLEL) tests/unit; parallel=$$?; \
	$(PY) -m pytest -q -ra -m serial tests/unit; serial=$$?; \
	[ $$parallel -eq 0 ] && { [ $$serial -eq 0 ] || [ $$serial -eq 5 ]; }

bench: $(STAMP)
	$(PY) bench/pipeline.py

# The container image (packaging/Containerfile) and the Debian package, both built with podman
# (PODMAN_ARGS: global podman options, e.g. `--runtime runc --cgroup-manager cgroupfs` where crun
# cannot manage this machine's cgroups). README "In a container" and "As a Debian package".
image:
	bash packaging/build-image.sh

deb:
	bash packaging/deb/build.sh

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
