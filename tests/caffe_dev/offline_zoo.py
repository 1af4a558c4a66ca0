"""A FiftyOne model zoo manifest for tests, usable without internet.

- ``caffe-test-grid``: nothing to download (no manager) and no requirement;
  its embedding is an 8 x 8 grid of the image's mean intensity. It takes the
  real path of the config key ``embeddings_model``: ``load_zoo_model``, then
  ``compute_embeddings`` in the ingest.
- ``caffe-test-unreachable``: its weights are at a loopback port where
  nothing listens, so its download fails at once, as it does without
  internet (the zoo's own models resolve hosts that tests may not reach).

``write_manifest(path, port)`` writes the manifest; point FiftyOne at it with
``FIFTYONE_MODEL_ZOO_MANIFEST_PATHS`` (and ``FIFTYONE_MODEL_ZOO_DIR``).
"""

from __future__ import annotations

import json
from pathlib import Path

import fiftyone.core.config as foc
import fiftyone.core.models as fom
import numpy as np
from PIL import Image

GRID_MODEL = "caffe-test-grid"
UNREACHABLE_MODEL = "caffe-test-unreachable"


class GridEmbedderConfig(foc.Config):
    def __init__(self, d):
        self.size = self.parse_number(d, "size", default=8)


class GridEmbedder(fom.Model, fom.EmbeddingsMixin):
    """Embeds an image as the ``size`` x ``size`` grid of its mean intensity."""

    def __init__(self, config):
        self.config = config

    @property
    def media_type(self):
        return "image"

    @property
    def has_logits(self):
        return False

    @property
    def has_embeddings(self):
        return True

    @property
    def ragged_batches(self):
        return False

    @property
    def transforms(self):
        return None

    @property
    def preprocess(self):
        return False

    @preprocess.setter
    def preprocess(self, value):
        pass

    def predict(self, arg):
        return None

    def embed(self, arg):
        size = int(self.config.size)
        gray = Image.fromarray(np.asarray(arg, dtype=np.uint8)).convert("L")
        return np.asarray(gray.resize((size, size), Image.Resampling.BOX), np.float32).ravel()


def _entry(name: str, manager, config: dict) -> dict:
    return {
        "base_name": name,
        "base_filename": f"{name}.bin",
        "version": None,
        "description": "CaFFe workflow test model",
        "manager": manager,
        "default_deployment_config_dict": config,
        "requirements": {"packages": [], "cpu": {"support": True}, "gpu": {"support": True}},
        "tags": ["embeddings"],
        "date_added": "2026-01-01 00:00:00",
    }


def write_manifest(path: Path, closed_port: int) -> Path:
    """The manifest of both models; `closed_port`: a loopback port nobody serves."""
    grid = {"type": f"{__name__}.GridEmbedder", "config": {"size": 8}}
    unreachable = {
        "type": "fiftyone.core.models.ModelManager",
        "config": {"url": f"http://127.0.0.1:{closed_port}/{UNREACHABLE_MODEL}.bin"},
    }
    manifest = {
        "models": [
            _entry(GRID_MODEL, None, grid),
            _entry(UNREACHABLE_MODEL, unreachable, grid),
        ]
    }
    path.write_text(json.dumps(manifest, indent=1))
    return path
