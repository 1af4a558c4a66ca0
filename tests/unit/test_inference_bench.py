"""The prediction benchmark (caffe_dev.bench_inference) on a tiny image: its
methods (batched tiling, one patch per call, the official per-patch loop and
merge) give identical masks; timings are not checked."""

import pytest

from caffe_dev.bench_inference import run_benchmark, table


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
