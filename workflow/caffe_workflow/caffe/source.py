"""Where the CaFFe archive comes from, and the advice given when it cannot be had."""

from __future__ import annotations

import os

PANGAEA_URL = "https://download.pangaea.de/dataset/940950/files/data_raw.zip"
MIRROR_URL = "https://huggingface.co/datasets/torchgeo/caffe"
DEFAULT_ZIP = "resources/data_raw.zip"


def where_to_get(zip_path: str | os.PathLike = DEFAULT_ZIP) -> str:
    """The advice given whenever the archive cannot be downloaded."""
    return (
        f"Get data_raw.zip (2.86 GB) from {PANGAEA_URL} or the Hugging Face mirror "
        f"{MIRROR_URL}, then set config download_url to a reachable copy "
        f"(http(s):// or file://), or put the zip at {zip_path}, or unzip it "
        "yourself and set config data_dir to its data_raw folder "
        "(config download: false turns downloading off)."
    )
