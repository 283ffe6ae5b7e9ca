# Two commands: `make run` installs and starts the gateway locally; `make test` installs and
# runs every test. Both create .venv on first use; `make test` also installs the Cosmos DB test
# server (npm, pinned by package-lock.json) that the suite starts and stops itself.
PYTHON ?= python3
VENV ?= .venv
PORT ?= 7071
BIN := $(VENV)/bin

.PHONY: run test bench clean espeak lock

# Installs exactly the hash-locked set (requirements-dev.lock includes the runtime lock's pins):
# a package whose file does not match its recorded hash is refused.
$(BIN)/.installed: requirements.lock requirements-dev.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-deps --require-hashes -r requirements-dev.lock
	touch $@

# After changing requirements.txt or requirements-dev.txt: re-resolve and re-hash both locks.
# (tests/test_supply_chain.py fails while a lock is out of date.)
PIP_COMPILE := $(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-header \
              --no-emit-index-url --no-emit-find-links
lock: $(BIN)/.installed
	$(PIP_COMPILE) -o requirements.lock requirements.txt
	$(PIP_COMPILE) -c requirements.lock -o requirements-dev.lock requirements-dev.txt

run: $(BIN)/.installed
	$(BIN)/python -m runner --port $(PORT)

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The realtime voice tests speak to the gateway with espeak-ng (a Debian package, not on PyPI).
test: $(BIN)/.installed node_modules/.installed espeak
	$(BIN)/python -m pytest

espeak:
	@command -v espeak-ng >/dev/null 2>&1 || { echo "installing espeak-ng for the voice tests"; \
		apt-get update -qq && apt-get install -y -qq espeak-ng >/dev/null; }

# The side-by-side benchmark (bench/README.md): not a test, CI does not run it. Installs
# LiteLLM's proxy into bench/.venv-litellm on first use.
$(BIN)/.bench-installed: $(BIN)/.installed bench/requirements.txt
	$(BIN)/python -m pip install --quiet -r bench/requirements.txt
	touch $@

bench: $(BIN)/.bench-installed
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .data .pytest_cache node_modules
