"""Benchmark of model prediction (issue 24): one full-size image through a
small ONNX network on CPU, the workflow's batched tiling against the official
code's way, in the same run.

    python -m caffe_dev.bench_inference [--height 3143 --width 2639] [--kind zones]
        [--channels 8] [--threads 1] [--batch-size 16] [--out DIR]

Methods, each in its own subprocess (so that its peak memory is its own):

    batched        caffe_workflow.inference.patches: batches of --batch-size
                   patches per onnxruntime call, scores added into float32
                   per-image sums at once, no patch kept
    batch_1        the same code, one patch per call (batching alone)
    official_loop  the official validate_or_test.py way: one patch per call,
                   every patch's scores kept, then merged as
                   data_postprocessing.py does (a loop over the patch's pixel
                   offsets, float64 sums); the official loader in fact
                   batches 16 patches per call, the loop here is one at a time

Per method: the prediction's wall time (model already loaded; the best of
the --repeat runs after the first, which pays onnxruntime's set-up for each
new batch shape) and that run's CPU time (the process's, steadier than wall
time on a loaded machine), split into the network's calls and the rest (cutting,
merging, argmax), the time per patch, the process's peak RSS (psutil,
polled by this process, and the worker's own getrusage maximum) and its RSS
before predicting. The masks of
all methods are compared pixel by pixel with the batched one, and their
prediction times divided by its own (`ratios`, e.g. official_loop/batched;
`cpu_ratios` for the CPU times).
`make bench` runs this as its `inference` phase.

The default size is JAC's (2639 x 3143, w x h), the CaFFe images' commonest
large size. Timings drift with the machine's load.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

METHODS = ("batched", "batch_1", "official_loop")
POLL_S = 0.02
# Two scores this close (about 16 float32 steps at 0.5) are a tie: float32
# sums in one order and float64 sums in another may rank them either way.
TIE = 1e-6


def synthetic_sar(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A uint8 image with ramps, a bright block, a no-data corner and speckle."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    img = 90 + 60 * np.sin(xx / 37.0) + 40 * np.cos(yy / 23.0)
    img[height // 3 : height // 2, width // 4 : width // 2] = 230
    img += rng.normal(0, 25, size=img.shape).astype(np.float32)
    img[: height // 6, : width // 7] = 0
    return np.clip(img, 0, 255).astype(np.uint8)


def official_loop_mask(image, session, kind, options) -> tuple[np.ndarray, dict]:
    """The official way: pad (data_preprocessing.py), every patch alone
    through the network, all patch scores kept, merged per pixel offset
    (data_postprocessing.py) in float64, padding cut, argmax or threshold."""
    t0 = time.perf_counter()
    merged, network_s = official_loop_scores(image, session, options)
    if kind == "zones":
        values = np.array([0, 64, 127, 254], np.uint8)
        mask = values[np.argmax(merged, axis=0)]
    else:
        mask = np.where(merged[0] > options.threshold, 255, 0).astype(np.uint8)
    return mask, {"network_s": network_s, "merge_s": time.perf_counter() - t0 - network_s}


def official_loop_scores(image, session, options) -> tuple[np.ndarray, float]:
    """The merged scores [C, H, W] of official_loop_mask, and the network's seconds."""
    from caffe_workflow.inference.patches import gaussian_weights

    p, overlap = options.patch_size, options.overlap
    stride = p - overlap
    h, w = image.shape
    bottom = stride - (h - p) % stride
    right = stride - (w - p) % stride
    padded = np.zeros((h + bottom, w + right), dtype=np.uint8)
    padded[:h, :w] = image
    # Patch order as the official extraction: for each column, every row.
    rows = np.arange(0, padded.shape[0] - p + 1, stride)
    cols = np.arange(0, padded.shape[1] - p + 1, stride)
    origin_r, origin_c = [a.ravel() for a in np.meshgrid(rows, cols)]
    name = session.get_inputs()[0].name
    t0 = time.perf_counter()
    kept = []
    for r, c in zip(origin_r, origin_c):
        x = padded[r : r + p, c : c + p].astype(np.float32) / 255.0
        x = (x - np.float32(options.mean)) / np.float32(options.std)
        logits = session.run(None, {name: x[None, None]})[0][0]
        kept.append(1.0 / (1.0 + np.exp(-logits)))
    network_s = time.perf_counter() - t0
    stack = np.array(kept)  # [N, C, P, P]
    g = gaussian_weights(p, options.sigma_scale)
    merged = []
    for cls in range(stack.shape[1]):
        out = np.zeros(padded.shape)
        wgt = np.zeros(padded.shape)
        for i in range(p):
            for j in range(p):
                out[origin_r + i, origin_c + j] += stack[:, cls, i, j] * g[i, j]
                wgt[origin_r + i, origin_c + j] += g[i, j]
        merged.append((out / np.maximum(wgt, 1e-12))[:-bottom, :-right])
    return np.array(merged), network_s


def score_gaps(scores: np.ndarray, kind: str, threshold: float, rows, cols) -> list[float]:
    """At each pixel (rows[i], cols[i]): how far the scores are from ranking
    the other way: the two best classes' difference (zones), the score's
    distance to the threshold (fronts)."""
    at = scores[:, rows, cols].astype(np.float64)
    if kind == "zones":
        top = np.sort(at, axis=0)
        return (top[-1] - top[-2]).tolist()
    return np.abs(at[0] - threshold).tolist()


def _image_and_spec(args):
    """The worker's synthetic image and the model spec of its options."""
    from caffe_workflow.inference.spec import parse_model

    options = {
        "batch_size": args.batch_size,
        "patch_size": args.patch_size,
        "overlap": args.overlap,
    }
    spec = parse_model("bench", {"onnx": args.model, "kind": args.kind, "options": options})
    return synthetic_sar(args.height, args.width, seed=args.seed), spec


def gaps_worker(args) -> int:
    """At the pixels where the official loop's mask differs from the batched
    one (<out>/differing.npy): each method's score gaps, to <out>/gaps.json."""
    from caffe_workflow.inference import onnx_model, patches

    image, spec = _image_and_spec(args)
    model = onnx_model.load(spec, threads=args.threads)
    rows, cols = np.load(Path(args.out) / "differing.npy")
    threshold = spec.options.threshold
    batched = patches.merged_scores(image, model.run_batch, spec.options)
    gaps = {"batched": score_gaps(batched, args.kind, threshold, rows, cols)}
    del batched
    official, _ = official_loop_scores(image, model.session, spec.options)
    gaps["official_loop"] = score_gaps(official, args.kind, threshold, rows, cols)
    (Path(args.out) / "gaps.json").write_text(json.dumps(gaps))
    return 0


def _rss() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def worker(args) -> int:
    """One method in this process: writes <out>/<method>.json and .npy."""
    from caffe_workflow.inference import onnx_model, patches

    image, spec = _image_and_spec(args)
    t0 = time.perf_counter()
    model = onnx_model.load(spec, threads=args.threads)
    load_s = time.perf_counter() - t0
    rss_before = _rss()
    options = spec.options
    if args.method == "batch_1":
        options = replace(options, batch_size=1)
    pads = patches.pad_amounts(*image.shape, options.patch_size, options.overlap)
    hp, wp = (s + a for s, a in zip(image.shape, pads))
    n = len(patches.patch_origins(hp, wp, options.patch_size, options.stride))
    times, splits = [], []
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        if args.method == "official_loop":
            mask, split = official_loop_mask(image, model.session, args.kind, options)
        else:
            spent = [0.0]

            def timed(x, spent=spent):
                t = time.perf_counter()
                y = model.run_batch(x)
                spent[0] += time.perf_counter() - t
                return y

            mask = patches.predict_mask(image, timed, args.kind, options)
            total = time.perf_counter() - t0
            split = {"network_s": spent[0], "merge_s": total - spent[0]}
        times.append(time.perf_counter() - t0)
        split["cpu_s"] = time.process_time() - c0
        splits.append(split)
    # The first run pays onnxruntime's set-up for each new batch shape; a
    # workflow job pays it once for all the images of its batch.
    best = min(range(1, len(times)), key=times.__getitem__) if len(times) > 1 else 0
    predict_s, split = times[best], splits[best]
    out = Path(args.out)
    np.save(out / f"{args.method}.npy", mask)
    record = {
        "predict_s": predict_s,
        "first_run_s": times[0],
        "load_s": load_s,
        **split,
        "patches": n,
        "ms_per_patch": 1000 * predict_s / n,
        "rss_before_mb": rss_before / 2**20,
        "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "provider": model.provider,
    }
    (out / f"{args.method}.json").write_text(json.dumps(record))
    return 0


def _measured(cmd: list[str]) -> tuple[int, int, str]:
    """Run `cmd`; (exit code, peak RSS in bytes polled with psutil, stderr tail)."""
    import psutil

    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stderr=err)
        ps, peak = psutil.Process(proc.pid), 0
        while proc.poll() is None:
            try:
                peak = max(peak, ps.memory_info().rss)
            except psutil.Error:
                pass
            time.sleep(POLL_S)
        err.seek(0)
        tail = err.read().decode(errors="replace").strip().splitlines()[-1:] or [""]
    return proc.returncode, peak, tail[0]


def run_benchmark(
    height: int = 3143,
    width: int = 2639,
    kind: str = "zones",
    channels: int = 8,
    threads: int = 1,
    batch_size: int = 16,
    methods: tuple[str, ...] = METHODS,
    out: str | os.PathLike | None = None,
    seed: int = 0,
    repeat: int = 2,
    patch_size: int = 256,
    overlap: int = 128,
) -> dict:
    """Run every method on the same image and network; the figures as a dict."""
    from caffe_dev.onnx_nets import small_net

    with tempfile.TemporaryDirectory(prefix="bench-inference-") as tmp:
        folder = Path(out) if out is not None else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        model = small_net(folder / f"small_{kind}.onnx", kind, channels=channels, seed=seed)
        result = {
            "image": f"{width} x {height} (w x h)",
            "pixels": width * height,
            "kind": kind,
            "network": f"conv3x3(1->{channels}) relu conv3x3({channels}->{channels}) relu "
            f"conv1x1 -> {4 if kind == 'zones' else 1}",
            "threads": threads,
            "batch_size": batch_size,
            "repeat": repeat,
            "patch_size": patch_size,
            "overlap": overlap,
            "methods": {},
            "pixels_differing_from_batched": {},
        }
        for method in methods:
            cmd = [
                sys.executable,
                "-m",
                "caffe_dev.bench_inference",
                "--worker",
                method,
                "--model",
                model,
                "--out",
                str(folder),
                "--height",
                str(height),
                "--width",
                str(width),
                "--kind",
                kind,
                "--threads",
                str(threads),
                "--batch-size",
                str(batch_size),
                "--seed",
                str(seed),
                "--repeat",
                str(repeat),
                "--patch-size",
                str(patch_size),
                "--overlap",
                str(overlap),
            ]
            code, peak, tail = _measured(cmd)
            if code != 0:
                raise RuntimeError(f"benchmark method {method} failed (exit {code}): {tail}")
            record = json.loads((folder / f"{method}.json").read_text())
            record["peak_rss_mb"] = peak / 2**20
            result["methods"][method] = record
        result["provider"] = next(iter(result["methods"].values()))["provider"]
        if "batched" in methods:
            ref = np.load(folder / "batched.npy")
            for method in methods:
                other = np.load(folder / f"{method}.npy")
                result["pixels_differing_from_batched"][method] = int((other != ref).sum())
            result["masks_equal"] = not any(result["pixels_differing_from_batched"].values())
            if "official_loop" in methods:
                result |= _ties(folder, ref, np.load(folder / "official_loop.npy"), cmd)
            for key, metric in (("ratios", "predict_s"), ("cpu_ratios", "cpu_s")):
                got = {k: m[metric] for k, m in result["methods"].items()}
                result[key] = {
                    f"{k}/batched": got[k] / got["batched"] for k in got if k != "batched"
                }
        return result


def _ties(folder: Path, batched: np.ndarray, official: np.ndarray, cmd: list[str]) -> dict:
    """Whether every pixel where the two masks differ is a tie (TIE): both
    methods' scores there, from a worker that computes them once more."""
    rows, cols = np.nonzero(batched != official)
    if not len(rows):
        return {"tie_pixels": 0, "masks_equal_but_ties": True, "largest_gap_where_differing": None}
    np.save(folder / "differing.npy", np.stack([rows, cols]))
    worker_cmd = cmd[: cmd.index("--worker") + 1] + ["gaps"] + cmd[cmd.index("--worker") + 2 :]
    code, _, tail = _measured(worker_cmd)
    if code != 0:
        raise RuntimeError(f"benchmark gaps worker failed (exit {code}): {tail}")
    gaps = json.loads((folder / "gaps.json").read_text())
    smallest = [min(b, o) for b, o in zip(gaps["batched"], gaps["official_loop"])]
    ties = sum(g <= TIE for g in smallest)
    return {
        "tie_pixels": ties,
        "masks_equal_but_ties": ties == len(rows),
        "largest_gap_where_differing": max(smallest),
    }


def table(result: dict) -> str:
    lines = [
        f"image {result['image']}, {result['kind']}, network {result['network']}, "
        f"{result['provider']}, {result['threads']} thread(s), batch {result['batch_size']}, "
        f"patches {result['patch_size']} overlap {result['overlap']}",
        "| method | patches | predict s | CPU s | first run s | network s | merge etc. s "
        "| ms/patch | peak RSS MB | RSS before MB | pixels != batched |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, m in result["methods"].items():
        diff = result["pixels_differing_from_batched"].get(name, "")
        lines.append(
            f"| {name} | {m['patches']} | {m['predict_s']:.2f} | {m['cpu_s']:.2f} | "
            f"{m['first_run_s']:.2f} | "
            f"{m['network_s']:.2f} | {m['merge_s']:.2f} | {m['ms_per_patch']:.1f} | "
            f"{max(m['peak_rss_mb'], m['ru_maxrss_mb']):.0f} | {m['rss_before_mb']:.0f} | {diff} |"
        )
    if result.get("ratios"):
        wall, cpu = (
            ", ".join(f"{k} {v:.2f}" for k, v in result[key].items())
            for key in ("ratios", "cpu_ratios")
        )
        same = (
            "equal"
            if result["masks_equal"]
            else f"equal but at {result['tie_pixels']} ties (scores within {TIE:g})"
            if result.get("masks_equal_but_ties")
            else "DIFFERENT"
        )
        lines += ["", f"Predict time ratios: {wall} (CPU time: {cpu}); masks {same}."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--height", type=int, default=3143)
    parser.add_argument("--width", type=int, default=2639)
    parser.add_argument("--kind", choices=("zones", "fronts"), default="zones")
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--patch-size", type=int, default=256)
    parser.add_argument("--overlap", type=int, default=128)
    parser.add_argument(
        "--repeat", type=int, default=2, help="runs per method; the best after the first counts"
    )
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--out", help="folder for the model, masks and results.json")
    parser.add_argument("--worker", choices=(*METHODS, "gaps"), help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker == "gaps":
        return gaps_worker(args)
    if args.worker:
        args.method = args.worker
        return worker(args)
    result = run_benchmark(
        height=args.height,
        width=args.width,
        kind=args.kind,
        channels=args.channels,
        threads=args.threads,
        batch_size=args.batch_size,
        methods=tuple(args.methods.split(",")),
        out=args.out,
        seed=args.seed,
        repeat=args.repeat,
        patch_size=args.patch_size,
        overlap=args.overlap,
    )
    print(table(result))
    if args.out:
        (Path(args.out) / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
