"""The prediction benchmark (caffe_dev.bench_inference) on a tiny image: its
methods (batched tiling, one patch per call, the official per-patch loop and
merge) give identical masks; timings are not checked."""

import numpy as np
import pytest

from caffe_dev.bench_inference import TIE, run_benchmark, score_gaps, table


@pytest.mark.parametrize("kind", ["zones", "fronts"])
def test_methods_give_identical_predictions(tmp_path, kind):
    # Patches of 64 (overlap 32): the official merge loops over a patch's
    # pixel offsets, 16 times fewer than at 256.
    result = run_benchmark(
        height=150,
        width=170,
        kind=kind,
        channels=4,
        repeat=1,
        out=tmp_path,
        patch_size=64,
        overlap=32,
    )
    assert set(result["methods"]) == {"batched", "batch_1", "official_loop"}
    assert result["pixels_differing_from_batched"] == {
        "batched": 0,
        "batch_1": 0,
        "official_loop": 0,
    }
    assert result["masks_equal"] is True
    assert result["masks_equal_but_ties"] is True and result["tie_pixels"] == 0
    assert result["pixels"] == 150 * 170
    for figures in result["methods"].values():
        assert figures["patches"] == 20  # 160 x 192 padded: 4 x 5 patches of 64, stride 32
        assert figures["peak_rss_mb"] > 0 and figures["predict_s"] > 0
    batched = result["methods"]["batched"]["predict_s"]
    assert result["ratios"] == {
        "batch_1/batched": result["methods"]["batch_1"]["predict_s"] / batched,
        "official_loop/batched": result["methods"]["official_loop"]["predict_s"] / batched,
    }
    cpu = result["methods"]["batched"]["cpu_s"]
    assert result["cpu_ratios"] == {
        "batch_1/batched": result["methods"]["batch_1"]["cpu_s"] / cpu,
        "official_loop/batched": result["methods"]["official_loop"]["cpu_s"] / cpu,
    }
    text = table(result)
    assert "official_loop" in text and "masks equal" in text


def test_score_gaps_measure_how_close_a_pixel_is_to_ranking_the_other_way():
    scores = np.zeros((4, 2, 3), dtype=np.float32)
    scores[:, 0, 0] = [0.1, 0.5, 0.5, 0.2]  # two classes tie
    scores[:, 1, 2] = [0.9, 0.2, 0.1, 0.3]
    assert score_gaps(scores, "zones", 0.12, [0, 1], [0, 2]) == pytest.approx([0.0, 0.6])
    front = np.full((1, 2, 2), 0.12 + TIE / 2, dtype=np.float64)
    (gap,) = score_gaps(front, "fronts", 0.12, [1], [1])
    assert gap <= TIE
