"""Models run by the workflow (config key ``models``): ONNX files run by
onnxruntime, or a command of the user's.

- :mod:`.spec`: the config entries (:class:`ModelSpec`, :class:`TilingOptions`
  with the official CaFFe test-time conventions as defaults), one-line
  :class:`ModelError`; cheap to import (the Snakefile may parse the config).
- :mod:`.patches`: padding, 256 x 256 patches with the official overlap,
  batched runs, Gaussian-weighted merge of overlapping scores, zone and front
  masks. NumPy only: any callable that maps patches to scores can run in it.
- :mod:`.onnx_model`: loads and checks an ONNX model, chooses the provider.
- :mod:`.command_model`: runs a user's command on a folder of image links.
- :mod:`.predict`: one batch of images in, ``<stem>_zones.png`` or
  ``<stem>_front.png`` files out.

The conventions follow the official code (Nora-Go/Calving_Fronts_and_Where_to_Find_Them):
data_processing/data_preprocessing.py (padding, patches), data_processing/glacier_data.py
(scaling and z-score), validate_or_test.py (sigmoid, front threshold),
data_processing/data_postprocessing.py (Gaussian-weighted merge, argmax, output values).
"""

# Part of every prediction's fingerprint (ModelSpec.fingerprint): bump when a
# change here changes what a model's predictions are, so every image is
# predicted again once.
INFERENCE_VERSION = 1
