"""The CaFFe benchmark's facts, each in one place: file names (names), the
layout of data_raw/ (layout) and where to get it (source), zone and front
labels (labels), bounding boxes (bounding_box), front tracing (fronts) and how
the benchmark scores a model (evaluation, with FilFinder2D's longest path in
longest_path and mask helpers in masks)."""
