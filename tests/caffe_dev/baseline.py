"""The article's approach, as the benchmark's baseline (not part of the workflow).

The Voxel51 article that introduced CaFFe loads it with a few lines of
FiftyOne: one sample per SAR PNG with the fields parsed from its name, the
zone and front masks attached inline in an autosave loop, then thumbnails via
``transform_images``. Reproduced here from that description, deliberately
without the workflow's optimisations:

    python -m caffe_dev.baseline --data-dir DATA_RAW --dataset NAME \
        --thumbnails-dir DIR [--timings timings.json]

Run it with FiftyOne pointed at a private database (the benchmark does).
"""

from __future__ import annotations

import argparse
import datetime
import glob
import json
import os
import sys
import time


def parse_fields(filepath: str) -> dict:
    """Fields from ``sar_images/<split>/<glacier>_<date>_<sat>_<res>_<q>_<orbit>[_<mod>].png``."""
    split = os.path.basename(os.path.dirname(filepath))
    stem = os.path.splitext(os.path.basename(filepath))[0]
    parts = stem.split("_")
    return {
        "split": split,
        "stem": stem,
        "glacier": parts[0],
        "date_taken": datetime.datetime.strptime(parts[1], "%Y-%m-%d").date(),
        "satellite": parts[2],
        "spatial_resolution": int(parts[3]),
        "quality_factor": int(parts[4]),
        "orbit": parts[5],
        "modality": parts[6] if len(parts) > 6 else None,
    }


def build(data_dir: str, dataset_name: str, thumbnails_dir: str) -> dict:
    """Build the dataset the article's way; returns seconds per step."""
    import fiftyone as fo
    import fiftyone.utils.image as foui
    import numpy as np
    from PIL import Image

    timings = {}
    t = time.perf_counter()
    dataset = fo.Dataset(dataset_name, persistent=True)
    samples = []
    for filepath in sorted(glob.glob(os.path.join(data_dir, "sar_images", "*", "*.png"))):
        fields = parse_fields(filepath)
        split = fields.pop("split")
        samples.append(fo.Sample(filepath=filepath, tags=[split], split=split, **fields))
    dataset.add_samples(samples)
    # Let the list go (a notebook would keep it): the added samples are the
    # dataset's in-memory singletons, so iter_samples below would hand back
    # these same objects and every mask attached to them would stay in
    # memory (at the full data set, more than a workstation has).
    del samples
    timings["add_samples_s"] = time.perf_counter() - t

    t = time.perf_counter()
    for sample in dataset.iter_samples(autosave=True):
        split, stem = sample["split"], sample["stem"]
        zones = os.path.join(data_dir, "zones", split, f"{stem}_zones.png")
        front = os.path.join(data_dir, "fronts", split, f"{stem}_front.png")
        sample["zones"] = fo.Segmentation(mask=np.array(Image.open(zones)))
        # As in the article: 0/255 -> 0/1, which makes a float64 array.
        sample["front"] = fo.Segmentation(mask=np.array(Image.open(front)) / 255)
    timings["masks_s"] = time.perf_counter() - t

    t = time.perf_counter()
    foui.transform_images(
        dataset,
        size=(-1, 256),
        output_field="thumbnail_path",
        output_dir=thumbnails_dir,
    )
    dataset.app_config.media_fields = ["filepath", "thumbnail_path"]
    dataset.app_config.grid_media_field = "thumbnail_path"
    dataset.save()
    timings["thumbnails_s"] = time.perf_counter() - t
    timings["samples"] = len(dataset)
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True, help="CaFFe data_raw/ folder")
    parser.add_argument("--dataset", required=True, help="FiftyOne dataset name")
    parser.add_argument("--thumbnails-dir", required=True)
    parser.add_argument("--timings", help="write the per-step seconds here (JSON)")
    args = parser.parse_args(argv)
    t = time.perf_counter()
    import fiftyone  # noqa: F401  (timed separately: seconds on its own)

    import_s = time.perf_counter() - t
    timings = {"import_fiftyone_s": import_s}
    timings |= build(args.data_dir, args.dataset, args.thumbnails_dir)
    print(json.dumps(timings), file=sys.stderr)
    if args.timings:
        with open(args.timings, "w") as f:
            json.dump(timings, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
