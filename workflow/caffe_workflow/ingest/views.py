"""The saved views the ingest manages; every other saved view is the user's.

The managed names are recorded in ``dataset.info["_caffe_saved_views"]``, so a
view under a newly managed name that this ingest did not make is left alone.
"""

from __future__ import annotations

import logging

from caffe_workflow.caffe import splits
from caffe_workflow.ingest import brain

log = logging.getLogger("caffe_workflow.stages.ingest")

# Saved views of dynamic groups: name -> (group key, description). The key
# glacier + sensor is a compound key (a list of fields), which GroupBy takes
# as such in FiftyOne 1.22.1; a stored `glacier_sensor` field would duplicate
# two fields (and go stale if a user edits one) and rewrite every sample once.
TIMELINE_VIEWS = {
    "glacier-timeline": (
        "glacier",
        "One group per glacier, its images in date order: open a group to step "
        "through (or play) the glacier's years",
    ),
    "glacier-sensor-timeline": (
        ["glacier", "satellite"],
        "One group per glacier and sensor, its images in date order",
    ),
}


DUPLICATES_VIEW = "exact-duplicates"


def _managed_views(dataset, glaciers: dict) -> dict:
    from fiftyone import ViewField as F

    views = {
        "train": (dataset.match_tags("train"), "Training split"),
        "test": (dataset.match_tags("test"), "Test split (COL and Mapple)"),
        splits.VAL_VIEW: (splits.official_split_view(dataset), splits.VIEW_DESCRIPTION),
        "invalid": (
            dataset.match_tags("invalid"),
            "Samples whose name or masks failed validation (see problems)",
        ),
        "unlabelled": (
            dataset.match_tags("unlabelled"),
            "Images without zone, front and box labels: models predict them, nothing scores them",
        ),
    }
    for code, name in sorted(glaciers.items()):
        views[code] = (
            dataset.match(F("glacier") == code).sort_by("date_taken"),
            f"Glacier {name or code}, in date order",
        )
    for name, (key, description) in TIMELINE_VIEWS.items():
        # Images without a glacier, sensor or date (unparsed names) stay out.
        fields = [key] if isinstance(key, str) else key
        having = dataset
        for field in [*fields, "date_taken"]:
            having = having.exists(field)
        views.setdefault(name, (having.group_by(key, order_by="date_taken"), description))
    # The hashes are in the view: it is rewritten only when the set of
    # duplicated files changes, and no sample is written for it.
    duplicated = brain.duplicate_hashes(dataset)
    views.setdefault(
        DUPLICATES_VIEW,
        (
            dataset.match(F("image_sha256").is_in(duplicated)).group_by(
                "image_sha256", order_by="date_taken"
            ),
            "Exact duplicates: one group per SAR file content (SHA-256) that several samples share",
        ),
    )
    return views


def _is_stored(dataset, name: str, view, description: str) -> bool:
    """True when the saved view `name` holds `view` with `description`.
    DatasetView's == compares the stages without their random ids."""
    if dataset.get_saved_view_info(name).get("description") != description:
        return False
    try:
        return dataset.load_saved_view(name) == view
    except (ValueError, KeyError):  # stages that no longer load (a field gone)
        return False


def save_changed_views(dataset, wanted: dict) -> None:
    """Save each of `wanted` ({name: (view, description)}) whose stored view
    differs or is missing."""
    stored = set(dataset.list_saved_views())
    for name, (view, description) in wanted.items():
        if name in stored and _is_stored(dataset, name, view, description):
            continue
        dataset.save_view(name, view, description=description, overwrite=True)


def refresh_saved_views(dataset, glaciers: dict) -> None:
    """(Re)write the managed saved views; leave every other saved view alone."""
    wanted = _managed_views(dataset, glaciers)
    old_managed = set(dataset.info.get("_caffe_saved_views", []))
    stored = set(dataset.list_saved_views())
    # A view under a newly managed name (a new glacier code, a view added by
    # a newer ingest) that this ingest did not make is the user's: keep it.
    for name in [n for n in wanted if n in stored and n not in old_managed]:
        log.warning("saved view %r was not made by the ingest: left as it is", name)
        del wanted[name]
    if not set(wanted) <= old_managed:
        # Record the new names before writing them, so that a crash in
        # between cannot make the ingest's own views look like a user's.
        dataset.info["_caffe_saved_views"] = sorted(old_managed | set(wanted))
        dataset.save()
    save_changed_views(dataset, wanted)
    # A glacier that left the catalog: drop only the view this ingest made.
    for name in old_managed - set(wanted):
        if dataset.has_saved_view(name):
            dataset.delete_saved_view(name)
    if sorted(wanted) != sorted(old_managed):
        dataset.info["_caffe_saved_views"] = sorted(wanted)
        dataset.save()
