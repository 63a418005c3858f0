"""The README's demo screenshots: `dancesearch demo` (the bundled sample library and the shipped model) in a
child process, searched in headless Chromium, one picture per query, saved to docs/images/demo-NAME.png.

    .venv/bin/python scripts/demo_screenshots.py                   # waltz, sad walk, pirouette
    .venv/bin/python scripts/demo_screenshots.py --out /tmp/shots  # elsewhere

Needs Debian's chromium (`make chromium`). The demo library is built in a temporary data directory, so an
existing one is not touched.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

QUERIES = {"waltz": "a slow waltz turn", "sad-walk": "sad walk, shoulders slumped", "pirouette": "pirouette"}
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--enable-unsafe-swiftshader"]


def wait_until_up(url: str, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"error: `dancesearch demo` exited with {proc.returncode} before serving")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(1.0)
    raise SystemExit(f"error: the demo did not answer at {url} within {timeout_s:.0f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "images")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the demo to serve")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    from dancesearch.bench.server import free_port

    port = free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        proc = subprocess.Popen([str(REPO / ".venv" / "bin" / "dancesearch"), "demo", "--port", str(port),
                                 "--data-dir", data_dir], cwd=REPO)
        try:
            url = f"http://127.0.0.1:{port}/"
            wait_until_up(url, proc, args.timeout)
            args.out.mkdir(parents=True, exist_ok=True)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(url)
                for name, query in QUERIES.items():
                    page.fill("#query", query)
                    page.press("#query", "Enter")
                    page.locator(".card").first.wait_for(timeout=30_000)
                    time.sleep(2.0)  # let the cards' players draw a few frames
                    path = args.out / f"demo-{name}.png"
                    page.screenshot(path=str(path))
                    print(f"{query!r}: {path}")
                browser.close()
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
