"""The CaFFe benchmark's facts, each in one place: file names (names), the
layout of data_raw/ and where to get it (layout), zone and front labels
(labels), bounding boxes (bounding_box), front tracing (fronts) and how the
benchmark scores a model (evaluation)."""
