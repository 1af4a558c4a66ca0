"""The workflow follows Snakemake's conventions: `--lint` clean, snakefmt formatted."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def run(*cmd):
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)


def test_snakemake_lint_is_clean():
    done = run(str(BIN / "snakemake"), "--lint")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Congratulations" in done.stdout + done.stderr


def test_snakemake_files_are_snakefmt_formatted():
    rules = sorted(str(p) for p in (REPO / "workflow" / "rules").glob("*.smk"))
    done = run(str(BIN / "snakefmt"), "--check", "Snakefile", *rules)
    assert done.returncode == 0, done.stdout + done.stderr
