"""The web page's "Beyond search" panel in headless Chromium (Playwright) against the real service: the
shipped model over a library of two Bandai clips, served once for the module. Interpolation and
stylize play their motions side by side (skeletons drawn, frame counters advancing), classify lists
the probabilities of the labels given with their spans, and bad input is reported on the panel's
status line.

With DANCESEARCH_SCREENSHOTS=1 the test saves pictures of the panel to docs/images/web-*.png.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page

from tests.live_server import live_server
from tests.test_browser import CHROMIUM, SCREENSHOTS, browser, wait_playing, watched_page

__all__ = ["browser"]   # the module-scoped Chromium of tests/test_browser.py, shared as a fixture

MODEL = Path(__file__).resolve().parents[1] / "models" / "default"
FILES = {"run": "run_feminine_020", "wave": "wave-left-hand_active_001"}
KEY = "browser-test-key"

pytestmark = [pytest.mark.browser, pytest.mark.slow,   # about 25 s: the model loads and two clips are ingested
              pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed at /usr/bin/chromium "
                                                                "(apt-get install chromium, or `make test`)"),
              pytest.mark.skipif(not (MODEL / "capabilities.json").is_file(), reason=f"no shipped model at {MODEL}")]


@pytest.fixture(scope="module")
def library(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, int]]]:
    """The service over the shipped model and two ingested clips: ``(base URL, {"run"|"wave": clip id})``."""

    from dancesearch.engine_factory import open_engine
    from dancesearch.service.app import create_app
    from dancesearch.service.settings import ServiceSettings

    data_dir = tmp_path_factory.mktemp("capabilities-web")
    engine = open_engine(MODEL, data_dir)
    engine.ingest_workers = 0   # in this process: no pool to start for two files
    engine.ingest([corpus / f"bandai/dataset-2/dataset-2_{f}.bvh.gz" for f in FILES.values()])
    clips: list[dict[str, Any]] = engine.list_clips()
    ids = {key: next(c["id"] for c in clips if name in str(c.get("source_path"))) for key, name in FILES.items()}
    app = create_app(ServiceSettings(data_dir=data_dir, api_key=KEY, model=MODEL), engine_factory=lambda _s: engine)
    with live_server(app) as port:
        yield f"http://127.0.0.1:{port}", ids
    engine.close()


@pytest.fixture
def panel(browser: Browser, library: tuple[str, dict[str, int]]) -> Iterator[Page]:
    """The page with the Beyond search panel opened; no page errors or console errors (4xx aside)."""
    with watched_page(browser, library[0] + "/") as pg:
        pg.click("#explore summary")
        pg.locator("#interpolate-form").wait_for(state="visible")
        yield pg


def status_after(pg: Page, pending: str) -> Locator:
    """The panel's status line once the request that showed ``pending`` has answered."""
    pg.wait_for_function("(p) => !document.querySelector('#explore-status').textContent.startsWith(p)",
                         arg=pending, timeout=30_000)
    return pg.locator("#explore-status")


def side_by_side(cells: Locator, min_size: float = 100) -> None:
    """The cells (at least ``min_size`` px each way) sit in one row, left to right, none overlapping the next."""
    boxes = [cells.nth(i).bounding_box() for i in range(cells.count())]
    assert len(boxes) > 1 and all(b and b["width"] > min_size and b["height"] > min_size for b in boxes), boxes
    for left, right in zip(boxes, boxes[1:], strict=False):
        assert left is not None and right is not None
        assert abs(left["y"] + left["height"] / 2 - right["y"] - right["height"] / 2) < 2, boxes
        assert right["x"] >= left["x"] + left["width"], boxes


def snap_panel(pg: Page, name: str) -> None:
    if os.environ.get("DANCESEARCH_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        pg.locator("#explore").screenshot(path=str(SCREENSHOTS / name))


def test_interpolation_plays_side_by_side(panel: Page, library: tuple[str, dict[str, int]]) -> None:
    pg, ids = panel, library[1]
    pg.fill("#interp-a", f"clip:{ids['run']}")
    pg.fill("#interp-b", "a person waves")
    pg.fill("#interp-steps", "4")
    pg.click("#interpolate-form button")
    status = status_after(pg, "Interpolating")
    assert status.get_attribute("class") == "status", status.inner_text()
    assert f"4 motions from “clip:{ids['run']}” to “a person waves” (vae decoder)" in status.inner_text()
    steps = pg.locator("#interpolation .step")
    assert steps.count() == 4
    assert [s.split("\n")[0] for s in steps.locator("figcaption").all_inner_texts()] == [
        "t = 0.00", "t = 0.33", "t = 0.67", "t = 1.00"]
    for i in range(4):
        wait_playing(steps.nth(i))
    side_by_side(steps)
    snap_panel(pg, "web-interpolate.png")
    pg.click("#explore summary")   # closing the panel pauses the players
    # The details' toggle event (which pauses them) is queued as a task after the click: wait for it,
    # then for two animation frames, so a frame drawn before the pause is not taken for the paused one.
    pg.wait_for_function("() => !document.querySelector('#explore').open")
    pg.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")
    paused = steps.first.locator(".frame-counter").get_attribute("data-frame")
    time.sleep(0.4)
    assert steps.first.locator(".frame-counter").get_attribute("data-frame") == paused


def test_stylize_plays_beside_the_original(panel: Page, library: tuple[str, dict[str, int]]) -> None:
    pg, ids = panel, library[1]
    side_by_side(pg.locator("#stylize-form").locator("#stylize-clip, #stylize-style, button"), min_size=20)
    pg.fill("#stylize-clip", str(ids["run"]))
    pg.fill("#stylize-style", "elderly")
    pg.click("#stylize-form button")
    status = status_after(pg, "Restyling")
    assert status.get_attribute("class") == "status", status.inner_text()
    from explore.settings import CapabilitySettings

    chosen = CapabilitySettings.load(MODEL)  # the method and strength calibrated on val
    said = f"clip {ids['run']} restyled as “elderly”"
    if chosen.style_method in ("adain", "pose"):  # these predict the clip's own style and say it
        assert status.inner_text().startswith(said + " from “")
    else:
        assert status.inner_text() == said
    cells = pg.locator("#interpolation .step")
    assert cells.count() == 2
    captions = [s.split("\n")[0] for s in cells.locator("figcaption").all_inner_texts()]
    assert captions[0] == f"clip {ids['run']}"
    assert captions[1].startswith(f"elderly ({chosen.style_method}, {chosen.style_strength:g}")
    for i in range(2):
        wait_playing(cells.nth(i))
    side_by_side(cells)
    snap_panel(pg, "web-stylize.png")


def test_classify_lists_the_labels_probabilities(panel: Page, library: tuple[str, dict[str, int]]) -> None:
    pg, ids = panel, library[1]
    pg.fill("#classify-clip", str(ids["run"]))
    pg.fill("#classify-labels", "walk, run, wave left hand")
    pg.click("#classify-form button")
    status = status_after(pg, "Classifying")
    assert status.get_attribute("class") == "status", status.inner_text()
    rows = pg.locator("#classification .prob")
    assert rows.count() == 3
    labels = rows.locator(".prob-label").all_inner_texts()
    values = [float(v) for v in rows.locator(".prob-value").all_inner_texts()]
    assert sorted(labels) == ["run", "walk", "wave left hand"] and labels[0] == "run"
    assert values == sorted(values, reverse=True) and abs(sum(values) - 1) < 0.01
    assert status.inner_text().startswith(f"clip {ids['run']}: run (")
    meters = rows.locator("meter")
    assert float(meters.first.get_attribute("value") or 0) == pytest.approx(values[0], abs=1e-3)
    assert all((b := meters.nth(i).bounding_box()) and b["width"] > 150 for i in range(3))   # bars, not dots
    spans = pg.locator("#classification .spans li").all_inner_texts()
    assert spans and all(" s: " in s and s.split(" s: ")[1].rsplit(" ", 1)[0] in labels for s in spans)
    snap_panel(pg, "web-classify.png")


def test_bad_input_is_reported(panel: Page, library: tuple[str, dict[str, int]]) -> None:
    pg, ids = panel, library[1]

    def error_after(form: str, pending: str) -> str:
        pg.click(f"{form} button")
        status = status_after(pg, pending)
        assert "error" in (status.get_attribute("class") or ""), status.inner_text()
        return status.inner_text()

    pg.fill("#classify-clip", str(ids["wave"]))
    assert "at least two labels" in error_after("#classify-form", "Classifying")   # empty label list
    pg.fill("#classify-labels", "run")
    assert "at least two labels" in error_after("#classify-form", "Classifying")
    assert pg.locator("#classification .prob").count() == 0
    pg.fill("#classify-clip", "")
    pg.fill("#classify-labels", "walk, run")
    assert "give a clip id" in error_after("#classify-form", "Classifying")
    pg.fill("#classify-clip", "99999")
    assert "no clip with id 99999" in error_after("#classify-form", "Classifying")
    pg.fill("#interp-a", f"clip:{ids['wave']}")
    assert "give both ends" in error_after("#interpolate-form", "Interpolating")
    pg.fill("#interp-b", "clip:99999")
    assert "no clip with id 99999" in error_after("#interpolate-form", "Interpolating")
    pg.fill("#stylize-clip", str(ids["wave"]))
    assert "style: " in error_after("#stylize-form", "Restyling")   # no style: FastAPI's validation, readable
    assert pg.locator("#interpolation .step").count() == 0
    assert all(not b.is_disabled() for b in pg.locator("#explore button").all())


def test_drop_zone_keeps_the_right_column(panel: Page) -> None:
    """The search box, the rank-by switch and the filters stack on the left; the drop zone stands on the right."""
    pg = panel
    boxes = {sel: pg.locator(sel).bounding_box() for sel in ("#search", "#mode", ".filters", "#drop")}
    assert all(boxes.values()), boxes
    search, mode, filters, drop = (boxes[s] for s in ("#search", "#mode", ".filters", "#drop"))
    assert search and mode and filters and drop
    assert drop["x"] >= search["x"] + search["width"] and drop["y"] == pytest.approx(search["y"], abs=1)
    assert search["y"] < mode["y"] < filters["y"] and filters["x"] == pytest.approx(search["x"], abs=1)
    assert filters["width"] > 600   # the five filter fields are readable, not squeezed into the side column


def test_strip_frees_hidden_cards_players(browser: Browser, library: tuple[str, dict[str, int]]) -> None:
    """A 12-step strip needs 12 WebGL contexts (Chromium keeps 16): result cards out of view give theirs
    back while it is shown, and play again when scrolled to."""
    url, ids = library
    context = browser.new_context(viewport={"width": 1400, "height": 700})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        pg.goto(url + "/")
        pg.fill("#query", "a person runs")
        pg.press("#query", "Enter")
        cards = pg.locator(".card")
        cards.first.wait_for(timeout=10_000)
        wait_playing(cards.first)
        pg.click("#explore summary")
        pg.fill("#interp-a", f"clip:{ids['wave']}")
        pg.fill("#interp-b", f"clip:{ids['run']}")
        pg.fill("#interp-steps", "12")
        pg.evaluate("document.querySelector('#explore').scrollIntoView({block: 'start'})")
        pg.click("#interpolate-form button")
        status = status_after(pg, "Interpolating")
        assert status.inner_text().startswith("12 motions from"), status.inner_text()
        steps = pg.locator("#interpolation .step")
        # the page only grows tall enough for the panel to reach the top once the strip is in it
        pg.evaluate("document.querySelector('#explore').scrollIntoView({block: 'start'})")
        steps.last.scroll_into_view_if_needed()
        wait_playing(steps.last)
        assert steps.locator("canvas").count() == 12
        pg.wait_for_function("document.querySelector('.card canvas') === null", timeout=5_000)
        assert cards.first.locator(".poster").is_visible()
        pg.evaluate("window.scrollTo(0, 0)")
        wait_playing(cards.first)
    finally:
        context.close()
    assert not errors, errors


def test_a_concept_learned_on_the_panel_is_listed_and_found_by_its_name(panel: Page,
                                                                         library: tuple[str, dict[str, int]]) -> None:
    pg, ids = panel, library[1]
    examples = f"clip:{ids['run']}, clip:{ids['run']}@0.4-2.8"
    pg.fill("#concept-name", "myrun")
    pg.fill("#concept-clips", examples)
    pg.click("#concept-form button")   # no key typed: the write is refused, the message says why
    status = status_after(pg, "Learning")
    assert status.get_attribute("class") == "status error" and "X-API-Key" in status.inner_text()
    assert pg.locator("#concepts li").count() == 0
    pg.fill("#concept-key", KEY)
    pg.click("#concept-form button")
    status = status_after(pg, "Learning")
    assert status.get_attribute("class") == "status", status.inner_text()
    assert status.inner_text() == "learned <myrun> from 2 clips: type <myrun> in a search"
    assert pg.locator("#concepts li").all_inner_texts() == [f"<myrun> from {examples}"]
    pg.fill("#query", "<myrun>")
    pg.press("#query", "Enter")
    cards = pg.locator(".card")
    cards.first.wait_for(timeout=10_000)
    assert FILES["run"] in cards.first.inner_text()
