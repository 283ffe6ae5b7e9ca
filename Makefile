# Two commands: `make run` installs and starts the gateway locally; `make test` installs and
# runs every test. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
PORT ?= 7071
BIN := $(VENV)/bin

.PHONY: run test clean espeak

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

run: $(BIN)/.installed
	$(BIN)/python -m runner --port $(PORT)

# The realtime voice tests speak to the gateway with espeak-ng (a Debian package, not on PyPI).
test: $(BIN)/.installed espeak
	$(BIN)/python -m pytest

espeak:
	@command -v espeak-ng >/dev/null 2>&1 || { echo "installing espeak-ng for the voice tests"; \
		apt-get update -qq && apt-get install -y -qq espeak-ng >/dev/null; }

clean:
	rm -rf $(VENV) .data .pytest_cache
