"""Development tooling, not part of the workflow: the sample-data generator
(make demo, tests, benchmark), private mongods (tests/caffe_dev/mongod.py),
the benchmark and its baselines. Installed by `make setup` from tests/
(tests/pyproject.toml); not in the runtime package's wheel."""
