# Two commands do all set-up on a fresh Debian / Raspberry Pi OS machine:
#   make run   - a whole simulated office on embedded defaults (SQLite, embedded broker)
#   make test  - ruff, mypy and the test suite (installs Mosquitto, PostgreSQL, fonts, espeak-ng, Chromium)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.cherga-installed
CONFIG ?= examples/demo-office.yaml

.PHONY: run test lint typecheck pytest soak sysdeps-run sysdeps-test bench clean arm64-proof screenshots

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Cherga needs Python 3.11 or newer"'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { echo "python3 -m venv failed: apt-get install python3-venv"; exit 1; }
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $(STAMP)

sysdeps-run:
	@bash scripts/install-system-deps.sh run

sysdeps-test:
	@bash scripts/install-system-deps.sh test

run: sysdeps-run $(STAMP)
	$(BIN)/cherga office --config $(CONFIG)

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy cherga tests bench

pytest: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 2 --dist loadfile

test: sysdeps-test $(STAMP) lint typecheck pytest

# The soak tests (marked slow) at full size: the whole Kryvyi Rih day, 20 counters x 500 presses.
# `make test` runs them at the quick size (tests/support/soak.py).
soak: $(STAMP)
	CHERGA_SOAK=full $(BIN)/python -m pytest -q -p no:cacheprovider -m slow

bench: $(STAMP)
	@for b in bench/*.py; do case $$b in */workload.py|*/_*) continue;; esac; echo "== $$b"; $(BIN)/python $$b --quick || exit 1; done

# Not part of `make test` (many minutes, root, the internet): every role installed by its generated
# first-boot script into an arm64 bookworm root under qemu, started there, one ticket kiosk -> pad -> display.
arm64-proof: $(STAMP)
	$(BIN)/python scripts/arm64_proof.py

# Every web page in each language at 1920x1080 and 390x844 into artifacts/screenshots/ (not committed).
screenshots: sysdeps-test $(STAMP)
	$(BIN)/python scripts/screenshots.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache build *.egg-info
