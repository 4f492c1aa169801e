# The README's two commands: `make demo` (set up, start a lab, show clusterops on it) and
# `make test` (set up, lint, type-check, run every test on real servers). .ci/run calls `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The real-server tests mostly wait on servers, so three workers share two cores well. Each worker takes whole
# files (module-scoped labs stay with their tests); every lab picks its own 127.0.K prefix and free ports.
PYTEST_PARALLEL ?= -n 3 --dist loadfile
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup system-deps docker-deps binaries demo lint test unit integration bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# Debian packages the tests drive for real: OpenSSH's sshd (the ssh upgrade driver) and iproute2
# (network namespaces for the address-validation differential tests). Installed only when missing.
system-deps:
	bash scripts/system-deps.sh

# The compose tests' Docker engine: Debian's docker.io and busybox-static, and Docker Compose v2 built from the Go
# module proxy into the cache (about 7 minutes once). The tests start a private dockerd and always stop it.
docker-deps:
	bash scripts/docker-deps.sh >/dev/null

# Build Consul A and B from the Go module proxy and install two OpenBao releases (cached outside
# the repo in ~/.cache/clusterops; a warm cache makes this a no-op).
binaries: setup
	$(BIN)/clusterops lab fetch

demo: binaries
	bash scripts/demo.sh

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

unit: setup
	$(BIN)/pytest tests/unit

integration: system-deps docker-deps binaries
	$(BIN)/pytest $(PYTEST_PARALLEL) tests/integration

test: system-deps docker-deps binaries lint
	$(BIN)/pytest $(PYTEST_PARALLEL)

bench: binaries
	$(BIN)/python bench/upgrade_bench.py

clean:
	-$(BIN)/clusterops lab down
	rm -rf $(VENV) build src/*.egg-info .mypy_cache .pytest_cache .ruff_cache
