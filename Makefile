# accessmgr — the two commands of the README are `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run scheduler test lint format migrate demo serve bench screenshots clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# Development server with demo data. DEBUG is on here (and only here) so the demo user exists.
# It writes var/dev.env, which manage.py reads (the environment wins), so `manage.py run_revoke`
# and the other README commands run in the same development setting afterwards.
run: export DEBUG ?= 1
run: $(VENV)/.installed
	mkdir -p var
	{ echo "# Written by make run for manage.py (docs/configuration.md). Never on a production machine."; \
	  echo "DEBUG=$$DEBUG"; if [ -n "$$DATABASE_URL" ]; then echo "DATABASE_URL=$$DATABASE_URL"; fi; } > var/dev.env
	$(PY) manage.py migrate --no-input
	$(PY) manage.py seed_demo
	@echo "accessmgr: open http://$(HOST):$(PORT)/ and log in with the demo login above (Ctrl-C stops)."
	$(PY) manage.py runserver $(HOST):$(PORT)

# The built-in schedule beside `make run`, in a second terminal (docs/operations.md), e.g.
# `make scheduler REVOKE_SCHEDULE="@every 1m"`. Ctrl-C stops it and releases a run in progress.
scheduler: export DEBUG ?= 1
scheduler: $(VENV)/.installed
	mkdir -p var
	$(PY) manage.py migrate --no-input
	$(PY) manage.py run_scheduler

# Production-style server: DEBUG off, hashed + compressed static files (whitenoise), gunicorn
# with gunicorn.conf.py. Needs SECRET_KEY and ALLOWED_HOSTS in the environment (docs/deploy.md).
serve: export DEBUG = 0
serve: export GUNICORN_BIND ?= $(HOST):$(PORT)
serve: $(VENV)/.installed
	$(PY) manage.py collectstatic --no-input
	$(VENV)/bin/gunicorn -c gunicorn.conf.py

test: $(VENV)/.installed
	mkdir -p var
	$(PY) -m pytest $(PYTEST_ARGS)

# Benchmarks, never part of `make test` (docs/benchmarks.md): `make bench` (SQLite),
# `make bench DB=postgres`, `BENCH_QUICK=1 make bench` for a fast pass.
bench: $(VENV)/.installed
	mkdir -p var/bench
	$(PY) -m bench $(if $(DB),--db $(DB))

# The README's screenshots (docs/screenshots/*.png): a demo server on its own database
# (var/screenshots.sqlite3) photographed in Chromium (/usr/bin/chromium).
screenshots: $(VENV)/.installed
	mkdir -p var docs/screenshots
	$(PY) scripts/screenshots.py

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache
