# Two commands: `make run` installs and starts the gateway locally; `make test` installs and
# runs every test. Both create .venv on first use; `make test` also installs the Cosmos DB test
# server (npm, pinned by package-lock.json) that the suite starts and stops itself.
PYTHON ?= python3
VENV ?= .venv
PORT ?= 7071
BIN := $(VENV)/bin

.PHONY: run test clean

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

run: $(BIN)/.installed
	$(BIN)/python -m runner --port $(PORT)

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

test: $(BIN)/.installed node_modules/.installed
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .data .pytest_cache node_modules
