# Everything a new user needs: `make demo`, then `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 4200
export PREFECT_HOME ?= $(CURDIR)/.work/prefect
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1

.PHONY: install demo test lint bench server serve clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e ".[dev]"
	$(BIN)/pip check
	touch $(STAMP)

demo: install
	$(BIN)/python -m stockbridge.demo

test: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: install
	$(BIN)/python -m bench

server: install
	$(BIN)/prefect server start --host 127.0.0.1 --port $(PORT)

serve: install
	PREFECT_API_URL=http://127.0.0.1:$(PORT)/api $(BIN)/stockbridge serve configs/

clean:
	rm -rf $(VENV) .work
