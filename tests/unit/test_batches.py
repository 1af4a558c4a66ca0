"""caffe_workflow.batches: batches sized by bytes, members fixed once assigned."""

from caffe_workflow import batches
from caffe_workflow.caffe.layout import image_paths

MB = 1_000_000


def keys(n, split="train"):
    return {(split, f"img{i:03d}"): 400 * 1000 for i in range(n)}  # 0.4 MB each


def test_first_assignment_fills_batches_to_the_budget():
    got = batches.assign(keys(7), {}, budget=1 * MB)
    # 0.4 + 0.4 + 0.4 reaches 1 MB with the third image; then a new batch.
    names = [got[k][0] for k in sorted(got)]
    assert names == ["b0000"] * 3 + ["b0001"] * 3 + ["b0002"]


def test_new_images_join_the_last_batch_and_never_move_the_others():
    first = batches.assign(keys(7), {}, budget=1 * MB)
    more = keys(9)
    again = batches.assign(more, first, budget=1 * MB)
    assert all(again[k] == first[k] for k in first)
    assert [again[k][0] for k in sorted(set(more) - set(first))] == ["b0002", "b0002"]


def test_gone_images_leave_their_batch_and_names_are_not_reused_while_used():
    first = batches.assign(keys(7), {}, budget=1 * MB)
    fewer = {k: v for k, v in keys(7).items() if k[1] not in ("img000", "img006")}
    again = batches.assign(fewer, first, budget=1 * MB)
    assert set(again) == set(fewer) and all(again[k] == first[k] for k in fewer)
    # b0002 lost its only image: a new image opens b0002 again as the last batch.
    newer = fewer | {("test", "new"): 100}
    assert batches.assign(newer, again, budget=1 * MB)[("test", "new")][0] == "b0002"


def test_manifest_round_trip_and_grouping(tmp_path):
    path = tmp_path / "results" / "batches.tsv"
    assert batches.read(path) == {}  # no manifest yet
    first = batches.assign(keys(4), {}, budget=1 * MB)
    batches.write(path, first)
    assert batches.read(path) == first
    assert path.read_bytes() == batches.render(first)
    assert batches.group(first) == {"b0000": sorted(keys(3)), "b0001": [("train", "img003")]}
    # The next start assigns from the manifest: the same batches, the new image last.
    again = batches.assign(keys(5), batches.read(path), budget=1 * MB)
    assert batches.group(again)["b0001"] == [("train", "img003"), ("train", "img004")]
    assert batches.render(again) != batches.render(first)


def test_small_images_are_also_limited_by_count():
    tiny = {("train", f"t{i:03d}"): 10 for i in range(7)}
    got = batches.assign(tiny, {}, budget=1 * MB, max_images=3)
    assert [got[k][0] for k in sorted(got)] == ["b0000"] * 3 + ["b0001"] * 3 + ["b0002"]


def test_member_paths_are_the_layout_with_the_image_folder_canonical(tmp_path):
    real = tmp_path / "real" / "data_raw"
    (real / "sar_images" / "test").mkdir(parents=True)
    link = tmp_path / "link"
    link.symlink_to(real)
    stem = "COL_2011-01-05_TDX_7_1_083"
    got = batches.member(link, "test", stem)
    expected = {k: str(v) for k, v in image_paths(link, "test", stem).items()}
    assert got == {
        "split": "test",
        "stem": stem,
        "image": str(real / "sar_images" / "test" / f"{stem}.png"),
        "zones": expected["zones"],
        "front": expected["front"],
        "bbox": expected["bbox"],
    }
    assert list(got) == ["split", "stem", "image", "zones", "front", "bbox"]


def test_per_batch_manifests_read_together_and_the_old_single_one(tmp_path):
    first = batches.assign(keys(4), {}, budget=1 * MB)
    assert batches.read_all(tmp_path) == {}
    batches.write(tmp_path / "batches.tsv", first)  # an earlier version's manifest
    assert batches.read_all(tmp_path) == first
    for name in ("b0000", "b0001"):
        batches.write(tmp_path / "batches" / f"{name}.tsv", batches.only(first, name))
    assert batches.read_all(tmp_path) == first
    assert batches.describe(batches.only(first, "b0001")).startswith("1 images (")
    assert batches.describe(batches.only(first, "b0000")) != batches.describe(
        batches.only(batches.assign(keys(4), {}, budget=2 * MB), "b0000")
    )
