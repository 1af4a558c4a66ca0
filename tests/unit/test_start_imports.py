"""What every Snakemake start imports stays cheap.

The Snakefile and its rule files are parsed at every start: the main run,
each no-op rerun and, on Slurm, twice per cluster job. A module imported
there that pulls in SciPy, scikit-image, pandas or FiftyOne costs every one
of those starts (importing stages.evaluate did: +0.25 s, a fifth of a no-op).
"""

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("scipy", "skimage", "fiftyone", "matplotlib", "pandas", "PIL", "sklearn")


def workflow_imports() -> list[str]:
    """The caffe_workflow modules the Snakefile and rule files import."""
    files = [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]
    found = set()
    for path in files:
        for match in re.finditer(
            r"^\s*(?:from\s+(caffe_workflow[\w.]*)\s+import|import\s+(caffe_workflow[\w.]*))",
            path.read_text(),
            re.MULTILINE,
        ):
            found.add(match.group(1) or match.group(2))
    return sorted(found)


def test_the_snakefile_imports_no_heavy_library():
    modules = workflow_imports()
    assert "caffe_workflow.predictions" in modules  # the regex sees the imports
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"print(sorted(h for h in {HEAVY!r} if h in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.strip() == "[]", f"a Snakemake start imports {out.strip()} via {modules}"
