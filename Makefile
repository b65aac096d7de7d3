# The commands people and CI use. `make run` and `make test` install what they need first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test bench soak lint format clean

install: $(STAMP) console

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e '.[postgres,redis,test]'
	touch $(STAMP)

# The console's page (/console/): console/ built by Vite into the package, rebuilt when its
# sources change. Without npm the APIs still work: the page then says how to build it.
NPM := $(shell command -v npm 2>/dev/null)
CONSOLE_BUILT := src/cxgate/console/static/index.html
CONSOLE_SOURCES := console/index.html console/vite.config.js $(wildcard console/src/*.* console/src/*/*.* console/public/*)
.PHONY: console
ifneq ($(NPM),)
console: $(CONSOLE_BUILT)
else
console:
	@echo "make: npm not found: the console (/console/) is not built; install Node.js 20.19+ and run make install again" >&2
endif

console/node_modules/.package-lock.json: console/package.json console/package-lock.json
	cd console && npm ci --no-audit --no-fund --loglevel=error

$(CONSOLE_BUILT): console/node_modules/.package-lock.json $(CONSOLE_SOURCES)
	cd console && npm run build --silent

run: install
	$(BIN)/cxgate serve --host 127.0.0.1 --port 8080 --store sqlite:///var/cxgate.db --config src/cxgate/demo.toml

test: install
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python -m bench
	$(BIN)/python -m bench.fanout

# Not part of `make test`: a mixed workload for SOAK_MINUTES (default 10), report in bench/results/.
SOAK_MINUTES ?= 10
soak: install
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench.soak --minutes $(SOAK_MINUTES)

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: install
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
	rm -rf console/node_modules src/cxgate/console/static tests/interop/node_modules tests/browser/node_modules
