# CaFFe workflow: every target uses .venv/bin/... directly, no activation needed
# (the rules' scripts run with the interpreter that runs Snakemake).
# `make setup` builds .venv from the lock files (see workflow/scripts/setup-env.sh);
# the other targets depend on its stamp, so they set up a fresh clone first.

SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-stamp
SLURM_STAMP := $(VENV)/.slurm-stamp
SETUP_ENV := workflow/scripts/setup-env.sh

# Variables, e.g. `make app DATASET=caffe PORT=8080`:
#   CORES           cores Snakemake may use (demo, run)
#   DATASET         the FiftyOne dataset. demo: the one to build (default:
#                   caffe-sample, or caffe-sample-2, ... when another folder's demo
#                   built caffe-sample); run: the one to build (default: dataset_name
#                   in config/config.yaml); app, report: the one to show (default:
#                   this folder's demo dataset)
#   CONFIG          more config entries, KEY=VALUE separated by spaces, e.g.
#                   CONFIG="data_dir=/data/caffe/data_raw" (demo, run, report)
#   SNAKEMAKE_ARGS  more Snakemake options, e.g. --dry-run (demo, run, report)
#   PORT, ADDRESS   where `make app` serves the App (ADDRESS=0.0.0.0: every interface)
#   DEMO_IMAGES     how many images `make demo` generates
CORES ?= 8
DATASET ?=
CONFIG ?=
SNAKEMAKE_ARGS ?=
PORT ?= 5151
ADDRESS ?= localhost
DEMO_IMAGES ?= 24

SAMPLE_DIR := sample_data/data_raw
# The demo's dataset name, chosen by its first run in this folder.
DEMO_RECORD := sample_data/dataset_name
DEMO_DATASET = $(or $(shell cat $(DEMO_RECORD) 2>/dev/null),caffe-sample)
SHOWN = $(or $(DATASET),$(DEMO_DATASET))
DEMO_SNAKEMAKE = --configfile config/demo.yaml --config data_dir=$(SAMPLE_DIR) dataset_name=$(1) $(CONFIG)
RUN_SNAKEMAKE = $(if $(strip $(1) $(CONFIG)),--config $(if $(1),dataset_name=$(1)) $(CONFIG))

.PHONY: setup setup-slurm lock check-mongod demo run app report test lint format bench clean-venv

setup: $(STAMP)

$(STAMP): pyproject.toml tests/pyproject.toml requirements.lock requirements-mongod.lock $(SETUP_ENV)
	bash $(SETUP_ENV) setup
	touch $@

# Optional: the Slurm executor plugin, for the cluster submit host and for the
# test suite's Slurm tests (see the comment on the `slurm` extra in
# pyproject.toml). Redone after each `make setup`, whose sync removes it.
setup-slurm: $(SLURM_STAMP)

$(SLURM_STAMP): $(STAMP) requirements-slurm.lock
	bash $(SETUP_ENV) slurm
	touch $@

# Re-resolve every pin after editing dependencies in pyproject.toml.
lock:
	bash $(SETUP_ENV) lock

check-mongod: $(STAMP)
	bash $(SETUP_ENV) check

# Small synthetic CaFFe-format data set -> full workflow -> FiftyOne dataset.
# medium size: the benchmark drops fronts shorter than 750 m, which at the
# small size would leave the demo model nothing to score. The dataset name is
# chosen (and recorded) before the run: another clone's demo dataset is never
# taken over, which would delete its samples and the tags users put on them.
demo: $(STAMP)
	$(BIN)/python -m caffe_dev.sample_data $(SAMPLE_DIR) --count $(DEMO_IMAGES) --seed 1 \
		--size medium --predictions sample_data/predictions/shifted_front \
		--dataset-record $(DEMO_RECORD) $(if $(DATASET),--dataset $(DATASET))
	$(BIN)/snakemake --cores $(CORES) $(call DEMO_SNAKEMAKE,$$(cat $(DEMO_RECORD))) $(SNAKEMAKE_ARGS)

run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) $(call RUN_SNAKEMAKE,$(DATASET)) $(SNAKEMAKE_ARGS)

# The App on DATASET until Ctrl-C (caffe_workflow.app).
app: $(STAMP)
	$(BIN)/python -m caffe_workflow.app $(SHOWN) --port $(PORT) --address $(ADDRESS)

# Snakemake's report of DATASET, with the options of the run that built it:
# the demo's for the demo's dataset, else config/config.yaml with CONFIG.
report: $(STAMP)
	@test -d results/$(SHOWN) || { echo "Error: no results of dataset '$(SHOWN)' in \
	$(CURDIR)/results: build it first (make demo, make run), or name another (make report DATASET=NAME)" >&2; exit 2; }
	$(BIN)/snakemake $(if $(filter $(SHOWN),$(DEMO_DATASET)),$(call DEMO_SNAKEMAKE,$(SHOWN)),$(call RUN_SNAKEMAKE,$(SHOWN))) \
		$(SNAKEMAKE_ARGS) --report results/$(SHOWN)/report.html

# The suite includes Slurm integration tests, hence the plugin.
test: $(STAMP) $(SLURM_STAMP)
	$(BIN)/pytest

# ruff's settings are in pyproject.toml.
lint: $(STAMP)
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/snakefmt Snakefile workflow/rules
	$(BIN)/ruff format .

# Benchmark (caffe_dev.benchmark: the data workflow, the model evaluation, then
# the prediction benchmark caffe_dev.bench_inference as its `inference` phase);
# extra options: make bench BENCH_ARGS="--images 100", BENCH_ARGS="--only-inference",
# BENCH_ARGS="--help"
bench: $(STAMP)
	$(BIN)/python -m caffe_dev.benchmark $(BENCH_ARGS)

clean-venv:
	rm -rf $(VENV)
