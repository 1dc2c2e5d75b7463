# Python package (bindings-python): repo-root .venv with the package and the pinned test deps,
# then pytest (driven by the real `websockets` client), mypy --strict and mypy.stubtest.
.PHONY: venv test-python
TEST_TARGETS += test-python

PYTHON ?= python3
VENV := $(ROOT)/.venv
VPY := $(VENV)/bin/python
# mypy's cache goes under target/ (ignored by git) instead of the repo root.
export MYPY_CACHE_DIR := $(ROOT)/target/mypy-cache

$(VPY):
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || { apt-get update -qq && apt-get install -y -qq python3-venv; }
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip

$(VENV)/.deps: tests/python/requirements.txt | $(VPY)
	$(VPY) -m pip install -q -r tests/python/requirements.txt
	touch $@

## venv: .venv with wssession built from ./bindings-python (release, via maturin) and the test deps
# --no-build-isolation reuses the pinned maturin from requirements.txt instead of fetching it again;
# the build shares target/ with cargo (pyo3 is rebuilt when switching between the two: ~30 s).
venv: $(VENV)/.deps
	PATH="$(VENV)/bin:$$PATH" MATURIN_PEP517_ARGS=--locked $(VPY) -m pip install -q --no-build-isolation --no-deps --force-reinstall ./bindings-python

## test-python: the Python suite, mypy --strict on the tests and package, stubtest on the native stub
test-python: venv
	cd tests/python && $(VPY) -m pytest -q -p no:cacheprovider .
	$(VPY) -m mypy --strict tests/python bindings-python/python/wssession bench/servers/python_echo.py
	$(VPY) -m mypy.stubtest wssession
