# DarkHorse: `make help` lists the targets. Every target uses one virtualenv (.venv), created
# once and reinstalled only when pyproject.toml changes.
.DEFAULT_GOAL := help
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CONFIG ?= darkhorse.yaml
PORT   ?= 3000
LOAD_CONFIG ?= examples/request_load/darkhorse.yaml
M4     ?=
BACKTEST ?= data/backtest
# test processes: a test file runs whole in one of them (its module fixtures built once)
TEST_WORKERS ?= 2
XDIST := $(if $(filter-out 0 1,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadfile,)

# telemetry off, no downloads at run time, OpenMP threads that sleep while they wait: the one list
# is darkhorse/core/process.env. Each is set only where the caller has not set it (`?=`: a value
# in the caller's environment wins, as in every DarkHorse process) and exported to the recipes.
PROCESS_ENV := darkhorse/core/process.env
PROCESS_VARS := $(shell sed -n 's/^\([A-Z_][A-Z0-9_]*\)=.*/\1/p' $(PROCESS_ENV))
$(foreach var,$(PROCESS_VARS),$(eval $(var) ?= $(shell sed -n 's/^$(var)=//p' $(PROCESS_ENV))))
export $(PROCESS_VARS)

.PHONY: help venv build train release serve backtest tune test test-fast lint bench bench-panel bench-serve bench-load-serve bench-whatif bench-features bench-accuracy bench-load bench-hierarchy bench-customers bench-graph bench-multitask bench-graph-classifier bench-customer-signals bench-customer-demand bench-threads clean

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	@touch $(STAMP)

venv: $(STAMP) ## Create the virtualenv and install DarkHorse (skipped when up to date)

build: venv ## Build the weekly panels and hot-seller labels from the configured data (CONFIG=...)
	$(BIN)/darkhorse build --config $(CONFIG)

train: venv ## Backtest and train the ensemble, then build its release bento (CONFIG=...)
	$(BIN)/darkhorse train --config $(CONFIG)
	$(BIN)/darkhorse release --config $(CONFIG)

release: venv ## Build a release bento of the last trained ensemble (CONFIG=...)
	$(BIN)/darkhorse release --config $(CONFIG)

serve: venv ## Serve the newest release on 127.0.0.1:$(PORT) (dashboard at /ui/, API docs at /docs)
	$(BIN)/bentoml serve $$($(BIN)/darkhorse release --latest --config $(CONFIG)) --host 127.0.0.1 --port $(PORT)

backtest: venv ## Rolling-origin backtest and report only, no model saved (CONFIG=...)
	$(BIN)/darkhorse backtest --config $(CONFIG)

tune: venv ## Tune XGBoost with Optuna (resumable; TRIALS=20) and write darkhorse.tuned.yaml
	$(BIN)/darkhorse tune --config $(CONFIG) --model xgboost --trials $${TRIALS:-20}

test: venv ## Run every test, slow ones included (TEST_WORKERS=2 processes; 1 runs them in one)
	$(BIN)/python -m pytest $(XDIST) --durations=25

test-fast: venv ## Run the quick tests only (no slow, no integration)
	$(BIN)/python -m pytest $(XDIST) -m "not slow and not integration"

lint: venv ## Lint with ruff and check the import contracts (floors point down)
	$(BIN)/ruff check darkhorse training expectations synthetic feature_repo tests benchmarks
	$(BIN)/lint-imports

bench: bench-panel bench-serve bench-load-serve bench-whatif ## Every benchmark: panel build, the served API (weekly and load routes), what-if cost by catalogue size

bench-panel: venv ## Benchmark the panel build: dbt vs one DuckDB statement vs pandas (1M rows; ARGS="--rows 1000000 10000000" adds 10M)
	$(BIN)/python benchmarks/bench_panel.py $(ARGS)

bench-serve: venv ## Benchmark the newest release over HTTP: latency p50/p99 and requests/s (needs make train)
	$(BIN)/python benchmarks/bench_serve.py --config $(CONFIG)

bench-load-serve: venv ## Benchmark the load routes over HTTP: forecast (cached, fresh after an observe) and observe p50/p99 for one series (needs make train CONFIG=$(LOAD_CONFIG))
	$(BIN)/python benchmarks/bench_load_serve.py --config $(LOAD_CONFIG)

bench-whatif: venv ## What-if answers as the catalogue grows: a plan's forecast against the whole forecast at 600, 10,000 and 30,000 items (ARGS="--items 600 100000 ..."; run it alone)
	$(BIN)/python benchmarks/bench_whatif.py $(ARGS)

bench-features: venv ## Benchmark the feature store: point-in-time training sets, online lookups (sqlite, redis)
	$(BIN)/python benchmarks/bench_features.py

bench-threads: venv ## Contention: one origin of the default members alone, beside a busy core and beside a second run, per OpenMP wait policy and thread count (ARGS=--rounds 3 ...; run it alone)
	$(BIN)/python benchmarks/bench_threads.py --config $(CONFIG) $(ARGS)

bench-accuracy: venv ## Accuracy suite: backtest CONFIG on Online Retail, M4 Weekly (M4=folder), weekly sales, synthetic reviews (ARGS=--quick ...; ARGS="--panel-file FILE ..." for a panel of your own)
	$(BIN)/python benchmarks/bench_accuracy.py --config $(CONFIG) $(if $(M4),--m4 $(M4)) $(ARGS)

bench-load: venv ## Replica-plan replay on the shipped request traces (vs reactive and static peak), then M4 Hourly from M4=folder (empty: skipped)
	$(BIN)/python benchmarks/bench_load.py
	$(if $(M4),$(BIN)/python benchmarks/bench_load_m4.py $(M4))

bench-hierarchy: venv ## Item x region hierarchy: MASE per level before/after reconciliation, coherence (needs make build; ARGS=--top-items 50 ...)
	$(BIN)/python benchmarks/bench_hierarchy.py --config $(CONFIG) $(ARGS)

bench-customers: venv ## Customers' next orders: the sequence model vs popular, own last items, co-purchase (needs make build; ARGS=...)
	$(BIN)/python benchmarks/bench_customers.py --config $(CONFIG) $(ARGS)

bench-graph: venv ## Build time and memory of the product-graph and text marts on synthetic reviews (ARGS=...)
	$(BIN)/python benchmarks/bench_graph.py $(ARGS)

bench-multitask: venv ## Hot-seller AP of the multi-task model and its ablations beside the other scorers (ARGS=...)
	$(BIN)/python benchmarks/bench_multitask.py $(ARGS)

bench-graph-classifier: venv ## Hot-seller classifier AP without, with and auto-selected product-graph features, same origins (ARGS=--online-retail ...)
	$(BIN)/python benchmarks/bench_graph_classifier.py $(ARGS)

bench-customer-signals: venv ## Hot-seller scorers with and without the customer signals, replayed on a backtest (after make backtest; BACKTEST=its folder)
	$(BIN)/python benchmarks/bench_customer_signals.py --config $(CONFIG) $(BACKTEST)

bench-customer-demand: venv ## The customer_demand member's MASE and the blend's with and without it (needs make build; ARGS=--max-series 300 ...)
	$(BIN)/python benchmarks/bench_customer_demand.py --config $(CONFIG) $(ARGS)

# data/candidates/dbt/ is where a plain `dbt run` writes its candidate marts (dbt_project/profiles.yml):
# it is emptied, not removed
clean: ## Remove generated data, dbt artefacts and caches (keeps .venv and the raw data)
	rm -rf dbt_project/target dbt_project/logs dbt_project/dbt_packages logs .pytest_cache .ruff_cache
	find data -mindepth 1 -maxdepth 1 ! -name raw -exec rm -rf {} +
	mkdir -p data/candidates/dbt && touch data/candidates/dbt/.gitkeep
