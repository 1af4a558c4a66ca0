"""Which images each per-image job processes: batches sized by work, fixed once made.

Snakemake's cost grows with its number of jobs (every start builds and checks
the whole DAG; on Slurm every job is a submission and a Snakemake start), so
the per-image work runs in batches of images, each batch one job: about
`budget` bytes of SAR PNG (decoding is most of the work, and it grows with
the file size). A batch's members never change, except that images that are
gone leave it, so adding images never touches a full batch: new images fill
the last batch while it is under budget, then open new ones. Inside a job,
only the members whose inputs changed are processed again (stages/process.py),
so a new image costs one image of work, not a batch's.

The assignment is kept per batch, in `results/<dataset>/batches/<batch>.tsv`
(batch, split, stem, bytes): the batch's manifest. The Snakefile computes
the assignment in memory at every start (from the manifests and data_dir) and
only rule `batches` writes a batch's manifest, when its members change, so a
dry run or `--lint` changes nothing and a batch whose members stayed is not
touched; a job on a cluster node reads the manifests instead of listing
data_dir again. (`results/<dataset>/batches.tsv`, one manifest for all
batches, is still read when no batch has its own.)
"""

from __future__ import annotations

import csv
import functools
import io
import os
from pathlib import Path

from caffe_workflow.atomic import write_atomically
from caffe_workflow.caffe.layout import canonical_dir, file_parts
from caffe_workflow.fingerprint import fingerprint

Key = tuple[str, str]  # (split, stem)
FIELDS = ("batch", "split", "stem", "bytes")


def batch_name(number: int) -> str:
    return f"b{number:04d}"


def read(path: str | os.PathLike) -> dict[Key, tuple[str, int]]:
    """(split, stem) -> (batch, bytes); empty when there is no manifest yet."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
    except FileNotFoundError:
        return {}
    return {(r["split"], r["stem"]): (r["batch"], int(r["bytes"])) for r in rows}


def read_all(results: str | os.PathLike) -> dict[Key, tuple[str, int]]:
    """The assignment of all batches: every `<results>/batches/b*.tsv`, or
    the single `<results>/batches.tsv` of earlier versions."""
    found: dict[Key, tuple[str, int]] = {}
    for path in sorted(Path(results, "batches").glob("b*.tsv")):
        found.update(read(path))
    return found or read(Path(results, "batches.tsv"))


def only(batches: dict[Key, tuple[str, int]], batch: str) -> dict[Key, tuple[str, int]]:
    """The entries of one batch."""
    return {key: value for key, value in batches.items() if value[0] == batch}


def assign(
    images: dict[Key, int],
    previous: dict[Key, tuple[str, int]],
    budget: int,
    max_images: int = 2000,
) -> dict[Key, tuple[str, int]]:
    """Batches for `images` ({key: bytes}): previous members stay where they
    were (gone ones leave), new ones (in key order) fill the last batch while
    it holds less than `budget` bytes and fewer than `max_images` images (a
    batch job re-reads all its members' rows, so small images need a count
    limit too), then new batches. Deterministic."""
    kept = {key: previous[key] for key in images if key in previous}
    sizes: dict[str, int] = {}
    counts: dict[str, int] = {}
    for batch, size in kept.values():
        sizes[batch] = sizes.get(batch, 0) + size
        counts[batch] = counts.get(batch, 0) + 1
    # Numbering continues after the highest batch in the manifest. A name whose
    # images are all gone is no longer in it and can come back for new images:
    # harmless, since a batch job keeps previous rows only for its current
    # members (stages/process.py).
    numbers = [int(batch[1:]) for batch, _ in previous.values()]
    last = max(numbers) if numbers else -1
    current = batch_name(last) if last >= 0 and batch_name(last) in sizes else None
    for key in sorted(k for k in images if k not in kept):
        size = images[key]
        if current is None or sizes[current] >= budget or counts[current] >= max_images:
            last += 1
            current = batch_name(last)
            sizes[current] = counts[current] = 0
        kept[key] = (current, size)
        sizes[current] += size
        counts[current] += 1
    return kept


def render(batches: dict[Key, tuple[str, int]]) -> bytes:
    """The manifest's text: a header, then one row per image by batch and key."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\n")
    writer.writerow(FIELDS)
    for (split, stem), (batch, size) in sorted(batches.items(), key=lambda i: (i[1][0], i[0])):
        writer.writerow((batch, split, stem, size))
    return buffer.getvalue().encode()


def write(path: str | os.PathLike, batches: dict[Key, tuple[str, int]]) -> None:
    data = render(batches)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda f: f.write(data))


class Members(str):
    """A batch's members as its manifest job's param: compared and recorded
    by Snakemake as the text, their count and a fingerprint of the manifest
    (a change reruns the job), while the job gets the members themselves
    (`entries`), as the Snakefile assigned them at its start."""

    entries: dict


def describe(members: dict[Key, tuple[str, int]]) -> Members:
    text = render(members).decode()
    param = Members(f"{len(members)} images ({fingerprint([], text, length=12)})")
    param.entries = members
    return param


def group(batches: dict[Key, tuple[str, int]]) -> dict[str, list[Key]]:
    """batch -> its members' keys, in key order."""
    members: dict[str, list[Key]] = {}
    for key in sorted(batches):
        members.setdefault(batches[key][0], []).append(key)
    return members


@functools.cache
def _files(data_dir: str, split: str) -> tuple[tuple[str, str, str], ...]:
    """(name, folder + separator, suffix) of a split's SAR image (its folder
    canonical) and label files, resolved once per process: member() runs for
    every image at every Snakemake start, where building each path with
    pathlib was a large part of a no-op rerun of many images."""
    parts = file_parts(Path(data_dir), split)
    sar_folder, sar_suffix = parts.pop("sar")
    files = {"image": (canonical_dir(sar_folder), sar_suffix)} | parts
    return tuple((name, str(folder) + os.sep, suffix) for name, (folder, suffix) in files.items())


def member(data_dir: str | os.PathLike, split: str, stem: str) -> dict:
    """What a batch job needs of an image: {split, stem, image, zones, front,
    bbox}, the image's path canonical as discovery gives it."""
    files = _files(str(data_dir), split)
    return {"split": split, "stem": stem} | {name: f"{d}{stem}{s}" for name, d, s in files}


def members(path: str | os.PathLike, batch: str, data_dir: str | os.PathLike) -> list[dict]:
    """The members of `batch` in the manifest at `path`, in key order."""
    keys = sorted(key for key, (name, _) in read(path).items() if name == batch)
    return [member(data_dir, split, stem) for split, stem in keys]
