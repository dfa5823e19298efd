# Rundbrief: `make run` starts the whole system, `make test` runs every test.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/rundbrief
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: install run test test-random test-unit test-browser lint format messages clean update-axe update-chartjs

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

# The compiled catalogue is built from the .po file, never committed (no binary merge conflicts);
# Babel compiles it, so a fresh machine needs no gettext for `make run` and `make test`.
PO := locale/de/LC_MESSAGES/django.po
MO := locale/de/LC_MESSAGES/django.mo
$(MO): $(PO) $(VENV)/.installed
	$(VENV)/bin/pybabel compile --statistics -i $(PO) -o $@

install: $(VENV)/.installed $(MO)

# DEBUG=true: the local system runs without a SECRET_KEY; RUN_ARGS e.g. "--port 8001".
run: install
	DEBUG=true $(PY) manage.py run_all $(RUN_ARGS)

# Unit and integration tests on PostgreSQL and Redis, then the browser journeys in Chromium,
# in file order (pytest-randomly off).
test: install
	bash .ci/ensure-services
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) SECRET_KEY=test-secret-key WEBHOOK_SECRET=test:webhook-secret STATIC_PLAIN=true \
		$(PY) -m pytest -p no:randomly $(PYTEST_ARGS)

# The same suite in a random order (pytest-randomly); it prints the seed, SEED=<n> repeats an order.
test-random: install
	bash .ci/ensure-services
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) SECRET_KEY=test-secret-key WEBHOOK_SECRET=test:webhook-secret STATIC_PLAIN=true \
		$(PY) -m pytest $(if $(SEED),--randomly-seed=$(SEED)) $(PYTEST_ARGS)

# Only the unit and integration tests (no browser), or only the browser journeys.
test-unit: install
	bash .ci/ensure-services
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) SECRET_KEY=test-secret-key WEBHOOK_SECRET=test:webhook-secret STATIC_PLAIN=true \
		$(PY) -m pytest -p no:randomly -m "not browser" $(PYTEST_ARGS)

test-browser: install
	bash .ci/ensure-services
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) SECRET_KEY=test-secret-key WEBHOOK_SECRET=test:webhook-secret STATIC_PLAIN=true \
		$(PY) -m pytest -p no:randomly -m browser tests/journeys $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

messages: install
	DEBUG=true $(PY) manage.py makemessages -l de --no-location -e html,txt,py,mjml --ignore=.venv --ignore=var --ignore=test-artifacts --ignore=tests --ignore=bench
	msgattrib --sort-output -o $(PO) $(PO)
	$(VENV)/bin/pybabel compile --statistics -i $(PO) -o $(MO)

clean:
	rm -rf var rundbrief.sqlite3* .pytest_cache

# axe-core for the accessibility check in the browser tests, vendored from the npm registry
# (static/vendor/axe/README.md). AXE_VERSION=4.14.1 pins a version; the default is the newest.
AXE_VERSION ?= latest
update-axe:
	rm -rf var/axe && mkdir -p var/axe
	cd var/axe && npm pack --silent axe-core@$(AXE_VERSION) >/dev/null && tar xzf axe-core-*.tgz
	cp var/axe/package/axe.min.js var/axe/package/LICENSE var/axe/package/LICENSE-3RD-PARTY.txt static/vendor/axe/
	head -1 static/vendor/axe/axe.min.js

# Chart.js, served from static/vendor/chartjs/ (static/js/charts.js draws charts from tables).
CHARTJS_VERSION ?= 4
update-chartjs:
	rm -rf var/chartjs && mkdir -p var/chartjs
	cd var/chartjs && npm pack --silent chart.js@$(CHARTJS_VERSION) >/dev/null && tar xzf chart.js-*.tgz
	cp var/chartjs/package/dist/chart.umd.min.js static/vendor/chartjs/
	cp var/chartjs/package/LICENSE.md static/vendor/chartjs/
	head -c 120 static/vendor/chartjs/chart.umd.min.js; echo
