"""Stage `fetch`: download, verify and unpack the CaFFe archive (`data_raw.zip`).

    python -m caffe_workflow.stages.fetch --url U --zip resources/data_raw.zip \
        --data-dir data/data_raw [--sha256 H] [--report FILE]

Nothing to do when data_dir already holds CaFFe images; otherwise
:func:`caffe_workflow.download.ensure_zip` (resumable, verified download with
progress) then :func:`caffe_workflow.unpack.unpack` (atomic, safe, tree
check), and a JSON report of both. A failure the user can act on is printed
as one line, without a traceback.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from caffe_workflow.caffe.source import DEFAULT_ZIP, PANGAEA_URL
from caffe_workflow.download import DownloadError, ensure_zip, write_json
from caffe_workflow.unpack import has_caffe, unpack


def _terminate(signum, frame):
    # Turn SIGTERM (Snakemake, SLURM, kill) into SystemExit so that the part
    # file is closed and a half-made unpack folder is removed.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m caffe_workflow.stages.fetch",
        description="Download (resumable, verified) and unpack the CaFFe data_raw.zip.",
    )
    parser.add_argument("--url", default=PANGAEA_URL, help="where to download the zip from")
    parser.add_argument("--zip", default=DEFAULT_ZIP, help="where to keep the zip")
    parser.add_argument("--data-dir", required=True, help="folder to unpack data_raw/ into")
    parser.add_argument("--sha256", default=None, help="expected SHA-256 of the zip")
    parser.add_argument("--retries", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=60.0, help="read timeout, seconds")
    parser.add_argument("--connect-timeout", type=float, default=10.0)
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--report", default=None, help="write a JSON summary here")
    args = parser.parse_args(argv)
    if args.retries < 0:
        parser.error("--retries must be >= 0")

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        report = {
            "data_dir": args.data_dir,
            "already_present": False,
            "download": None,
            "unpack": None,
        }
        if has_caffe(args.data_dir):
            print(
                f"{args.data_dir} already holds CaFFe images; nothing to download.",
                file=sys.stderr,
            )
            report["already_present"] = True
        else:
            got = ensure_zip(
                args.url,
                args.zip,
                args.sha256,
                retries=args.retries,
                timeout=args.timeout,
                connect_timeout=args.connect_timeout,
                progress=not args.no_progress,
            )
            if got["skipped"]:
                how = "sha256 verified" if args.sha256 else "already downloaded"
                print(f"using {args.zip} ({how})", file=sys.stderr)
            done = unpack(args.zip, args.data_dir)
            for warning in done["warnings"]:
                print(f"warning: {warning}", file=sys.stderr)
            c = done["counts"]
            print(
                f"unpacked {done['files']} files ({c['sar_images']} SAR images) into "
                f"{args.data_dir} in {done['seconds']:.1f} s",
                file=sys.stderr,
            )
            report.update(download=got, unpack=done)
        if args.report:
            Path(args.report).parent.mkdir(parents=True, exist_ok=True)
            write_json(Path(args.report), report)
        return 0
    except DownloadError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # disk full, permissions: no traceback either
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; rerun to resume the download", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
