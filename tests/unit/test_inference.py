"""Tests for caffe_workflow.inference: real ONNX networks (tests/caffe_dev/onnx_nets.py)
run on generated images, against what the same network gives computed with
SciPy, independently of the module's tiling code."""

import json
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image

from caffe_dev.onnx_nets import (
    FRONT_BIASES,
    FRONT_WEIGHTS,
    ZONE_BIASES,
    ZONE_WEIGHTS,
    conv_net,
    fronts_net,
    reference_scores,
    zones_net,
)
from caffe_workflow.inference import onnx_model, patches
from caffe_workflow.inference.check import precheck
from caffe_workflow.inference.command_model import command_line, run_command
from caffe_workflow.inference.predict import predict, predict_onnx
from caffe_workflow.inference.spec import (
    ModelError,
    TilingOptions,
    parse_config,
    parse_model,
)
from caffe_workflow.predictions import find_predictions

OFFICIAL = TilingOptions()


def sar_like(height, width, seed=0):
    """A uint8 image with structure (smooth ramps, bright blocks, a no-data
    corner of zeros) and speckle noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    img = 90 + 60 * np.sin(xx / 37.0) + 40 * np.cos(yy / 23.0)
    img[height // 3 : height // 2, width // 4 : width // 2] = 230
    img = img + rng.normal(0, 25, size=img.shape)
    img[: height // 6, : width // 7] = 0
    return np.clip(img, 0, 255).astype(np.uint8)


def closed_form_gaussian(p, sigma_scale=1 / 8):
    """exp(-d^2 / 2 sigma^2), 1 at (p // 2, p // 2); no truncation for the
    sizes used here (every pixel of the patch is within 4 sigma)."""
    c, sigma = p // 2, p * sigma_scale
    i = np.arange(p) - c
    return np.exp(-(i[:, None] ** 2 + i[None, :] ** 2) / (2 * sigma**2))


def padded_size(size, p, stride):
    """The official padded size, written as: the first P + k * stride above `size`."""
    if size < p:
        return p
    return p + stride * ((size - p) // stride + 1)


def expected_scores(image, weights, biases, options, sigmoid_in_net=False):
    """The merged scores computed directly: pad, scale, run the network
    (SciPy) on every patch, apply the activation, weight, average. float64."""
    h, w = image.shape
    p, s = options.patch_size, options.patch_size - options.overlap
    hp, wp = padded_size(h, p, s), padded_size(w, p, s)
    padded = np.full((hp, wp), options.pad_value, dtype=np.float64)
    padded[:h, :w] = image
    x = (padded / 255.0 - options.mean) / options.std
    g = closed_form_gaussian(p) if options.weighting == "gaussian" else np.ones((p, p))
    total = np.zeros((len(weights), hp, wp))
    wsum = np.zeros((hp, wp))
    for r in range(0, hp - p + 1, s):
        for c in range(0, wp - p + 1, s):
            out = reference_scores(x[r : r + p, c : c + p], weights, biases, sigmoid=sigmoid_in_net)
            if options.activation == "sigmoid":
                out = 1 / (1 + np.exp(-out))
            total[:, r : r + p, c : c + p] += out * g
            wsum[r : r + p, c : c + p] += g
    return (total / wsum)[:, :h, :w], x


def whole_image_scores(x, weights, biases, shape):
    """The network run once on the whole padded image (no patches)."""
    out = 1 / (1 + np.exp(-reference_scores(x, weights, biases)))
    return out[:, : shape[0], : shape[1]]


def interior_mask(shape, options, radius=1):
    """Pixels at least `radius` away from the border of every patch that
    covers them: there a patch sees what the whole image sees."""
    h, w = shape
    p, s = options.patch_size, options.stride
    hp, wp = padded_size(h, p, s), padded_size(w, p, s)

    def axis_ok(n, padded):
        ok = np.ones(n, bool)
        for start in range(0, padded - p + 1, s):
            idx = np.arange(start, start + p)
            edge = (idx - start < radius) | (start + p - 1 - idx < radius)
            keep = idx < n
            ok[idx[keep & edge]] = False
        return ok

    return axis_ok(h, hp)[:, None] & axis_ok(w, wp)[None, :]


@pytest.fixture
def spec_of(tmp_path):
    def make(kind, net=None, **options):
        path = net or (zones_net if kind == "zones" else fronts_net)(tmp_path / f"{kind}.onnx")
        return parse_model("test_model", {"onnx": str(path), "kind": kind, "options": options})

    return make


# ------------------------------------------------------------ conventions


def test_official_defaults():
    o = TilingOptions()
    assert (o.patch_size, o.overlap, o.stride, o.pad_value) == (256, 128, 128, 0)
    assert (o.activation, o.weighting, o.sigma_scale, o.threshold) == (
        "sigmoid",
        "gaussian",
        1 / 8,
        0.12,
    )
    assert (o.mean, o.std) == (0.3047126829624176, 0.32187142968177795)


@pytest.mark.parametrize(
    "size, pad",
    [
        (3143, 57),  # JAC height: (3143 - 256) % 128 = 71, 128 - 71
        (2639, 49),  # JAC width: (2639 - 256) % 128 = 79
        (384, 128),  # fits exactly: the official rule still adds a whole stride
        (385, 127),
        (100, 156),  # shorter than a patch: padded to one patch
    ],
)
def test_pad_amounts_official_rule(size, pad):
    assert patches.pad_amounts(size, size, 256, 128) == (pad, pad)


def test_pad_amounts_without_overlap():
    assert patches.pad_amounts(512, 300, 256, 0) == (0, 212)


@pytest.mark.parametrize("p", [256, 64])
def test_gaussian_weights_closed_form(p):
    got = patches.gaussian_weights(p, 1 / 8)
    assert got.dtype == np.float32 and got.max() == 1.0
    np.testing.assert_allclose(got, closed_form_gaussian(p), rtol=1e-5, atol=1e-12)


def test_bad_options_are_one_line(tmp_path):
    path = zones_net(tmp_path / "z.onnx")
    for options, word in [
        ({"overlap": 256}, "overlap"),
        ({"batch_size": 0}, "batch_size"),
        ({"weighting": "median"}, "weighting"),
        ({"stride": 3}, "unknown option"),
    ]:
        with pytest.raises(ModelError) as err:
            parse_model("m1", {"onnx": str(path), "kind": "zones", "options": options})
        assert (
            "\n" not in str(err.value) and "model m1" in str(err.value) and word in str(err.value)
        )


@pytest.mark.parametrize(
    "entry, words",
    [
        ({"kind": "zones"}, "exactly one of onnx"),
        (
            {"onnx": "/x.onnx", "command": "c {input_dir} {output_dir}", "kind": "zones"},
            "exactly one",
        ),
        (
            {"command": "c {input_dir} {output_dir}", "kind": "front"},
            "kind must be zones or fronts",
        ),
        ({"command": "predict -i {input_dir}", "kind": "zones"}, "{output_dir}"),
        ({"onnx": "/no/such/model.onnx", "kind": "zones"}, "ONNX file does not exist: /no/such"),
        ({"command": "c {input_dir} {output_dir}", "kind": "zones", "gpu": 1}, "unknown key"),
    ],
)
def test_bad_entries_are_one_line(entry, words):
    with pytest.raises(ModelError) as err:
        parse_config({"my_model": entry})
    assert "\n" not in str(err.value) and "model my_model" in str(err.value)
    assert words in str(err.value)


def test_fingerprint_follows_the_model_file(tmp_path):
    path = tmp_path / "z.onnx"
    zones_net(path)
    spec = parse_model("m", {"onnx": str(path), "kind": "zones"})
    before = spec.fingerprint()
    assert before == spec.fingerprint()
    zones_net(path, kernel=5)
    after = spec.fingerprint()
    assert after["onnx_sha256"] != before["onnx_sha256"]
    wider = parse_model("m", {"onnx": str(path), "kind": "zones", "options": {"overlap": 64}})
    assert wider.fingerprint()["options"]["overlap"] == 64 != after["options"]["overlap"]


# ------------------------------------------------------- tiling and merge


def numpy_net(weights, biases, kernel=3):
    """The test network as a NumPy callable for the tiling code."""

    def run(x):
        return np.stack([reference_scores(xi[0], weights, biases, kernel) for xi in x]).astype(
            np.float32
        )

    return run


def test_merge_is_the_weighted_average_of_patches():
    """Every pixel's score is the Gaussian-weighted mean of the scores of the
    patches covering it: computed here patch by patch, independently."""
    image = sar_like(300, 420)
    got = patches.merged_scores(image, numpy_net(ZONE_WEIGHTS, ZONE_BIASES), OFFICIAL)
    want, _ = expected_scores(image, ZONE_WEIGHTS, ZONE_BIASES, OFFICIAL)
    assert got.shape == (4, 300, 420) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-6)


def test_uniform_weighting_is_the_plain_mean():
    options = TilingOptions(weighting="uniform", batch_size=3)
    image = sar_like(260, 270, seed=2)
    got = patches.merged_scores(image, numpy_net(ZONE_WEIGHTS, ZONE_BIASES), options)
    want, _ = expected_scores(image, ZONE_WEIGHTS, ZONE_BIASES, options)
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-6)
    # and it differs from the Gaussian merge where patches disagree
    gauss = patches.merged_scores(image, numpy_net(ZONE_WEIGHTS, ZONE_BIASES), OFFICIAL)
    assert np.abs(gauss - got).max() > 1e-3


def test_patches_equal_a_whole_image_run_where_the_receptive_field_allows():
    """Away from patch borders (the 3 x 3 filter's reach) the merged scores are
    those of one run of the network on the whole padded image; at the borders,
    the zero padding of each patch makes them differ, and the merge averages."""
    image = sar_like(400, 530, seed=3)
    got = patches.merged_scores(image, numpy_net(ZONE_WEIGHTS, ZONE_BIASES), OFFICIAL)
    _, x = expected_scores(image, ZONE_WEIGHTS, ZONE_BIASES, OFFICIAL)
    whole = whole_image_scores(x, ZONE_WEIGHTS, ZONE_BIASES, image.shape)
    inside = interior_mask(image.shape, OFFICIAL, radius=1)
    assert inside.mean() > 0.95
    np.testing.assert_allclose(got[:, inside], whole[:, inside], rtol=0, atol=2e-6)
    # At patch borders they differ, little: the Gaussian gives a patch's own
    # border exp(-8) of its centre's weight (far above float noise, 2e-6).
    assert np.abs(got[:, ~inside] - whole[:, ~inside]).max() > 2e-5


def test_a_pointwise_network_equals_the_whole_image_run_everywhere():
    image = sar_like(333, 287, seed=4)
    run = numpy_net(ZONE_WEIGHTS, ZONE_BIASES, kernel=1)
    got = patches.merged_scores(image, run, OFFICIAL)
    x = (image / 255.0 - OFFICIAL.mean) / OFFICIAL.std
    want = 1 / (1 + np.exp(-reference_scores(x, ZONE_WEIGHTS, ZONE_BIASES, kernel=1)))
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-6)


def test_batch_size_does_not_change_scores():
    image = sar_like(280, 300, seed=5)
    run = numpy_net(ZONE_WEIGHTS, ZONE_BIASES)
    one = patches.merged_scores(image, run, TilingOptions(batch_size=1))
    many = patches.merged_scores(image, run, TilingOptions(batch_size=7))
    np.testing.assert_array_equal(one, many)


def test_small_image_and_no_overlap():
    options = TilingOptions(overlap=0)
    image = sar_like(120, 200, seed=6)
    got = patches.merged_scores(image, numpy_net(ZONE_WEIGHTS, ZONE_BIASES), options)
    padded = np.zeros((256, 256))
    padded[:120, :200] = image
    x = (padded / 255.0 - options.mean) / options.std
    np.testing.assert_allclose(
        got, whole_image_scores(x, ZONE_WEIGHTS, ZONE_BIASES, image.shape), atol=2e-6
    )


# ---------------------------------------------------------- ONNX models


def zone_mask_of(scores):
    return np.array([0, 64, 127, 254], np.uint8)[np.argmax(scores, axis=0)]


def test_onnx_zones_pixel_for_pixel(tmp_path, spec_of):
    spec = spec_of("zones")
    images = {
        f"COL_2011-06-18_TDX_7_1_02{i}": sar_like(310 + 40 * i, 450 - 30 * i, seed=i)
        for i in range(2)
    }
    paths = []
    for stem, img in images.items():
        paths.append(tmp_path / "in" / f"{stem}.png")
        paths[-1].parent.mkdir(exist_ok=True)
        Image.fromarray(img).save(paths[-1])
    run = predict_onnx(spec, paths, tmp_path / "out", threads=1)
    assert run.problems == [] and sorted(run.written) == sorted(images)
    for stem, img in images.items():
        got = np.asarray(Image.open(tmp_path / "out" / f"{stem}_zones.png"))
        want, _ = expected_scores(img, ZONE_WEIGHTS, ZONE_BIASES, OFFICIAL)
        np.testing.assert_array_equal(got, zone_mask_of(want))
        assert set(np.unique(got)) == {0, 64, 127, 254}  # every class appears


@pytest.mark.parametrize("sigmoid_in_net", [False, True])
def test_onnx_fronts_pixel_for_pixel(tmp_path, spec_of, sigmoid_in_net):
    """A front network giving logits (the official case, activation sigmoid)
    and one with a Sigmoid node of its own (activation none): the same mask."""
    net = fronts_net(tmp_path / "f.onnx", sigmoid=sigmoid_in_net)
    spec = spec_of("fronts", net=net, activation="none" if sigmoid_in_net else "sigmoid")
    img = sar_like(390, 280, seed=7)
    Image.fromarray(img).save(tmp_path / "JAC_2009-04-16_TSX_6_1_005.png")
    predict_onnx(spec, [tmp_path / "JAC_2009-04-16_TSX_6_1_005.png"], tmp_path / "out")
    got = np.asarray(Image.open(tmp_path / "out" / "JAC_2009-04-16_TSX_6_1_005_front.png"))
    logits_opts = TilingOptions()  # the expected side always applies the sigmoid itself
    want, _ = expected_scores(img, FRONT_WEIGHTS, FRONT_BIASES, logits_opts)
    mask = np.where(want[0] > 0.12, 255, 0).astype(np.uint8)
    np.testing.assert_array_equal(got, mask)
    assert 0.05 < (got == 255).mean() < 0.95


@pytest.mark.parametrize("batch", [1, 4])
def test_fixed_batch_dimension(tmp_path, spec_of, batch):
    """A model exported with a fixed batch (no dynamic axes) runs in batches
    of that size, the last one filled up; same scores as a dynamic one."""
    fixed = spec_of(
        "zones", net=zones_net(tmp_path / "fixed.onnx", batch=batch, height=256, width=256)
    )
    dynamic = spec_of("zones")
    a, b = onnx_model.load(fixed, threads=1), onnx_model.load(dynamic, threads=1)
    assert a.fixed_batch == batch and b.fixed_batch is None
    image = sar_like(300, 500, seed=8)  # 2 x 3 patches: 6 is not a multiple of 4
    np.testing.assert_array_equal(
        patches.merged_scores(image, a.run_batch, OFFICIAL),
        patches.merged_scores(image, b.run_batch, OFFICIAL),
    )


def test_provider_choice():
    assert onnx_model.choose_providers(["AzureExecutionProvider", "CPUExecutionProvider"]) == [
        "CPUExecutionProvider"
    ]
    assert onnx_model.choose_providers(["CUDAExecutionProvider", "CPUExecutionProvider"]) == [
        "CUDAExecutionProvider",
        "CPUExecutionProvider",
    ]


def test_the_provider_used_is_reported(spec_of):
    model = onnx_model.load(spec_of("zones"), threads=1)
    if "CUDAExecutionProvider" in ort.get_available_providers():
        assert model.provider in ("CUDAExecutionProvider", "CPUExecutionProvider")
    else:  # this machine: the CPU build
        assert model.provider == "CPUExecutionProvider"


def load_error(spec):
    with pytest.raises(ModelError) as err:
        onnx_model.load(spec, threads=1)
    message = str(err.value)
    assert "\n" not in message and message.startswith("model test_model: ")
    return message


def test_missing_file(tmp_path, spec_of):
    spec = spec_of("zones")
    Path(spec.onnx).unlink()
    assert "ONNX file does not exist" in load_error(spec)


def test_corrupt_file(tmp_path, spec_of):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"\x08\x07not really a protobuf" * 50)
    assert "onnxruntime cannot load" in load_error(spec_of("zones", net=bad))


def test_wrong_input_channels(tmp_path, spec_of):
    net = zones_net(tmp_path / "rgb.onnx", in_channels=3)
    assert "expected [N, 1, H, W]" in load_error(spec_of("zones", net=net))


def test_wrong_input_size(tmp_path, spec_of):
    net = zones_net(tmp_path / "small.onnx", height=128, width=128)
    message = load_error(spec_of("zones", net=net))
    assert "height 128" in message and "256 x 256" in message


def test_fixed_input_size_matching_a_patch_size_option(tmp_path, spec_of):
    net = zones_net(tmp_path / "small.onnx", height=128, width=128)
    model = onnx_model.load(spec_of("zones", net=net, patch_size=128, overlap=64), threads=1)
    assert model.run_batch(np.zeros((3, 1, 128, 128), np.float32)).shape == (3, 4, 128, 128)


@pytest.mark.parametrize("kind, net_kind", [("zones", "fronts"), ("fronts", "zones")])
def test_wrong_output_channels(tmp_path, spec_of, kind, net_kind):
    net = (zones_net if net_kind == "zones" else fronts_net)(tmp_path / "other.onnx")
    assert f"for kind {kind}" in load_error(spec_of(kind, net=net))


def test_output_size_checked_on_a_probe_batch(tmp_path, spec_of):
    """Dynamic output sizes pass the static check; the probe run shows the
    network halves the patch."""
    net = conv_net(tmp_path / "strided.onnx", ZONE_WEIGHTS, ZONE_BIASES, stride=2)
    message = load_error(spec_of("zones", net=net))
    assert "gave scores of shape [1, 4, 128, 128]" in message


def test_unreadable_image_is_one_line_and_the_rest_goes_on(tmp_path, spec_of):
    good = tmp_path / "Crane_2002-11-09_ERS_20_2_061.png"
    Image.fromarray(sar_like(260, 260)).save(good)
    bad = tmp_path / "Crane_2007-03-31_ENVISAT_20_3_467.png"
    bad.write_bytes(b"not a png")
    run = predict_onnx(spec_of("zones"), [bad, good], tmp_path / "out", threads=1)
    assert list(run.written) == ["Crane_2002-11-09_ERS_20_2_061"]
    assert len(run.problems) == 1 and str(bad) in run.problems[0] and "\n" not in run.problems[0]
    assert not (tmp_path / "out" / "Crane_2007-03-31_ENVISAT_20_3_467_zones.png").exists()


# ------------------------------------------------------- command models

FAKE_MODEL = textwrap.dedent(
    """
    import os, sys
    import numpy as np
    from PIL import Image
    src, dst = sys.argv[1], sys.argv[2]
    with open(os.path.join(dst, "inputs.txt"), "w") as f:
        for name in sorted(os.listdir(src)):
            f.write(name + " " + str(os.path.islink(os.path.join(src, name))) + "\\n")
            img = np.asarray(Image.open(os.path.join(src, name)))
            zones = np.where(img > 128, 254, 127).astype(np.uint8)
            Image.fromarray(zones).save(os.path.join(dst, name[:-4] + "_zones.png"))
    """
)


def test_command_model_runs_on_links(tmp_path):
    script = tmp_path / "fake_model.py"
    script.write_text(FAKE_MODEL)
    spec = parse_model(
        "my_nnunet",
        {"command": f"{sys.executable} {script} {{input_dir}} {{output_dir}}", "kind": "zones"},
    )
    stems = ["DBE_2004-03-03_ENVISAT_20_3_424", "DBE_2004-03-03_ERS_20_3_424"]
    images = []
    for i, stem in enumerate(stems):
        images.append(tmp_path / "data" / f"{stem}.png")
        images[-1].parent.mkdir(exist_ok=True)
        Image.fromarray(sar_like(64, 80, seed=i)).save(images[-1])
    out = run_command(spec, images, tmp_path / "models" / "my_nnunet", log=tmp_path / "cmd.log")
    assert (out / "inputs.txt").read_text().split("\n")[:2] == [f"{s}.png True" for s in stems]
    found = find_predictions("my_nnunet", out)
    assert found.kind == "zones" and sorted(found.files) == stems
    got = np.asarray(Image.open(found.files[stems[0]]))
    np.testing.assert_array_equal(got, np.where(sar_like(64, 80, seed=0) > 128, 254, 127))
    assert "$ " in (tmp_path / "cmd.log").read_text()


def test_failing_command_is_one_line(tmp_path):
    fail = "import sys; sys.stderr.write('loading weights\\nCUDA out of memory\\n'); sys.exit(3)"
    spec = parse_model(
        "my_nnunet",
        {"command": f'{sys.executable} -c "{fail}" {{input_dir}} {{output_dir}}', "kind": "zones"},
    )
    img = tmp_path / "a.png"
    Image.fromarray(sar_like(10, 10)).save(img)
    with pytest.raises(ModelError) as err:
        run_command(spec, [img], tmp_path / "out", log=tmp_path / "cmd.log")
    assert str(err.value) == "model my_nnunet: command exited with code 3: CUDA out of memory"
    assert "loading weights" in (tmp_path / "cmd.log").read_text()


def test_missing_program_is_one_line(tmp_path):
    spec = parse_model(
        "m", {"command": "no_such_predictor_xyz {input_dir} {output_dir}", "kind": "fronts"}
    )
    with pytest.raises(ModelError) as err:
        run_command(spec, [], tmp_path / "out")
    assert str(err.value).startswith("model m: command exited with code 127: ")
    assert "no_such_predictor_xyz" in str(err.value)


def test_command_line_quotes_and_keeps_other_braces():
    line = command_line("awk '{print}' {input_dir} > {output_dir}/x", "/tmp/in put", "/o")
    assert line == "awk '{print}' '/tmp/in put' > /o/x"


def test_command_outputs_end_as_the_same_files(tmp_path):
    """predict() on a command model: what the command wrote (here in a
    subfolder) is copied to <stem>_zones.png; an image it skipped is one line."""
    script = tmp_path / "nested_model.py"
    script.write_text(
        textwrap.dedent(
            """
            import os, sys
            from PIL import Image
            src, dst = sys.argv[1], sys.argv[2]
            os.makedirs(os.path.join(dst, "deep"))
            for name in sorted(os.listdir(src))[:1]:
                img = Image.open(os.path.join(src, name)).point(lambda v: 254 if v > 128 else 64)
                img.save(os.path.join(dst, "deep", name[:-4] + "_zones.png"))
            """
        )
    )
    spec = parse_model(
        "nested",
        {"command": f"{sys.executable} {script} {{input_dir}} {{output_dir}}", "kind": "zones"},
    )
    images = []
    for i, stem in enumerate(["SI_1995-11-13_ERS_20_3_109", "SI_2003-12-05_ENVISAT_20_4_152"]):
        images.append(tmp_path / f"{stem}.png")
        Image.fromarray(sar_like(40, 50, seed=i)).save(images[-1])
    out = tmp_path / "results" / "models" / "nested"
    run = predict(spec, images, out)
    assert run.provider == "command" and list(run.written) == ["SI_1995-11-13_ERS_20_3_109"]
    assert sorted(p.name for p in out.iterdir()) == ["SI_1995-11-13_ERS_20_3_109_zones.png"]
    got = np.asarray(Image.open(out / "SI_1995-11-13_ERS_20_3_109_zones.png"))
    np.testing.assert_array_equal(got, np.where(sar_like(40, 50, seed=0) > 128, 254, 64))
    assert run.problems == [
        "model nested: its command wrote no SI_2003-12-05_ENVISAT_20_4_152_zones.png "
        f"for image {images[1]}"
    ]
    assert [p.name for p in out.parent.iterdir()] == ["nested"]  # the temporary folder is gone


def test_command_writing_the_wrong_kind(tmp_path):
    spec = parse_model(
        "wrong",
        {
            "command": f"{sys.executable} -c "
            "\"import sys; open(sys.argv[2] + '/a_front.png', 'wb')\" {input_dir} {output_dir}",
            "kind": "zones",
        },
    )
    with pytest.raises(ModelError) as err:
        predict(spec, [], tmp_path / "out")
    assert (
        str(err.value)
        == "model wrong: its command wrote front files, but the model's kind is zones"
    )


def test_precheck_loads_each_model_once(tmp_path):
    good = zones_net(tmp_path / "good.onnx")
    specs = parse_config({"good": {"onnx": good, "kind": "zones"}})
    record = tmp_path / "results" / "models_checked.json"
    assert precheck(specs, record) == {"good": "CPUExecutionProvider"}
    assert precheck(specs, record) == {}  # nothing changed: no subprocess
    zones_net(tmp_path / "good.onnx", kernel=5)  # a new model file: checked again
    assert precheck(parse_config({"good": {"onnx": good, "kind": "zones"}}), record) == {
        "good": "CPUExecutionProvider"
    }


def test_precheck_stops_with_one_line(tmp_path):
    bad = fronts_net(tmp_path / "front.onnx")
    specs = parse_config({"zones_model": {"onnx": bad, "kind": "zones"}})
    with pytest.raises(SystemExit) as stop:
        precheck(specs, tmp_path / "models_checked.json")
    message = str(stop.value.code)
    assert message.startswith("Error: model zones_model: output logits has shape")
    assert "\n" not in message and not (tmp_path / "models_checked.json").exists()


def test_run_job_writes_masks_and_a_manifest(tmp_path):
    from caffe_workflow.inference.job import run_job

    net = zones_net(tmp_path / "z.onnx")
    good = tmp_path / "Mapple_2008-10-13_TSX_7_2_034.png"
    Image.fromarray(sar_like(300, 270)).save(good)
    bad = tmp_path / "Mapple_2016-07-03_S1_20_2_009.png"
    bad.write_bytes(b"")
    out = tmp_path / "results" / "caffe" / "models" / "baseline_zones"
    record = run_job(
        "baseline_zones",
        {"onnx": net, "kind": "zones"},
        [good, bad],
        out,
        out / "manifest.json",
        threads=1,
    )
    assert record == json.loads((out / "manifest.json").read_text())
    assert record["provider"] == "CPUExecutionProvider"
    assert record["written"] == {good.stem: str(out / f"{good.stem}_zones.png")}
    assert len(record["problems"]) == 1 and str(bad) in record["problems"][0]
    assert len(record["fingerprint"]["onnx_sha256"]) == 64
