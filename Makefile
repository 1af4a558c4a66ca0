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
CORES ?= 8

SAMPLE_DIR := sample_data/data_raw
SAMPLE_NAME := caffe-sample

.PHONY: setup setup-slurm lock check-mongod demo run test lint format bench clean-venv

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
# small size would leave the demo model nothing to score.
demo: $(STAMP)
	$(BIN)/python -m caffe_dev.sample_data $(SAMPLE_DIR) --count 24 --seed 1 --size medium \
		--predictions sample_data/predictions/shifted_front
	$(BIN)/snakemake --cores $(CORES) --configfile config/demo.yaml \
		--config data_dir=$(SAMPLE_DIR) dataset_name=$(SAMPLE_NAME)

run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) $(SNAKEMAKE_ARGS)

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

# Benchmark (caffe_dev.benchmark); extra options: make bench BENCH_ARGS="--images 100"
bench: $(STAMP)
	$(BIN)/python -m caffe_dev.benchmark $(BENCH_ARGS)

clean-venv:
	rm -rf $(VENV)
