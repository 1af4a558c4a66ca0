"""Mask validation and bounding boxes."""

import pytest
from PIL import Image

from caffe_workflow.caffe.bounding_box import read_front_extent
from caffe_workflow.caffe.labels import check_front, check_zones


def zones_image(values, size=(40, 30)):
    """A zone mask with vertical bands of the given values."""
    image = Image.new("L", size, 0)
    band = size[0] // len(values)
    for i, value in enumerate(values):
        image.paste(value, (i * band, 0, (i + 1) * band, size[1]))
    return image


def test_valid_zones_give_fractions():
    problems = []
    fractions = check_zones(zones_image([0, 64, 127, 254]), (40, 30), problems)
    assert problems == []
    assert fractions == {"na": 0.25, "rock": 0.25, "glacier": 0.25, "ocean": 0.25}


@pytest.mark.parametrize(
    "image, message",
    [
        (zones_image([0, 64, 128, 254]), "outside 0/64/127/254: 128"),
        (zones_image([0, 64], size=(41, 30)), "zone mask is 41x30, the image is 40x30"),
        (zones_image([0, 64]).convert("RGB"), "mode RGB"),
    ],
)
def test_bad_zones_are_named(image, message):
    problems = []
    assert check_zones(image, (40, 30), problems) is None
    assert len(problems) == 1 and message in problems[0]


def test_front_mask():
    front = Image.new("L", (40, 30), 0)
    for x in range(40):
        front.putpixel((x, 10), 255)
    problems = []
    assert check_front(front, (40, 30), problems) == 40 and problems == []

    empty = Image.new("L", (40, 30), 0)
    assert check_front(empty, (40, 30), problems) is None
    assert problems == ["front mask has no front pixel"]

    front.putpixel((0, 0), 254)
    problems = []
    assert check_front(front, (40, 30), problems) is None
    assert "outside 0/255: 254" in problems[0]


def test_bounding_box_is_clipped_and_normalised(tmp_path):
    path = tmp_path / "x_front_extent_coord.txt"
    # left-upper, left-lower, right-lower, right-upper; "upper" has the larger row.
    path.write_text("x,y\n-5.0,90.5\n-5.0,10.0\n50.0,10.0\n50.0,90.5\n")
    problems = []
    box = read_front_extent(path, 100, 80, problems)
    assert problems == []
    assert box == pytest.approx([0.0, 10 / 80, 0.5, 70 / 80])


@pytest.mark.parametrize(
    "text, message",
    [
        (None, "missing"),
        ("", "empty"),
        ("x,y\n1,2\n3,4\n", "malformed"),
        ("x,y\na,b\n1,2\n3,4\n5,6\n", "malformed"),
        ("x,y\n200,200\n200,300\n300,300\n300,200\n", "outside the image"),
    ],
)
def test_bad_bounding_boxes_are_named(tmp_path, text, message):
    path = tmp_path / "x_front_extent_coord.txt"
    if text is not None:
        path.write_text(text)
    problems = []
    assert read_front_extent(path, 100, 80, problems) is None
    assert message in problems[0] and path.name in problems[0]
