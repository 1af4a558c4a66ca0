"""The code's shape: no private FiftyOne name outside the one boundary module,
and no import cycle among the caffe_workflow modules.

Read from the source with ast (function-level imports included); nothing is
imported, so these run in the fast subset.
"""

from __future__ import annotations

import ast
import re
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "workflow" / "caffe_workflow"
BOUNDARY = "workflow/caffe_workflow/fiftyone_internals.py"
# The boundary's own test, and this file (which names private names as text).
EXEMPT = {BOUNDARY, "tests/unit/test_fiftyone_internals.py", "tests/unit/test_architecture.py"}
# Receivers that are the project's own objects although their private
# attribute shares a name with one of FiftyOne's.
NOT_FIFTYONE = {"cluster": "tests/slurm_cluster.py's SlurmCluster"}
_DEFINED = re.compile(r"(?:\bdef |\bclass |\.|^)(_[A-Za-z]\w*)\s*[(=:]", re.M)


def fiftyone_private_names() -> set[str]:
    """Every private name FiftyOne's installed source defines (methods,
    attributes, module-level names), without importing it."""
    root = Path(sysconfig.get_paths()["purelib"]) / "fiftyone"
    assert root.is_dir(), f"fiftyone is not installed at {root}"
    names = set()
    for path in root.rglob("*.py"):
        names.update(_DEFINED.findall(path.read_text(errors="replace")))
    return {n for n in names if not n.startswith("__")}


def _is_fiftyone(module: str | None) -> bool:
    return bool(module) and (module == "fiftyone" or module.startswith("fiftyone."))


def private_uses(path: Path, text: str, private: set[str]) -> list[str]:
    """'path:line: what' for each private FiftyOne name the file uses."""
    rel = path.relative_to(REPO).as_posix() if path.is_relative_to(REPO) else str(path)
    if path.suffix != ".py":  # Snakefile, .smk: Python inside Snakemake syntax
        return [
            f"{rel}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(0)}"
            for m in re.finditer(r"\bf(?:iftyone|o)\b[\w.]*\._[A-Za-z]\w*", text)
        ]
    tree = ast.parse(text, filename=str(path))
    # Names bound by imports: FiftyOne's, and other modules' (os._exit is not
    # FiftyOne's although FiftyOne defines an _exit too).
    fiftyone_aliases, other_aliases = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                bound = alias.asname or alias.name.split(".")[0]
                (fiftyone_aliases if _is_fiftyone(alias.name) else other_aliases).add(bound)
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                bound = alias.asname or alias.name
                (fiftyone_aliases if _is_fiftyone(node.module) else other_aliases).add(bound)
    found = []

    def hit(node, what):
        found.append(f"{rel}:{node.lineno}: {what}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _is_fiftyone(alias.name) and any(
                    p.startswith("_") for p in alias.name.split(".")
                ):
                    hit(node, f"import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and _is_fiftyone(node.module):
            parts = node.module.split(".")
            for alias in node.names:
                if any(p.startswith("_") and not p.startswith("__") for p in parts) or (
                    alias.name.startswith("_")
                ):
                    hit(node, f"from {node.module} import {alias.name}")
        elif isinstance(node, ast.Attribute):
            name = node.attr
            if not name.startswith("_") or name.startswith("__"):
                continue
            root = node.value
            while isinstance(root, (ast.Attribute, ast.Call, ast.Subscript)):
                root = root.func if isinstance(root, ast.Call) else root.value
            root_name = root.id if isinstance(root, ast.Name) else None
            if root_name in fiftyone_aliases:
                hit(node, ast.unparse(node))
            elif name in private and root_name not in (
                "self",
                "cls",
                *NOT_FIFTYONE,
                *other_aliases,
            ):
                hit(node, ast.unparse(node))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "setattr", "hasattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and node.args[1].value in private
        ):
            hit(node, ast.unparse(node))
    return found


def _sources():
    for top in ("workflow", "tests"):
        for path in sorted((REPO / top).rglob("*")):
            if "__pycache__" in path.parts or not path.is_file():
                continue
            if path.suffix in (".py", ".smk"):
                yield path
    yield REPO / "Snakefile"


def test_no_private_fiftyone_name_outside_the_boundary():
    private = fiftyone_private_names()
    found = []
    for path in _sources():
        if path.relative_to(REPO).as_posix() in EXEMPT:
            continue
        found += private_uses(path, path.read_text(), private)
    assert not found, (
        f"private FiftyOne names outside {BOUNDARY} (use the public API, or move "
        "the use there with its reason and a test):\n" + "\n".join(found)
    )


def test_the_private_name_check_can_fail(tmp_path):
    private = fiftyone_private_names()
    planted = tmp_path / "planted.py"
    text = (
        "import fiftyone as fo\n"
        "from fiftyone.utils.eval.segmentation import _compute_accuracy_precision_recall\n"
        "import fiftyone.core.odm.database as fodb\n"
        "docs = fo.load_dataset('x')._doc.get_saved_views()\n"
        "kwargs = getattr(fodb, '_connection_kwargs', {})\n"
        "def f(samples, view):\n"
        "    return samples._dataset, view._serialize(), self_made._ours\n"
    )
    planted.write_text(text)
    found = private_uses(planted, text, private)
    assert sorted(f.split(": ", 1)[1] for f in found) == [
        "fo.load_dataset('x')._doc",
        "from fiftyone.utils.eval.segmentation import _compute_accuracy_precision_recall",
        "getattr(fodb, '_connection_kwargs', {})",
        "samples._dataset",
        "view._serialize",
    ], found


# ------------------------------------------------------------ import cycles


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """{module: modules of `package` it imports}, at any level of the file
    (function-level imports too). `from p import name` is an import of p.name
    when that is a module, else of p."""
    files = {module_name(p, root): p for p in (root / package).rglob("*.py")}
    graph = {}
    for module, path in files.items():
        is_package = path.name == "__init__.py"
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    here = module.split(".") if is_package else module.split(".")[:-1]
                    here = here[: len(here) - (node.level - 1)]
                    base = ".".join(here + ([base] if base else []))
                targets = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names
                ]
            for target in targets:
                while target and target not in files:
                    target = target.rpartition(".")[0]
                if target and target != module:
                    edges.add(target)
        graph[module] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (a path back to its start) per strongly connected group."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(set(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    found = []
    for group in groups:
        start = min(group)
        path, seen = [start], {start}
        while True:  # follow edges inside the group until one returns
            nxt = sorted(w for w in graph[path[-1]] if w in group)
            back = [w for w in nxt if w == start]
            if back:
                found.append(path + [start])
                break
            step = (
                next(w for w in nxt if w not in seen) if any(w not in seen for w in nxt) else None
            )
            if step is None:  # a cycle not through start: close where it loops
                w = nxt[0]
                found.append(path[path.index(w) :] + [w])
                break
            path.append(step)
            seen.add(step)
    return found


def test_no_import_cycle_among_caffe_workflow_modules():
    found = cycles(import_graph(PACKAGE.parent, "caffe_workflow"))
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


@pytest.mark.parametrize("level", ["module", "function"])
def test_a_planted_cycle_is_found(tmp_path, level):
    pkg = tmp_path / "caffe_workflow"
    (pkg / "stages").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "stages" / "__init__.py").write_text("")
    (pkg / "rows.py").write_text("X = 1\n")
    (pkg / "stages" / "a.py").write_text(
        "from caffe_workflow.rows import X\nimport caffe_workflow.stages.b\n"
    )
    body = "from caffe_workflow.stages import a\n"
    if level == "function":
        body = "def f():\n    from . import a\n    return a\n"
    (pkg / "stages" / "b.py").write_text(body)
    assert cycles(import_graph(tmp_path, "caffe_workflow")) == [
        ["caffe_workflow.stages.a", "caffe_workflow.stages.b", "caffe_workflow.stages.a"]
    ]
