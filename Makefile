# Tasks a contributor runs; CI (.ci/run) runs `lint type` and the whole suite.
PY ?= python

.PHONY: help install lint format type layers fast test js conformance bench-smoke check

help:            ## list the tasks
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

install:         ## everything the suites need (Python side; npm packages install on first use)
	$(PY) -m pip install -e '.[test,redis,bench]'

lint:            ## ruff, and the layers contract of docs/architecture.md
	ruff check src tests benchmarks
	ruff format --check src tests benchmarks
	lint-imports

format:          ## ruff's formatting and fixable lints
	ruff format src tests benchmarks
	ruff check --fix src tests benchmarks

type:            ## mypy --strict over src, tests and benchmarks
	mypy

fast:            ## the pure cores and in-process units (seconds): no servers, browsers, Redis
	$(PY) -m pytest -m "not integration"

test:            ## the whole suite (the README's test command)
	$(PY) -m pytest

js:              ## the browser modules' unit tests
	node --test tests/web/js/

conformance:     ## RFC 6455: the Autobahn TestSuite against the real endpoint
	$(PY) -m pytest -m conformance -s tests/conformance

bench-smoke:     ## the benchmark harness at tiny sizes (a few seconds per stack)
	$(PY) -m benchmarks --smoke

check: lint type test  ## what CI checks
