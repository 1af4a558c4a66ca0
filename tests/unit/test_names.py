"""File-name parsing: every real name listed in CAFFE.md, and bad names."""

import datetime as dt

import pytest

from caffe_workflow.caffe.names import GLACIERS, SENSOR_BANDS, parse_stem

# One real name per glacier x satellite x resolution (../shared/CAFFE.md).
REAL_NAMES = """
COL_2015-12-18_S1_20_1_094 COL_2011-06-18_TDX_7_1_024
Crane_2007-03-31_ENVISAT_20_3_467 Crane_2002-11-09_ERS_20_2_061
Crane_2007-09-24_PALSAR_17_1_137 Crane_2008-10-13_TSX_7_3_034
DBE_2004-03-03_ENVISAT_20_3_424 DBE_1995-11-16_ERS_20_1_152
DBE_2006-05-18_PALSAR_17_2_135 DBE_2000-10-06_RSAT_12_3_306
DBE_2000-09-10_RSAT_20_3_282 DBE_2008-03-30_TSX_7_3_049
JAC_2009-04-16_TSX_6_1_005 Jorum_2007-03-31_ENVISAT_20_2_467
Jorum_2003-01-27_ERS_20_1_195 Jorum_2007-11-21_PALSAR_17_2_135
Jorum_2016-07-03_S1_20_2_009 Jorum_2010-11-05_TSX_7_1_110
Mapple_2007-03-31_ENVISAT_20_1_467 Mapple_2006-11-27_ERS_20_3_195
Mapple_2007-09-24_PALSAR_17_3_137 Mapple_2016-07-03_S1_20_2_009
Mapple_2008-10-13_TSX_7_2_034 SI_2003-12-05_ENVISAT_20_4_152
SI_1995-11-13_ERS_20_3_109 SI_2006-05-18_PALSAR_17_2_135
SI_2004-09-13_RSAT_12_5_282 SI_2000-09-10_RSAT_20_5_282
SI_2011-06-14_TSX_7_1_125
""".split()


@pytest.mark.parametrize("stem", REAL_NAMES)
def test_every_real_name_parses(stem):
    glacier, date, satellite, resolution, quality, orbit = stem.split("_")
    parsed = parse_stem(stem)
    assert parsed.problems == [] and parsed.warnings == []
    assert parsed.glacier == glacier and parsed.glacier in GLACIERS
    assert parsed.date_taken == dt.date.fromisoformat(date)
    assert parsed.satellite == satellite and parsed.sensor_band in {"C", "L", "X"}
    assert parsed.spatial_resolution == int(resolution)
    assert parsed.quality_factor == int(quality)
    assert parsed.orbit == orbit and len(parsed.orbit) == 3  # "005" stays a string
    assert parsed.modality is None
    assert parsed.season in {"winter", "summer"}


def test_derived_fields():
    jac = parse_stem("JAC_2009-04-16_TSX_6_1_005")
    assert (jac.hemisphere, jac.season, jac.sensor_band) == ("north", "summer", "X")
    col = parse_stem("COL_2015-12-18_S1_20_1_094")
    assert (col.hemisphere, col.season) == ("north", "winter")
    # Southern glaciers have the other half of the year as winter.
    si = parse_stem("SI_2011-06-14_TSX_7_1_125")
    assert (si.hemisphere, si.season) == ("south", "winter")
    assert parse_stem("SI_2003-12-05_ENVISAT_20_4_152").season == "summer"
    assert parse_stem("DBE_2006-05-18_PALSAR_17_2_135").sensor_band == "L"
    assert set(SENSOR_BANDS) == {"ERS", "ENVISAT", "RSAT", "S1", "PALSAR", "TSX", "TDX"}


def test_optional_modality():
    parsed = parse_stem("JAC_2009-04-16_TSX_6_1_005_HH")
    assert parsed.problems == [] and parsed.modality == "HH"


@pytest.mark.parametrize(
    "stem, message",
    [
        ("JAC_2009-04-16_TSX_6_1", "5 parts"),
        ("JAC_2009-04-16_TSX_6_1_005_HH_extra", "8 parts"),
        ("JAC_2011-13-40_TSX_6_1_005", "not a real date"),
        ("JAC_20090416_TSX_6_1_005", "not YYYY-MM-DD"),
        ("JAC_2009-04-16_TSX_six_1_005", "resolution 'six'"),
        ("JAC_2009-04-16_TSX_6_0_005", "quality factor '0'"),
        ("JAC_2009-04-16_TSX_6_1_5", "orbit '5'"),
        ("JAC 2_2009-04-16_TSX_6_1_005", "spaces"),
        ("Jökul_2009-04-16_TSX_6_1_005", "non-ASCII"),
        ("JAC$;_2009-04-16_TSX_6_1_005", "glacier code"),
    ],
)
def test_bad_names_say_what_is_wrong(stem, message):
    parsed = parse_stem(stem)
    assert any(message in p for p in parsed.problems), parsed.problems


def test_bad_name_keeps_the_parts_it_could_read():
    parsed = parse_stem("JAC_2011-13-40_TSX_6_1_005")
    assert parsed.date_taken is None and parsed.season is None
    assert (parsed.glacier, parsed.satellite, parsed.orbit) == ("JAC", "TSX", "005")


def test_unknown_codes_are_data_with_a_warning():
    parsed = parse_stem("Petermann_2019-07-01_NISAR_10_2_042")
    assert parsed.problems == []
    assert parsed.glacier == "Petermann" and parsed.satellite == "NISAR"
    assert parsed.hemisphere is None and parsed.sensor_band is None
    assert any("unknown glacier" in w for w in parsed.warnings)
    assert any("unknown satellite" in w for w in parsed.warnings)
