"""The sample fields the ingest manages, and the FiftyOne types of each kind."""

from __future__ import annotations

from caffe_workflow.caffe import splits

# name -> (kind, description). kind: str, int, float, bool, date, strlist,
# zones, front, polylines, detection, vector. The catalog column of the same
# name feeds the field, except for the labels (ingest.samples.sample_values).
FIELDS = {
    "stem": ("str", "File stem: <glacier>_<date>_<satellite>_<res>_<quality>_<orbit>"),
    "split": ("str", "Benchmark split: train or test (also a sample tag)"),
    splits.COLUMN: ("str", splits.FIELD_DESCRIPTION),
    "glacier": ("str", "Glacier code: COL, JAC, Crane, DBE, Jorum, Mapple, SI"),
    "glacier_name": ("str", "Full glacier name"),
    "date_taken": ("date", "Acquisition date"),
    "year": ("int", "Acquisition year"),
    "season": ("str", "winter or summer, as the CaFFe benchmark defines it per hemisphere"),
    "hemisphere": ("str", "north (COL, JAC) or south (Antarctic Peninsula)"),
    "satellite": ("str", "Sensor: ERS, ENVISAT, RSAT, S1, PALSAR, TSX, TDX"),
    "sensor_band": ("str", "Radar band: C, L or X"),
    "spatial_resolution": ("int", "Pixel size in metres"),
    "quality_factor": ("int", "Label quality, 1 (best) to 6 (worst)"),
    "orbit": ("str", "Orbit number, zero-padded as in the file name"),
    "modality": ("str", "Optional modality part of the name (null when absent)"),
    "image_mode": ("str", "Pillow mode of the SAR image (L for 8-bit grayscale)"),
    "image_sha256": (
        "str",
        "SHA-256 of the SAR image file (provenance; equal values: exact duplicates)",
    ),
    "zone_na_fraction": ("float", "Fraction of pixels with zone NA (no information)"),
    "zone_rock_fraction": ("float", "Fraction of pixels with zone rock"),
    "zone_glacier_fraction": ("float", "Fraction of pixels with zone glacier"),
    "zone_ocean_fraction": ("float", "Fraction of pixels with zone ocean (incl. ice melange)"),
    "front_pixels": ("int", "Number of front pixels in the front mask"),
    "front_length_km": ("float", "Calving front length in km"),
    "valid": ("bool", "True when the name, the image and its labels passed validation"),
    "labelled": (
        "bool",
        "False when the image has none of its label files (tag unlabelled): no zones, "
        "front or box to show or score",
    ),
    "problems": ("strlist", "Validation problems (empty when valid)"),
    "warnings": ("strlist", "Validation warnings (e.g. unknown glacier code)"),
    "thumbnail_path": ("str", "Absolute path of the thumbnail shown in the App grid"),
    "zones": ("zones", "Zone mask on disk: 0 NA, 64 rock, 127 glacier, 254 ocean"),
    "front": ("front", "Front mask on disk: 255 on the one-pixel calving front"),
    "front_lines": ("polylines", "Calving front as open polylines (one per front piece)"),
    "front_extent": ("detection", "Region in which the front moves (bounding_boxes/)"),
    "features": (
        "vector",
        "272 floats: 16x16 grid of mean intensity + 16-bin histogram of valid pixels, "
        "each block of unit length (caffe_workflow.caffe.features); brain runs "
        "features_viz and features_sim",
    ),
    "catalog_hash": (
        "str",
        "Hash of the catalog row; the ingest rewrites a sample only when it changes",
    ),
}


def field_type(fo, kind: str):
    """(ftype, embedded_doc_type, subfield) of a kind, for add_sample_field."""
    return {
        "str": (fo.StringField, None, None),
        "int": (fo.IntField, None, None),
        "float": (fo.FloatField, None, None),
        "bool": (fo.BooleanField, None, None),
        "date": (fo.DateField, None, None),
        "strlist": (fo.ListField, None, fo.StringField),
        "zones": (fo.EmbeddedDocumentField, fo.Segmentation, None),
        "front": (fo.EmbeddedDocumentField, fo.Segmentation, None),
        "polylines": (fo.EmbeddedDocumentField, fo.Polylines, None),
        "detection": (fo.EmbeddedDocumentField, fo.Detection, None),
        "vector": (fo.VectorField, None, None),
    }[kind]


def declare_fields(fo, dataset, fields: dict) -> None:
    """Add each of `fields` ({name: (kind, description)}) the dataset lacks."""
    schema = dataset.get_field_schema()
    for name, (kind, description) in fields.items():
        if name in schema:
            continue
        ftype, doc_type, subfield = field_type(fo, kind)
        dataset.add_sample_field(
            name, ftype, embedded_doc_type=doc_type, subfield=subfield, description=description
        )


def polylines(fo, lines, label: str):
    """Open fo.Polylines of normalised [[x, y], ...] lines (None for none)."""
    if not lines:
        return None
    return fo.Polylines(
        polylines=[
            fo.Polyline(
                label=label,
                points=[[(float(x), float(y)) for x, y in line]],
                closed=False,
                filled=False,
            )
            for line in lines
            if line
        ]
    )
