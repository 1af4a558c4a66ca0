"""Stage `catalog`: the batches' rows -> `catalog.parquet` and a validation report.

    python -m caffe_workflow.stages.catalog --catalog results/caffe/catalog.parquet \
        --report results/caffe/validation_report.md --images-root results/caffe/images \
        --data-dir DATA_DIR BATCH.parquet [BATCH.parquet ...]

The batch files are copied into the catalog one at a time (one row group
each), so memory holds one batch, whatever the size of the archive; rows come
in batch order, sorted by split and stem within a batch. Per-image folders
under `--images-root` of images in no batch belong to source images that are
gone; they are removed so results mirror the data.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import pyarrow.parquet as pq

from caffe_workflow.atomic import write_atomically
from caffe_workflow.caffe.layout import discover, printable
from caffe_workflow.rows import ROW_SCHEMA


def merge(batch_files: list[Path], catalog: Path) -> dict:
    """Concatenate the batch files into `catalog`; returns the counts and
    the rows the report needs (those with problems or warnings)."""
    flagged, keys, invalid, unlabelled = [], [], 0, 0

    def write(f):
        nonlocal invalid, unlabelled
        with pq.ParquetWriter(f, ROW_SCHEMA) as writer:
            for path in batch_files:
                table = pq.read_table(path)
                writer.write_table(table)
                keys.extend(
                    zip(table.column("split").to_pylist(), table.column("stem").to_pylist())
                )
                small = table.select(
                    ["split", "stem", "filepath", "valid", "problems", "warnings"]
                ).to_pylist()
                invalid += sum(not r["valid"] for r in small)
                unlabelled += table.column("labelled").to_pylist().count(False)
                flagged.extend(r for r in small if r["problems"] or r["warnings"])

    write_atomically(catalog, write)
    return {
        "rows": len(keys),
        "invalid": invalid,
        "unlabelled": unlabelled,
        "flagged": flagged,
        "keys": keys,
    }


def write_report(
    count: int,
    flagged: list[dict],
    path: Path,
    ignored: list[tuple[Path, str]],
    unlabelled: int = 0,
) -> None:
    """`flagged`: the rows with problems or warnings, of `count` rows, of
    which `unlabelled` have no label files."""
    rows = sorted(flagged, key=lambda r: (r["split"], r["stem"]))
    invalid = [r for r in rows if r["problems"]]
    warned = [r for r in rows if r["warnings"]]
    lines = [
        "# CaFFe validation report",
        "",
        f"{count} images: {count - len(invalid)} valid, {len(invalid)} invalid, "
        f"{unlabelled} unlabelled (valid, without label files), "
        f"{len(warned)} with warnings, {len(ignored)} files ignored.",
        "",
    ]
    for title, selected, key in (
        ("Invalid images", invalid, "problems"),
        ("Warnings", warned, "warnings"),
    ):
        lines += [f"## {title}", ""]
        if not selected:
            lines += ["None.", ""]
            continue
        lines += ["| split | image | file | " + key[:-1] + " |", "|---|---|---|---|"]
        for r in selected:
            for item in r[key]:
                cells = [r["split"], r["stem"], r["filepath"], item]
                lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        lines.append("")
    lines += ["## Files ignored in sar_images/", ""]
    lines += [f"- `{_cell(printable(file))}`: {why}" for file, why in ignored] or ["None."]
    report = "\n".join(lines + [""]).encode()
    write_atomically(path, lambda f: f.write(report))


def _cell(text: str) -> str:
    """Text for one report table cell on one line: | escaped, and control
    characters (a newline in a file name) written as escapes like \\n."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text.replace("|", "\\|")


def prune_stale(images_root: Path, keep: list[tuple[str, str]]) -> list[Path]:
    """Remove per-image folders (and leftover temporary folders) of images not
    in `keep` ((split, stem) pairs)."""
    keep_set = set(keep)
    removed = []
    for folder in sorted(Path(images_root).glob("*/*")):
        if folder.is_dir() and (folder.parent.name, folder.name) not in keep_set:
            shutil.rmtree(folder)
            removed.append(folder)
    return removed


def run(
    catalog: Path, report: Path, images_root: Path, data_dir: Path, batch_files: list[Path]
) -> None:
    """The merge as the workflow runs it (messages on stderr)."""
    catalog, report = Path(catalog), Path(report)
    done = merge([Path(f) for f in batch_files], catalog)
    write_report(
        done["rows"], done["flagged"], report, discover(Path(data_dir)).ignored, done["unlabelled"]
    )
    for folder in prune_stale(Path(images_root), done["keys"]):
        print(f"removed results of a source image that is gone: {folder}", file=sys.stderr)
    inputs = {Path(f).resolve() for f in batch_files}
    for old in Path(batch_files[0]).parent.glob("*.parquet") if batch_files else []:
        if old.resolve() not in inputs:  # a batch whose images are all gone
            old.unlink()
    print(
        f"catalog: {done['rows']} images, {done['invalid']} invalid, "
        f"{done['unlabelled']} unlabelled -> {catalog}; "
        f"report -> {report}",
        file=sys.stderr,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--catalog", type=Path, required=True)
    parser.add_argument("--report", type=Path, required=True)
    parser.add_argument("--images-root", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("batch_files", type=Path, nargs="+")
    args = parser.parse_args(argv)
    run(args.catalog, args.report, args.images_root, args.data_dir, args.batch_files)
    return 0


if __name__ == "__main__":
    sys.exit(main())
