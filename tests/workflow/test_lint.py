"""The code follows its conventions: Snakemake's `--lint`, snakefmt, ruff, and
every imported third-party package declared in pyproject.toml."""

import ast
import importlib.metadata
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())

# Imported from the source tree, not from a distribution.
FIRST_PARTY = {"caffe_workflow", "caffe_dev"} | {
    p.stem
    for d in ("tests", "tests/workflow", "tests/browser", "tests/slurm")
    for p in (REPO / d).glob("*.py")
}


def run(*cmd):
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)


@pytest.mark.slow  # starts Snakemake
def test_snakemake_lint_is_clean():
    done = run(str(BIN / "snakemake"), "--lint")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Congratulations" in done.stdout + done.stderr


def test_snakemake_files_are_snakefmt_formatted():
    rules = sorted(str(p) for p in (REPO / "workflow" / "rules").glob("*.smk"))
    done = run(str(BIN / "snakefmt"), "--check", "Snakefile", *rules)
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_check_is_clean():
    done = run(str(BIN / "ruff"), "check", "--no-cache", ".")
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_format_is_clean():
    done = run(str(BIN / "ruff"), "format", "--check", "--no-cache", ".")
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_ruff_per_file_ignore_still_hides_a_finding():
    """The per-file ignores list known findings only: once a file is fixed,
    its entry must go, or new findings of that kind would pass unseen."""
    ignores = PYPROJECT["tool"]["ruff"]["lint"].get("per-file-ignores", {})
    done = run(
        str(BIN / "ruff"),
        "check",
        "--no-cache",
        "--output-format",
        "json",
        "--config",
        "lint.per-file-ignores = {}",
        ".",
    )
    found = {
        (Path(f["filename"]).relative_to(REPO).as_posix(), f["code"])
        for f in json.loads(done.stdout)
    }
    stale = [
        (path, code)
        for path, codes in ignores.items()
        for code in codes
        if (path, code) not in found
    ]
    assert stale == [], "delete these from [tool.ruff.lint.per-file-ignores] in pyproject.toml"


def top_level_imports(path: Path) -> set[str]:
    text = path.read_text()
    if path.suffix == ".py":
        names = set()
        for node in ast.walk(ast.parse(text, str(path))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names.add(node.module.split(".")[0])
        return names
    # Snakefile and .smk files are not Python's grammar; their imports are plain lines.
    return set(re.findall(r"^\s*(?:import|from)\s+(\w+)", text, re.MULTILINE))


def undeclared(files, declared: set[str]) -> dict[str, set[str]]:
    """{distribution: files importing it} for every third-party import whose
    distribution is not in `declared` (normalized names)."""
    dists = importlib.metadata.packages_distributions()
    missing: dict[str, set[str]] = {}
    for path in files:
        for name in top_level_imports(path) - FIRST_PARTY - set(sys.stdlib_module_names):
            # An import that no installed distribution provides is missing too.
            provided = {normalize(d) for d in dists.get(name, [name])}
            if not provided & declared:
                shown = path.relative_to(REPO) if path.is_relative_to(REPO) else path
                missing.setdefault(name, set()).add(str(shown))
    return missing


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_names(specs: list[str]) -> set[str]:
    return {normalize(re.match(r"[A-Za-z0-9._-]+", s).group()) for s in specs}


def test_runtime_imports_are_declared_dependencies():
    declared = requirement_names(PYPROJECT["project"]["dependencies"])
    files = [
        REPO / "Snakefile",
        *(REPO / "workflow").rglob("*.smk"),
        *(REPO / "workflow").rglob("*.py"),
    ]
    assert undeclared(files, declared) == {}, "add to [project] dependencies in pyproject.toml"


def test_test_and_tooling_imports_are_declared_dev_dependencies():
    project = PYPROJECT["project"]
    declared = requirement_names(project["dependencies"] + project["optional-dependencies"]["dev"])
    files = list((REPO / "tests").rglob("*.py"))
    assert undeclared(files, declared) == {}, "add to the dev extra in pyproject.toml"


def test_the_import_check_sees_an_undeclared_package(tmp_path):
    """The checks above cannot pass by not looking: psutil is installed (dev
    extra) but not a runtime dependency."""
    module = tmp_path / "m.py"
    module.write_text("import os\nimport psutil.tests\nfrom caffe_workflow import atomic\n")
    declared = requirement_names(PYPROJECT["project"]["dependencies"])
    assert undeclared([module], declared) == {"psutil": {str(module)}}
