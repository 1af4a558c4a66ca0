"""Fixtures: private single-node Slurm clusters (see tests/slurm_cluster.py)."""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from slurm_cluster import SlurmCluster, SlurmUnavailable, leftovers  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slurm: starts a private Slurm cluster on localhost (root, apt-get)"
    )


class StartedCluster:
    """Starts clusters (skipping where Slurm cannot run, never in CI), stops
    them and checks that stopping left nothing behind."""

    def __init__(self):
        self.clusters = []

    def __call__(self) -> SlurmCluster:
        cluster = SlurmCluster()
        try:
            cluster.__enter__()
        except SlurmUnavailable as err:
            if os.environ.get("CI") == "true":
                pytest.fail(f"Slurm test cannot run in CI: {err}")
            pytest.skip(f"no private Slurm cluster: {err}")
        cluster.pids = [p.pid for p in cluster.procs.values()]
        cluster.workdir = cluster.dir
        self.clusters.append(cluster)
        return cluster

    def stop(self, cluster: SlurmCluster) -> None:
        self.clusters.remove(cluster)
        cluster.__exit__(None, None, None)
        left = leftovers(cluster.pids, cluster.workdir)
        assert not left, f"stopping the Slurm cluster left {left}"

    def stop_all(self) -> None:
        while self.clusters:
            self.stop(self.clusters[-1])  # last started, first stopped


@pytest.fixture(scope="session")
def slurm_cluster():
    """One cluster for the whole session (starting one takes ~1.5 s)."""
    starter = StartedCluster()
    try:
        yield starter()
    finally:
        starter.stop_all()


@pytest.fixture
def start_slurm_cluster():
    """Factory for extra clusters within one test; .stop(cluster) stops one."""
    starter = StartedCluster()
    try:
        yield starter
    finally:
        starter.stop_all()
