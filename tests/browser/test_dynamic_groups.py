"""Issue 15 in a real browser: a glacier's images in time order (the saved
view glacier-timeline, dynamic groups) and the Embeddings panel of the
features' PCA run, on a dataset built by the real workflow.

Headless Chromium opens the App; the test opens one group and steps through
it, checking that the sample view shows the glacier's images in date order,
then opens the Embeddings panel (brain run features_viz) coloured by
glacier and checks it plots every sample. The screenshots are the README's
(workflow/report/screenshots/glacier-timeline.png and embeddings.png).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.mongod, pytest.mark.timeout(1800)]

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "workflow" / "report" / "screenshots"
DATASET = "caffe-browser-groups"
# Medium images (as `make demo`), 4 to 6 per glacier: groups worth stepping through.
IMAGES = 28
VIEWPORT = {"width": 1400, "height": 1000}


@pytest.fixture(scope="module")
def built_dataset(mongod, tmp_path_factory, build_dataset) -> dict:
    """This module's dataset (conftest's app_url serves it): generated CaFFe
    data -> real Snakemake run -> FiftyOne dataset DATASET."""
    root = tmp_path_factory.mktemp("browser-groups")
    return build_dataset(root, DATASET, IMAGES, seed=11, size="medium")


def _sidebar(page, field: str) -> str:
    return page.inner_text(f"[data-cy=modal] [data-cy=sidebar-entry-{field}]").strip()


def test_glacier_timeline_group_and_embeddings_panel(
    browser, app_url, built_dataset, artifacts, open_page
):
    import fiftyone as fo
    from fiftyone import ViewField as F

    dataset = fo.load_dataset(DATASET)
    glaciers = dataset.count_values("glacier")
    context, page, errors = open_page(browser, VIEWPORT)

    # ---- the saved view: one tile per glacier
    page.goto(f"{app_url}/datasets/{DATASET}?view=glacier-timeline")
    page.wait_for_selector("[data-cy=entry-counts]")
    page.wait_for_function(
        "n => document.querySelectorAll('[data-cy=looker] canvas[canvas-loaded=true]').length >= n",
        arg=len(glaciers),
    )
    assert page.inner_text("[data-cy=entry-counts]").strip() == f"{len(glaciers)} groups"

    # ---- one group: its images, stepped through, are the glacier's in date order
    page.locator("[data-cy=looker]").first.click()
    page.locator("[data-cy=dynamic-group-pagination-bar]").wait_for()
    glacier = _sidebar(page, "glacier")
    want = sorted(dataset.match(F("glacier") == glacier).values("date_taken"))
    items = page.locator("[data-cy^=dynamic-group-pagination-item-]").filter(
        has_text=re.compile(r"^\d+$")
    )
    assert items.count() == len(want) == glaciers[glacier]
    seen = []
    for k in range(1, len(want) + 1):
        page.click(f"[data-cy=dynamic-group-pagination-item-{k}]")
        expected = want[k - 1].isoformat()
        page.wait_for_function(
            "d => document.querySelector("
            "'[data-cy=modal] [data-cy=sidebar-entry-date_taken]')?.innerText.trim() === d",
            arg=expected,
        )
        assert _sidebar(page, "glacier") == glacier
        seen.append(_sidebar(page, "date_taken"))
    assert seen == [d.isoformat() for d in want]
    # The picture: the group's second image, its place in the pagination bar.
    page.click("[data-cy=dynamic-group-pagination-item-2]")
    page.wait_for_function(
        "d => document.querySelector("
        "'[data-cy=modal] [data-cy=sidebar-entry-date_taken]')?.innerText.trim() === d",
        arg=want[1].isoformat(),
    )
    page.locator("[data-cy=modal] [data-cy=sidebar-entry-date_taken]").scroll_into_view_if_needed()
    page.mouse.move(5, VIEWPORT["height"] - 5)  # no hover tooltip over the image
    page.wait_for_timeout(1500)
    page.screenshot(path=artifacts / "glacier-timeline.png")
    shutil.copyfile(artifacts / "glacier-timeline.png", SCREENSHOTS / "glacier-timeline.png")

    # ---- the Embeddings panel on the whole dataset, coloured by glacier
    page.mouse.click(10, VIEWPORT["height"] - 5)  # outside the sample view: closes it
    page.locator("[data-cy=modal]").wait_for(state="detached")
    page.click("[data-cy=btn-clear-view-bar]")
    page.wait_for_function(
        "n => document.querySelector('[data-cy=entry-counts]')?.innerText.trim() === n",
        arg=f"{len(dataset)} samples",
    )
    page.click("[data-cy=new-panel-btn]")
    page.click("[data-cy=new-panel-option-Embeddings]")
    panel = page.locator("[data-cy=panel-content-Embeddings]")
    dismiss = panel.get_by_text("Dismiss", exact=True)  # an Enterprise advert
    panel.get_by_text("features_viz", exact=True).wait_for()
    if dismiss.count():
        dismiss.click()
    panel.get_by_text("features_viz", exact=True).click()
    panel.get_by_text(f"{len(dataset)} points", exact=True).wait_for()
    panel.get_by_text("Color by").click()
    page.get_by_role("option", name="glacier", exact=True).click()
    for code in glaciers:  # the legend
        panel.get_by_text(code, exact=True).first.wait_for()
    text = panel.inner_text()
    for code, count in glaciers.items():
        assert re.search(rf"\b{re.escape(code)}\s+{count}\b", text), (code, count, text)
    page.wait_for_timeout(1500)
    page.screenshot(path=artifacts / "embeddings.png")
    shutil.copyfile(artifacts / "embeddings.png", SCREENSHOTS / "embeddings.png")

    assert not errors, errors
    context.close()
