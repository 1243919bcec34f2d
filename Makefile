# shoal — the one entry point for installing, testing, demoing and benchmarking.
VENV   := .venv
PY     := $(VENV)/bin/python
PYTEST := $(VENV)/bin/pytest
PACKAGES := $(wildcard engine cli agent manager proto)

.PHONY: deps test unit lint typecheck demo bench clean proto

deps:
	@bash scripts/install-deps.sh

lint: deps
	$(VENV)/bin/ruff check shoal $(PACKAGES) tests $(wildcard e2e) bench scripts
	@rm -rf .tc && mkdir -p .tc/shoal
	@for f in shoal/*.py; do ln -s ../../$$f .tc/$$f; done
	@for m in $(PACKAGES); do ln -s ../../$$m .tc/shoal/$$m; done
	cd .tc && MYPYPATH=. ../$(VENV)/bin/mypy --config-file ../pyproject.toml -p shoal

test: deps lint
	$(PYTEST) -q tests $(wildcard e2e)

unit: deps
	$(PYTEST) -q -m "not root" tests

# proto regenerates proto/shoal/v1/*_pb2*.py{,i} from the .proto files (committed).
proto: deps
	$(PY) proto/generate.py

demo: deps
	@bash scripts/demo.sh

bench: deps
	$(PY) bench/container_start.py
	$(PY) bench/network.py
	$(PY) bench/build.py
	$(PY) bench/multihost.py
	$(PY) bench/failover.py

clean:
	rm -rf .tc .mypy_cache .ruff_cache .pytest_cache build *.egg-info
