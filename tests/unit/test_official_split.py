"""The official validation split shipped with the package (caffe/splits.py).

What can be checked here: the official code's rule,
train_test_split(np.arange(559), test_size=0.1, random_state=1) over the
training images sorted by path (data_preprocessing.py), gives 56 indices;
as the sorted names run glacier by glacier (Crane, DBE, JAC, Jorum, SI: the
real per-glacier training counts of CaFFe), the indices fall on the glaciers
exactly as the shipped names do. The names themselves need the 559 real file
names, which are not here.
"""

from __future__ import annotations

import collections
import uuid

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from caffe_workflow.caffe.names import parse_stem
from caffe_workflow.caffe.splits import COLUMN, official_split, official_split_view, val_stems

# CaFFe's training images per glacier, in sorted-path order (str order of the
# names: "Crane" < "DBE" < "JAC" < "Jorum" < "SI").
TRAIN_COUNTS = {"Crane": 69, "DBE": 133, "JAC": 159, "Jorum": 77, "SI": 121}


def test_the_official_rule_gives_the_shipped_glacier_counts():
    assert list(TRAIN_COUNTS) == sorted(TRAIN_COUNTS)
    n = sum(TRAIN_COUNTS.values())
    assert n == 559
    train, val = train_test_split(np.arange(n), test_size=0.1, random_state=1)
    assert (len(train), len(val)) == (503, 56)
    edges = np.cumsum([0, *TRAIN_COUNTS.values()])
    ranges = zip(TRAIN_COUNTS, edges, edges[1:])
    from_rule = {g: int(((val >= lo) & (val < hi)).sum()) for g, lo, hi in ranges}
    shipped = collections.Counter(stem.split("_")[0] for stem in val_stems())
    assert from_rule == dict(shipped) == {"Crane": 8, "DBE": 10, "JAC": 16, "Jorum": 8, "SI": 14}


def test_shipped_names_are_caffe_training_names():
    stems = val_stems()
    assert len(stems) == 56
    for stem in stems:
        name = parse_stem(stem)
        assert not name.problems, (stem, name.problems)
        assert name.glacier in TRAIN_COUNTS  # no test glacier


def test_official_split():
    stem = sorted(val_stems())[0]
    assert official_split("train", stem) == "val"
    assert official_split("train", "Crane_1999-01-01_ERS_20_1_001") == "train"
    assert official_split("test", "COL_2015-12-18_S1_20_1_094") == "test"
    # Not one of CaFFe's 681: its folder's split.
    assert official_split("test", "Mine_2020-01-01_S1_20_1_001") == "test"


@pytest.mark.slow
@pytest.mark.mongod
def test_official_split_view(mongod):
    """The view the ingest saves as `val`: the samples whose field
    official_split (the catalog column) is val."""
    import fiftyone as fo

    dataset = fo.Dataset(f"caffe-test-{uuid.uuid4().hex[:8]}")
    try:
        val = sorted(val_stems())[:2]
        stems = {
            val[0]: "train",
            val[1]: "train",
            "Crane_1999-01-01_ERS_20_1_001": "train",
            "COL_2015-12-18_S1_20_1_094": "test",
        }
        dataset.add_samples(
            [
                fo.Sample(filepath=f"/x/{stem}.png", stem=stem, **{COLUMN: official_split(s, stem)})
                for stem, s in stems.items()
            ]
        )
        assert sorted(official_split_view(dataset).values("stem")) == val
    finally:
        dataset.delete()
