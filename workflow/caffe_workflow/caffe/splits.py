"""The official CaFFe splits: train, val and test.

The benchmark's folders hold two splits, train (559 images) and test (122).
The official baseline trains on 503 of the training images and validates on
the other 56 (data/official_val_split.txt, where it says how they were
chosen). ``official_split`` gives every image one of the three: an image of
the test folder is test, one of the 56 in the train folder val, any other
its folder's split (an image that is not one of CaFFe's 681 too).
"""

from __future__ import annotations

import functools
import importlib.resources

COLUMN = "official_split"
VAL_VIEW = "val"
FIELD_DESCRIPTION = (
    "Official split: train (the 503 images the baseline trains on), val (the 56 it "
    "validates on) or test"
)
VIEW_DESCRIPTION = "Official validation split: the 56 training images the baseline validates on"


@functools.cache
def val_stems() -> frozenset[str]:
    """The 56 stems of the official validation split."""
    text = (
        importlib.resources.files("caffe_workflow")
        .joinpath("data", "official_val_split.txt")
        .read_text()
    )
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def official_split(split: str, stem: str) -> str:
    """train, val or test for an image of folder split `split`."""
    if split == "train" and stem in val_stems():
        return "val"
    return split


def official_split_view(dataset):
    """The samples of the official validation split (the saved view `val`)."""
    from fiftyone import ViewField as F

    return dataset.match(F(COLUMN) == "val")
