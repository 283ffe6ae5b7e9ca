# Two commands: `make run` installs and starts the gateway locally; `make test` installs and
# runs every test. Both create .venv on first use.
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

test: $(BIN)/.installed
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .data .pytest_cache
