"""The App's Model Evaluation panel on a demo-like dataset with a scored model.

The dataset is built as `make demo` builds it (24 medium images, the
synthetic zone model shifted_front scored on the test split); the App server
runs with FIFTYONE_PLUGINS_DIR at the project's plugins folder, as the README
launches it. Headless Chromium opens the panel, sees the model's evaluation
listed, opens it and finds the CaFFe figures (the plugin @caffe/metrics'
custom metrics) in its summary with the values of metrics.json. The
screenshot is the README's (workflow/report/screenshots/model-evaluation.png).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

ROUTER_LOADING = "entry is loading"
pytestmark = [pytest.mark.slow, pytest.mark.mongod, pytest.mark.timeout(1800)]

VIEWPORT = {"width": 1400, "height": 860}
PANEL = "model_evaluation_panel_builtin"  # the built-in panel's name (FiftyOne 1.22.1)
REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "workflow" / "report" / "screenshots" / "model-evaluation.png"
LABELS = {"mde": "CaFFe MDE (m, pooled)", "iou": "CaFFe zone IoU (mean over images)"}


def _metric(panel, label: str) -> float:
    """The value in the summary row of `label` (the panel rounds to 3 digits)."""
    row = panel.locator("tr", has_text=label)
    row.wait_for()
    cells = row.locator("td").all_inner_texts()
    assert cells[0].strip() == label, cells
    return float(re.sub(r"[^0-9.\-]", "", cells[1]))


def test_model_evaluation_panel(browser, scored_app_url, scored_dataset, artifacts, open_page):
    name, model = scored_dataset["name"], scored_dataset["model"]
    results = scored_dataset["workdir"] / "results" / name / "evaluation" / model
    metrics = json.loads((results / "metrics.json").read_text())
    test_images = metrics["images_evaluated"] + metrics["images_missing"]["count"]
    assert metrics["kind"] == "zones" and metrics["mde_m"] is not None

    context, page, errors = open_page(browser, VIEWPORT)

    page.goto(f"{scored_app_url}/datasets/{name}")
    page.wait_for_selector("[data-cy=entry-counts]")
    page.click("[data-cy=new-panel-btn]")
    page.click(f"[data-cy=new-panel-option-{PANEL}]")
    panel = page.locator(f"[data-cy=panel-content-{PANEL}]")

    # The list of evaluations: the model's run (eval_key = the model's name).
    panel.get_by_text("1 Model Evaluations").wait_for()
    panel.get_by_text(model, exact=True).click()

    # Its summary: FiftyOne's pixel metrics and the plugin's custom metrics.
    panel.get_by_text("Summary", exact=True).wait_for()
    mde = _metric(panel, LABELS["mde"])
    iou = _metric(panel, LABELS["iou"])
    assert mde == pytest.approx(metrics["mde_m"], abs=1e-3)
    assert iou == pytest.approx(metrics["zones"]["iou"]["mean"], abs=1e-3)
    assert mde > 5  # the model's fronts lie 3 pixels off
    for label in ("Accuracy", "Precision", "Recall"):
        assert panel.locator("tr", has_text=label).count() >= 1
    # The panel loads the run's view: the test split.
    page.wait_for_function(
        "n => document.querySelector('[data-cy=entry-counts]').innerText.trim() === `${n} samples`",
        arg=test_images,
    )
    page.wait_for_function(
        "n => document.querySelectorAll('[data-cy=looker] canvas[canvas-loaded=true]').length >= n",
        arg=test_images,
    )
    page.mouse.move(5, VIEWPORT["height"] - 5)  # no hover effects in the picture
    page.wait_for_timeout(500)  # let the last tiles paint before the screenshot
    page.screenshot(path=artifacts / "model-evaluation.png")
    shutil.copyfile(artifacts / "model-evaluation.png", SCREENSHOT)

    # FiftyOne's App router throws this when the page reads its route while
    # the panel's view change loads the next one; the App goes on (the counts
    # and tiles above were reached). Any other page error fails the test.
    assert not [e for e in errors if e != ROUTER_LOADING], errors
    print("model evaluation panel:", json.dumps({"mde_m": mde, "zone_iou": iou}))
    context.close()
