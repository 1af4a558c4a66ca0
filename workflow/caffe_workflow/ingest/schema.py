"""The dataset's own settings: schema, mask targets, App config, info, description.

Only the keys the ingest owns are replaced: other mask targets, info keys,
media fields and colour-scheme entries a user added are kept.
"""

from __future__ import annotations

from caffe_workflow.caffe.labels import FRONT_CLASSES, ZONE_CLASSES
from caffe_workflow.ingest.fields import FIELDS, declare_fields

ZONE_TARGETS = dict(ZONE_CLASSES)
FRONT_TARGETS = dict(FRONT_CLASSES)

# Colours: ocean blue, glacier icy cyan-white, rock brown, fronts red-orange.
# Zone value 0 (NA) is never drawn by the App, so it needs no colour.
OCEAN, GLACIER, ROCK, FRONT, EXTENT = (
    "#1F5FD6",
    "#D8F6FF",
    "#8B5A2B",
    "#FF3D00",
    "#FFD400",
)

CITATION = (
    "Gourmelon, N., Seehaus, T., Braun, M., Maier, A., and Christlein, V.: "
    "Calving fronts and where to find them: a benchmark dataset and "
    "methodology for automatic glacier calving front delineation from "
    "synthetic aperture radar imagery, Earth Syst. Sci. Data, 14, 4287-4313, "
    "https://doi.org/10.5194/essd-14-4287-2022, 2022."
)

DESCRIPTION = (
    "CaFFe (Calving Fronts and where to Find thEm): SAR images of seven "
    "marine-terminating glaciers, 1995-2020, with hand-drawn zone masks "
    "(NA, rock, glacier, ocean) and calving fronts. Built by the CaFFe "
    "workflow from the catalog; fields are explained in dataset.info['fields']."
)


def ensure_schema(fo, dataset) -> None:
    if dataset.media_type is None:
        dataset.media_type = "image"
    declare_fields(fo, dataset, FIELDS)
    # Converts FiftyOne's default non-unique filepath index; no-op afterwards.
    info = dataset.get_index_information().get("filepath", {})
    if not info.get("unique"):
        dataset.create_index("filepath", unique=True)


def _color_scheme(fo, old):
    managed = [
        {
            "path": "zones",
            "fieldColor": OCEAN,
            "maskTargetsColors": [
                {"intTarget": 64, "color": ROCK},
                {"intTarget": 127, "color": GLACIER},
                {"intTarget": 254, "color": OCEAN},
            ],
        },
        {
            "path": "front",
            "fieldColor": FRONT,
            "maskTargetsColors": [{"intTarget": 255, "color": FRONT}],
        },
        {
            "path": "front_lines",
            "fieldColor": FRONT,
            "colorByAttribute": "label",
            "valueColors": [{"value": "front", "color": FRONT}],
        },
        {
            "path": "front_extent",
            "fieldColor": EXTENT,
            "colorByAttribute": "label",
            "valueColors": [{"value": "front_extent", "color": EXTENT}],
        },
    ]
    paths = {f["path"] for f in managed}
    user_fields = [f for f in (old.fields or []) if f.get("path") not in paths] if old else []
    # color_by "value": the App applies maskTargetsColors only in this mode
    # (with "field" the whole zone mask would be painted in one colour).
    return fo.ColorScheme(
        color_by="value",
        fields=managed + user_fields,
        default_mask_targets_colors=managed[0]["maskTargetsColors"]
        + managed[1]["maskTargetsColors"],
    )


def _info(glaciers: dict) -> dict:
    return {
        "name": "CaFFe (Calving Fronts and where to Find thEm)",
        "citation": CITATION,
        "doi": "10.5194/essd-14-4287-2022",
        "license": "CC-BY-4.0",
        "source": "PANGAEA, https://doi.org/10.1594/PANGAEA.940950",
        "source_doi": "10.1594/PANGAEA.940950",
        "glaciers": glaciers,
        "tags": "train/test: benchmark split; invalid: a name or mask failed validation "
        "(see the problems field); unlabelled: an image without label files; other "
        "tags are yours and are never touched",
        "fields": {name: description for name, (_, description) in FIELDS.items()}
        | {
            "metadata": "Image size, bytes, MIME type and channels, measured by the per-image step",
        },
        "app": "zones and front (full-resolution masks) are off by default; tick them "
        "in the sidebar of the sample view. front_lines shows the front as vectors.",
        "managed_saved_views": "train, test, val (the official validation split), "
        "invalid, unlabelled, one per glacier code (in date "
        "order), glacier-timeline and glacier-sensor-timeline (dynamic groups per "
        "glacier and per glacier and sensor, in date order) and exact-duplicates "
        "(one group per SAR file content shared by several samples) are rewritten "
        "by every ingest; save your own views under other names",
        "brain_runs": "features_viz (PCA of features, the Embeddings panel) and "
        "features_sim (sklearn similarity index on features, sort by similarity); "
        "zoo_viz and zoo_sim on zoo_embeddings when embeddings_model is set. Other "
        "brain keys are yours and are never touched",
    }


def apply_dataset_settings(fo, dataset, glaciers: dict, data_dir: str | None) -> bool:
    """Set mask targets, App config, info and description; True if anything changed.

    Only the keys the ingest owns are replaced: other mask targets, info keys,
    media fields and colour-scheme entries a user added are kept.
    """
    changed = False

    targets = dict(dataset.mask_targets)
    for field, wanted in (("zones", ZONE_TARGETS), ("front", FRONT_TARGETS)):
        if targets.get(field) != wanted:
            targets[field] = wanted
            changed = True
    if changed:
        dataset.mask_targets = targets

    cfg = dataset.app_config
    media = list(cfg.media_fields or ["filepath"])
    media += [f for f in ("filepath", "thumbnail_path") if f not in media]
    # The App copies the grid's active fields into the sample view when it is
    # opened (useSetModalState in 1.22.1), so a field cannot be off in the grid
    # and on in the modal by config. Closest: the two full-resolution mask
    # overlays start off everywhere, front_lines (cheap vectors) stays on.
    # An include list: exclude=True would also switch on every primitive
    # field, whose pills then cover each grid tile.
    active = fo.ActiveFields(exclude=False, paths=["front_lines", "front_extent"])
    scheme = _color_scheme(fo, cfg.color_scheme)
    wanted = {
        "media_fields": media,
        "grid_media_field": "thumbnail_path",
        "modal_media_field": "filepath",
        "active_fields": active,
        "color_scheme": scheme,
    }
    for key, value in wanted.items():
        old = getattr(cfg, key)
        if key == "color_scheme" and old is not None:
            # ColorScheme has a random id: compare the content only.
            same = old.to_dict() | {"_id": None} == value.to_dict() | {"_id": None}
        else:
            same = old == value
        if not same:
            setattr(cfg, key, value)
            changed = True

    info = dict(dataset.info)
    new_info = info | _info(glaciers)
    if data_dir is not None:
        new_info["data_dir"] = data_dir
    if new_info != info:
        dataset.info = new_info
        changed = True
    if dataset.description != DESCRIPTION:
        dataset.description = DESCRIPTION
        changed = True
    if not dataset.persistent:
        dataset.persistent = True
    if changed:
        dataset.save()
    return changed
