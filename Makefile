# Two commands: `make run` installs and starts the gateway locally; `make test` installs and
# runs every test. Both create .venv on first use (`make run` installs only what running needs); `make test` also installs the Cosmos DB test
# server and the Node openai client (npm, pinned by package-lock.json) that the suite uses.
PYTHON ?= python3
VENV ?= .venv
PORT ?= 7071
BIN := $(VENV)/bin

.PHONY: run test bench clean espeak strace chromium lock

# Each set is installed exactly as locked, with hashes (a file whose hash does not match is
# refused): requirements.txt is what the Function App runs (the Functions remote build installs
# it too), requirements-local.txt what the local runner and the simulator add, and
# requirements-dev.txt everything, tests included.
$(BIN)/.installed-run: requirements.txt requirements-local.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-deps --require-hashes -r requirements.txt \
		-r requirements-local.txt
	touch $@

$(BIN)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-deps --require-hashes -r requirements-dev.txt
	touch $@ $(BIN)/.installed-run

# After changing a requirements*.in: re-resolve and re-hash the three locks (pip-tools'
# convention: people edit .in, the .txt beside it is generated). tests/test_supply_chain.py
# fails while a lock is out of date.
PIP_COMPILE := $(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-header \
              --no-emit-index-url --no-emit-find-links
lock: $(BIN)/.installed
	$(PIP_COMPILE) -o requirements.txt requirements.in
	$(PIP_COMPILE) -o requirements-local.txt requirements-local.in
	$(PIP_COMPILE) -c requirements.txt -c requirements-local.txt -o requirements-dev.txt \
		requirements-dev.in

run: $(BIN)/.installed-run
	$(BIN)/python -m runner --port $(PORT)

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The realtime voice tests speak to the gateway with espeak-ng, the egress test watches the
# gateway's connections with strace, and the console's browser tests drive chromium through
# Playwright (Debian packages, not on PyPI).
test: $(BIN)/.installed node_modules/.installed espeak strace chromium
	$(BIN)/python -m pytest

espeak:
	@command -v espeak-ng >/dev/null 2>&1 || { echo "installing espeak-ng for the voice tests"; \
		apt-get update -qq && apt-get install -y -qq espeak-ng >/dev/null; }

strace:
	@command -v strace >/dev/null 2>&1 || { echo "installing strace for the egress test"; \
		apt-get update -qq && apt-get install -y -qq strace >/dev/null; }

chromium:
	@command -v chromium >/dev/null 2>&1 || { echo "installing chromium for the console tests"; \
		apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

# The side-by-side benchmark (bench/README.md): not a test, CI does not run it. Installs
# LiteLLM's proxy into bench/.venv-litellm on first use.
$(BIN)/.bench-installed: $(BIN)/.installed bench/requirements.txt
	$(BIN)/python -m pip install --quiet -r bench/requirements.txt
	touch $@

bench: $(BIN)/.bench-installed
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .data .pytest_cache node_modules
