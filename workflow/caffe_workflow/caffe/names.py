"""Parse CaFFe file stems:
<glacier>_<YYYY-MM-DD>_<satellite>_<resolution>_<quality>_<orbit>[_<modality>].

Parsing never raises: it returns whatever fields it could read plus the problems
(which make the image invalid) and warnings (unknown but well-formed codes, which
are accepted as data because new glaciers and sensors will come).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

# Glacier code -> (full name, hemisphere), in the order figures list them:
# the northern glaciers, then the Antarctic Peninsula's in alphabetical order.
GLACIERS = {
    "COL": ("Columbia Glacier, Alaska", "north"),
    "JAC": ("Jakobshavn Isbræ, Greenland", "north"),
    "Crane": ("Crane Glacier, Antarctic Peninsula", "south"),
    "DBE": ("Dinsmoor–Bombardier–Edgeworth, Antarctic Peninsula", "south"),
    "Jorum": ("Jorum Glacier, Antarctic Peninsula", "south"),
    "Mapple": ("Mapple Glacier, Antarctic Peninsula", "south"),
    "SI": ("Sjögren Inlet, Antarctic Peninsula", "south"),
}

# Satellite code -> radar band, in launch order (the order figures list them in).
SENSOR_BANDS = {
    "ERS": "C",
    "RSAT": "C",
    "ENVISAT": "C",
    "PALSAR": "L",
    "TSX": "X",
    "TDX": "X",
    "S1": "C",
}

# The benchmark's seasons: winter is months 1-3 and 9-12 in the north, the
# other half of the year in the south.
_NORTHERN_WINTER = frozenset({1, 2, 3, 9, 10, 11, 12})

_CODE = re.compile(r"^[A-Za-z0-9]+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ORBIT = re.compile(r"^\d{3}$")


def season_of(hemisphere: str, month: int) -> str:
    """ "winter" or "summer" in the benchmark's sense, for "north" or "south"."""
    is_winter = (month in _NORTHERN_WINTER) == (hemisphere == "north")
    return "winter" if is_winter else "summer"


@dataclass
class ParsedName:
    """The fields of a stem (None where unreadable), its problems and warnings."""

    glacier: str | None = None
    date_taken: dt.date | None = None
    satellite: str | None = None
    spatial_resolution: int | None = None
    quality_factor: int | None = None
    orbit: str | None = None
    modality: str | None = None
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def glacier_name(self) -> str | None:
        return GLACIERS.get(self.glacier, (None, None))[0]

    @property
    def hemisphere(self) -> str | None:
        return GLACIERS.get(self.glacier, (None, None))[1]

    @property
    def sensor_band(self) -> str | None:
        return SENSOR_BANDS.get(self.satellite)

    @property
    def season(self) -> str | None:
        if self.date_taken is None or self.hemisphere is None:
            return None
        return season_of(self.hemisphere, self.date_taken.month)


def parse_stem(stem: str) -> ParsedName:
    """Read the fields of a CaFFe stem; see the module docstring."""
    parsed = ParsedName()
    problems = parsed.problems
    if not stem.isascii() or not stem.isprintable() or " " in stem:
        problems.append("name has spaces, non-ASCII or unprintable characters")
    parts = stem.split("_")
    if len(parts) not in (6, 7):
        problems.append(
            f"name has {len(parts)} parts separated by '_', expected 6 "
            "(glacier_YYYY-MM-DD_satellite_resolution_quality_orbit) "
            "or 7 (with modality)"
        )
        return parsed
    glacier, date, satellite, resolution, quality, orbit = parts[:6]

    if _CODE.match(glacier):
        parsed.glacier = glacier
        if glacier not in GLACIERS:
            parsed.warnings.append(f"unknown glacier code '{glacier}'")
    else:
        problems.append(f"glacier code '{glacier}' is not alphanumeric")

    if not _DATE.match(date):
        problems.append(f"date '{date}' is not YYYY-MM-DD")
    else:
        try:
            parsed.date_taken = dt.date.fromisoformat(date)
        except ValueError as err:
            problems.append(f"date '{date}' is not a real date ({err})")

    if _CODE.match(satellite):
        parsed.satellite = satellite
        if satellite not in SENSOR_BANDS:
            parsed.warnings.append(f"unknown satellite code '{satellite}'")
    else:
        problems.append(f"satellite code '{satellite}' is not alphanumeric")

    parsed.spatial_resolution = _positive_int(resolution, "resolution", problems)
    parsed.quality_factor = _positive_int(quality, "quality factor", problems)
    if parsed.quality_factor is not None and not 1 <= parsed.quality_factor <= 6:
        parsed.warnings.append(f"quality factor {parsed.quality_factor} is outside CaFFe's 1..6")

    if _ORBIT.match(orbit):
        parsed.orbit = orbit
    else:
        problems.append(f"orbit '{orbit}' is not three digits")

    if len(parts) == 7:
        if _CODE.match(parts[6]):
            parsed.modality = parts[6]
        else:
            problems.append(f"modality '{parts[6]}' is not alphanumeric")
    return parsed


def _positive_int(text: str, what: str, problems: list[str]) -> int | None:
    if text.isascii() and text.isdigit() and int(text) > 0:
        return int(text)
    problems.append(f"{what} '{text}' is not a positive whole number")
    return None
