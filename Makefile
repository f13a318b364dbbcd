# forewarn: the targets CI runs are exactly these. `make serve` starts the platform, `make test` runs
# the whole suite with the static checks. uv is installed with pip when it is missing.

UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
CHROMIUM := /usr/bin/chromium

.PHONY: serve test sync uv browser lint typecheck imports pytest bench clean

uv:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv

sync: uv
	$(UV) sync --locked --all-groups

serve: sync
	$(UV) run forewarn serve --demo

# Debian's Chromium for the browser tests (Playwright drives it; it downloads no browser of its own).
browser:
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 || \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }; \
	  else echo "warning: $(CHROMIUM) is missing; install Debian's chromium or the browser tests fail"; fi; }

lint: sync
	$(UV) run ruff check src tests bench

typecheck: sync
	$(UV) run mypy

imports: sync
	$(UV) run lint-imports

pytest: sync browser
	$(UV) run pytest

test: lint typecheck imports pytest

bench: sync
	$(UV) run python bench/ledger.py

clean:
	rm -rf .pytest_cache .mypy_cache .ruff_cache .hypothesis
