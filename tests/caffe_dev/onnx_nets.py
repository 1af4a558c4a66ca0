"""Small ONNX networks with fixed weights, built with the `onnx` package, and
NumPy references that compute what they give.

The network: a k x k mean filter (zero padding k // 2, so the output has the
input's size), then a 1 x 1 convolution to C channels with the given weights
and biases, optionally a Sigmoid. Its receptive field is k x k, so on a patch
it differs from a whole-image run only within k // 2 pixels of the patch's
border.
"""

from __future__ import annotations

import os

import numpy as np

# Chosen so that each of the four classes wins for some input value: the
# class scores are lines in the filtered value v.
ZONE_WEIGHTS = np.array([-3.0, -1.0, 1.0, 3.0], dtype=np.float32)
ZONE_BIASES = np.array([-1.5, 0.3, 0.4, -0.9], dtype=np.float32)
FRONT_WEIGHTS = np.array([2.5], dtype=np.float32)
FRONT_BIASES = np.array([-1.0], dtype=np.float32)


def conv_net(
    path: str | os.PathLike,
    weights: np.ndarray,
    biases: np.ndarray,
    *,
    kernel: int = 3,
    sigmoid: bool = False,
    in_channels: int = 1,
    batch: int | str = "N",
    height: int | str = "H",
    width: int | str = "W",
    stride: int = 1,
    opset: int = 17,
) -> str:
    """Write the network to `path` and return the path.

    `batch`, `height`, `width`: a fixed size or a symbolic (dynamic) name.
    `in_channels` > 1 sums the channels in the mean filter (for a model with
    the wrong input). `stride` 2 in the mean filter halves the output (for a
    model whose output size does not match its input).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = np.asarray(weights, dtype=np.float32)
    channels = len(weights)
    mean = np.full((1, in_channels, kernel, kernel), 1.0 / (kernel * kernel), dtype=np.float32)
    nodes = [
        helper.make_node(
            "Conv",
            ["image", "mean_w"],
            ["smooth"],
            kernel_shape=[kernel, kernel],
            pads=[kernel // 2] * 4,
            strides=[stride, stride],
        ),
        helper.make_node("Conv", ["smooth", "cls_w", "cls_b"], ["logits"], kernel_shape=[1, 1]),
    ]
    out_name = "logits"
    if sigmoid:
        nodes.append(helper.make_node("Sigmoid", ["logits"], ["probs"]))
        out_name = "probs"
    inits = [
        numpy_helper.from_array(mean, "mean_w"),
        numpy_helper.from_array(weights.reshape(channels, 1, 1, 1), "cls_w"),
        numpy_helper.from_array(np.asarray(biases, dtype=np.float32), "cls_b"),
    ]
    out_h = height if isinstance(height, str) or stride == 1 else height // stride
    out_w = width if isinstance(width, str) or stride == 1 else width // stride
    out_hw = (out_h, out_w) if stride == 1 else ("Ho", "Wo")
    graph = helper.make_graph(
        nodes,
        "caffe_test_net",
        [
            helper.make_tensor_value_info(
                "image", TensorProto.FLOAT, [batch, in_channels, height, width]
            )
        ],
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, [batch, channels, *out_hw])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = min(model.ir_version, 9)  # loadable by older onnxruntime builds too
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return str(path)


def zones_net(path, **kw) -> str:
    return conv_net(path, ZONE_WEIGHTS, ZONE_BIASES, **kw)


def fronts_net(path, **kw) -> str:
    return conv_net(path, FRONT_WEIGHTS, FRONT_BIASES, **kw)


def reference_scores(x: np.ndarray, weights, biases, kernel: int = 3, sigmoid: bool = False):
    """What conv_net gives for a 2-D float input `x`, computed with SciPy:
    [C, H, W] float64."""
    from scipy.ndimage import uniform_filter
    from scipy.special import expit

    smooth = uniform_filter(x.astype(np.float64), size=kernel, mode="constant", cval=0.0)
    w = np.asarray(weights, dtype=np.float64)[:, None, None]
    b = np.asarray(biases, dtype=np.float64)[:, None, None]
    out = w * smooth[None] + b
    return expit(out) if sigmoid else out


def small_net(path: str | os.PathLike, kind: str, channels: int = 8, seed: int = 0) -> str:
    """A small fully convolutional network for the benchmark: 3 x 3 conv (1 ->
    `channels`), ReLU, 3 x 3 conv (`channels` -> `channels`), ReLU, 1 x 1 conv
    to 4 (zones) or 1 (fronts) logits; fixed random weights from `seed`."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    classes = 4 if kind == "zones" else 1
    shapes = {
        "w1": (channels, 1, 3, 3),
        "w2": (channels, channels, 3, 3),
        "w3": (classes, channels, 1, 1),
    }
    inits = []
    for name, shape in shapes.items():
        fan_in = int(np.prod(shape[1:]))
        w = rng.normal(0, 1 / np.sqrt(fan_in), size=shape).astype(np.float32)
        inits.append(numpy_helper.from_array(w, name))
        b = rng.normal(0, 0.1, size=shape[0]).astype(np.float32)
        inits.append(numpy_helper.from_array(b, name.replace("w", "b")))
    conv3 = {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}
    nodes = [
        helper.make_node("Conv", ["image", "w1", "b1"], ["c1"], **conv3),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], **conv3),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("Conv", ["r2", "w3", "b3"], ["logits"], kernel_shape=[1, 1]),
    ]
    graph = helper.make_graph(
        nodes,
        "caffe_bench_net",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, "H", "W"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", classes, "H", "W"])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = min(model.ir_version, 9)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return str(path)
