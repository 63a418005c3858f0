"""End-to-end test of the web page in headless Chromium (Playwright) against the service and the
fake engine: text search, playback, search by an uploaded / dropped clip, describe, generate, filters.

With DANCESEARCH_SCREENSHOTS=1 the test saves screenshots to docs/images/.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, FilePayload, Locator, Page, sync_playwright

from dancesearch.service.app import create_app
from dancesearch.service.settings import ServiceSettings
from tests.fake_engine import FakeClip, FakeEngine, walk
from tests.live_server import live_server
from tests.test_api import GOOD_BVH

CHROMIUM = Path("/usr/bin/chromium")
# WebGL runs on SwiftShader (software); newer Chromium only falls back to it when allowed explicitly.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--enable-unsafe-swiftshader"]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "images"

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed at /usr/bin/chromium "
                                                                "(apt-get install chromium, or `make test`)")]


@pytest.fixture(scope="module")
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, engine: FakeEngine) -> Iterator[str]:

    settings = ServiceSettings(data_dir=tmp_path_factory.mktemp("data"), api_key=None)
    app = create_app(settings, engine_factory=lambda _s: engine)
    with live_server(app) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@contextmanager
def watched_page(browser: Browser, url: str) -> Iterator[Page]:
    """The page at ``url`` in a fresh context; on leaving, no page errors or console errors (4xx aside)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" and not _client_error(msg.text)
          else None)
    pg.goto(url)
    yield pg
    context.close()
    assert not errors, errors


@pytest.fixture
def page(browser: Browser, server: str) -> Iterator[Page]:
    with watched_page(browser, server + "/") as pg:
        yield pg


def _client_error(text: str) -> bool:
    """Chromium logs every 4xx response; the page reports those to the user itself (tested below)."""
    return text.startswith("Failed to load resource: the server responded with a status of 4")


def snap(pg: Page, name: str) -> None:
    if os.environ.get("DANCESEARCH_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        pg.screenshot(path=str(SCREENSHOTS / name))


def distinct_colours(png: bytes) -> int:
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB").resize((120, 90))
    return len(image.getcolors(maxcolors=120 * 90) or [])


def frame_of(card: Locator) -> int:
    value = card.locator(".frame-counter").get_attribute("data-frame")
    return -1 if value is None else int(value)


def wait_playing(card: Locator) -> None:
    """The card's canvas shows a skeleton (not a flat colour) and the frame counter advances."""
    canvas = card.locator("canvas")
    canvas.wait_for(state="visible", timeout=10_000)
    first = frame_of(card)
    deadline = time.monotonic() + 5
    while frame_of(card) in (first, -1) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert frame_of(card) not in (first, -1), "the frame counter did not advance"
    assert distinct_colours(canvas.screenshot()) > 20, "the canvas is blank"


def test_text_search_plays_and_describes(page: Page) -> None:
    pg = page
    pg.fill("#query", "happy jump")
    pg.press("#query", "Enter")
    cards = pg.locator(".card")
    cards.first.wait_for(timeout=10_000)
    assert cards.count() == 1
    assert "bandai/clip2.bvh" in cards.first.inner_text()
    assert "1 result" in pg.inner_text("#status")
    assert pg.locator("#generate-box").is_hidden()
    wait_playing(cards.first)
    lo, hi = 25, 75   # the fake's span, 1-3 s at 25 fps: played by default
    assert lo <= frame_of(cards.first) < hi
    cards.first.locator(".play").click()
    paused = frame_of(cards.first)
    time.sleep(0.4)
    assert frame_of(cards.first) == paused
    cards.first.locator("button.describe").click()
    cards.first.locator(".descriptions li").first.wait_for(timeout=5_000)
    assert "a happy jump with the arms raised" in cards.first.locator(".descriptions").inner_text()
    bvh_link = cards.first.locator(".downloads a", has_text="BVH").get_attribute("href")
    assert bvh_link == "/api/clips/2/motion?format=bvh&start=1&end=3"
    snap(pg, "search-text.png")


def test_filters_and_many_cards(page: Page) -> None:
    pg = page
    pg.fill("#query", "a happy jump walking waltzes")
    pg.click("button[type=submit]")
    pg.locator(".card").nth(2).wait_for(timeout=10_000)
    assert pg.locator(".card").count() == 3
    for i in range(3):
        wait_playing(pg.locator(".card").nth(i))
    snap(pg, "results-grid.png")
    pg.fill("#f-source", "cmu")
    pg.click("button[type=submit]")
    pg.wait_for_function("document.querySelectorAll('.card').length === 1")
    assert "cmu/clip3.bvh" in pg.locator(".card").first.inner_text()


def test_upload_example_and_describe(page: Page) -> None:
    pg = page
    pg.set_input_files("#file", files=[FilePayload(name="example.bvh", mimeType="text/plain", buffer=GOOD_BVH)])
    pg.locator(".card").first.wait_for(timeout=10_000)
    assert pg.locator(".card").count() == 3
    assert "example.bvh" in pg.inner_text("#example-name")
    pg.click("#describe-example")
    pg.locator("#example-descriptions li").first.wait_for(timeout=5_000)
    assert pg.locator("#example-descriptions li").count() == 3
    wait_playing(pg.locator(".card").first)
    snap(pg, "search-example.png")


def test_by_example_match_switch(page: Page, engine: FakeEngine) -> None:
    pg = page
    pg.select_option("#f-match", "same")
    pg.set_input_files("#file", files=[FilePayload(name="example.bvh", mimeType="text/plain", buffer=GOOD_BVH)])
    pg.locator(".card").first.wait_for(timeout=10_000)
    uploads = [kw for name, kw in engine.calls if name == "search_motion"]
    assert uploads and uploads[-1]["match"] == "same"


def test_drop_zone_and_bad_file(page: Page) -> None:
    pg = page
    drop = """([name, text]) => {
        const dt = new DataTransfer();
        dt.items.add(new File([text], name));
        document.querySelector('#drop').dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true}));
    }"""
    pg.evaluate(drop, ["broken.bvh", "HIERARCHY\nROOT Hips\n{"])
    pg.wait_for_selector("#status.error")
    assert "broken.bvh" in pg.inner_text("#status")
    pg.evaluate(drop, ["dropped.bvh", GOOD_BVH.decode()])
    pg.locator(".card").first.wait_for(timeout=10_000)
    assert "example dropped.bvh" in pg.inner_text("#status")


def test_generate_when_nothing_matches(page: Page, engine: FakeEngine) -> None:
    pg = page
    pg.fill("#query", "backflip")
    pg.press("#query", "Enter")
    pg.wait_for_selector("#generate-box", state="visible")
    assert "No matches" in pg.inner_text("#status")
    pg.click("#generate")
    card = pg.locator(".card.is-generated")
    card.wait_for(timeout=10_000)
    assert "generated" in card.locator(".badge").inner_text()
    wait_playing(card)
    snap(pg, "generated.png")
    assert pg.inner_text("#generate") == "Generate another"
    pg.click("#generate")  # another draw for the same text
    pg.locator(".card.is-generated").nth(1).wait_for(timeout=10_000)
    seeds = [kw["seed"] for name, kw in engine.calls if name == "generate"]
    assert seeds[-2:] == [0, 1]
    pg.fill("#query", "cartwheel")
    pg.press("#query", "Enter")
    pg.wait_for_function("() => document.querySelector('#status').textContent.includes('No matches')")
    assert pg.inner_text("#generate") == "Generate"
    pg.click("#generate")  # a new query starts again at seed 0
    pg.wait_for_function("() => document.querySelector('#status').textContent.startsWith('Generated') && "
                         "document.querySelector('#status').textContent.includes('cartwheel')")
    assert [kw for name, kw in engine.calls if name == "generate"][-1] == {"query": "cartwheel", "seconds": 4.0,
                                                                           "seed": 0}


def test_twenty_cards_keep_few_players(page: Page, engine: FakeEngine) -> None:
    """Players are made only for cards in view, and at most a handful of WebGL contexts stay alive."""
    new_ids = range(100, 120)
    for i in new_ids:
        engine.clips[i] = FakeClip(i, walk(3.0), "extra", {}, "a shuffle step")
    try:
        pg = page
        pg.fill("#query", "shuffle")
        pg.press("#query", "Enter")
        pg.wait_for_function("document.querySelectorAll('.card').length === 20")
        pg.locator(".card canvas").first.wait_for(timeout=10_000)
        assert 1 <= pg.locator(".card canvas").count() < 20
        last = pg.locator(".card").nth(19)
        last.scroll_into_view_if_needed()
        wait_playing(last)
        assert pg.locator(".card canvas").count() <= 12
        assert pg.locator(".card").first.locator("canvas").count() == 0   # freed once out of view
    finally:
        for i in new_ids:
            engine.clips.pop(i, None)


def test_mode_switch_and_matched_words(page: Page, engine: FakeEngine) -> None:
    """Text hits explain themselves (matched words highlighted); the mode switch re-runs the query."""
    pg = page
    assert pg.locator('input[name="mode"][value="hybrid"]').is_checked()
    pg.fill("#query", "happy jump")
    pg.press("#query", "Enter")
    card = pg.locator(".card").first
    card.wait_for(timeout=10_000)
    assert engine.calls[-1][0] == "search_text" and engine.calls[-1][1]["mode"] == "hybrid"
    why = card.locator(".why").inner_text()
    assert "motion 1.00" in why and "words: happy, jump" in why and "metadata 0.50" in why
    marked = {m.lower() for m in card.locator("mark").all_inner_texts()}
    assert marked == {"happy", "jump"}    # in the description and the label chips
    assert card.locator(".description mark").count() == 2
    snap(pg, "search-hybrid.png")
    pg.check('input[name="mode"][value="motion"]')
    # the status names the mode while the request is under way ("Searching ... (motion)") too: wait for the answer
    pg.wait_for_function("(s => s.includes('(motion)') && !s.startsWith('Searching'))"
                         "(document.querySelector('#status').textContent)")
    card = pg.locator(".card").first
    card.wait_for(timeout=10_000)
    assert engine.calls[-1][1]["mode"] == "motion"
    assert card.locator("mark").count() == 0 and "words:" not in card.locator(".why").inner_text()
