"""``dancesearch demo`` and the bundled sample library (``samples/``).

The demo runs twice on a temporary data directory with the session's tiny model: the first run
ingests and indexes every sample, the second adds nothing, rebuilds nothing and is quick. A real
server is started once to check that it answers. The sample manifest must describe every sample file
exactly (path, labels, split, content hash), and the licences must travel with the data.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dancesearch.cli import app

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
SUMMARY = re.compile(r"samples: added (\d+), already there (\d+), failed (\d+); library (\d+) clips")


def manifest_entries() -> list[dict[str, Any]]:
    return json.loads((SAMPLES / "manifest.json").read_text())["sequences"]


def demo(data_dir: Path, model: Path) -> tuple[tuple[int, ...], float]:
    """Run ``demo --no-serve`` in-process: ((added, skipped, failed, clips), seconds)."""
    t0 = time.perf_counter()
    result = CliRunner().invoke(app, ["demo", "--no-serve", "--data-dir", str(data_dir), "--model", str(model)],
                                catch_exceptions=False)
    seconds = time.perf_counter() - t0
    assert result.exit_code == 0, result.output
    match = SUMMARY.search(result.stdout)
    assert match, result.stdout
    return tuple(int(g) for g in match.groups()), seconds


def index_files(data_dir: Path) -> dict[str, int]:
    """Index files (relative to DATA_DIR/indexes) and their modification times."""
    folder = data_dir / "indexes"
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def demo_dir(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory prepared by one ``demo --no-serve`` run (checked in the first test)."""
    data_dir = tmp_path_factory.mktemp("demo")
    counts, _ = demo(data_dir, tiny_model)
    n = len(manifest_entries())
    assert counts == (n, 0, 0, n)
    return data_dir


def test_second_demo_run_adds_and_rebuilds_nothing(demo_dir: Path, tiny_model: Path) -> None:
    before = index_files(demo_dir)
    assert any(name.startswith("windows") for name in before) and any(name.startswith("descriptions")
                                                                        for name in before)
    n = len(manifest_entries())
    counts, seconds = demo(demo_dir, tiny_model)
    assert counts == (0, n, 0, n)
    assert index_files(demo_dir) == before, "the second run rewrote an index"
    assert seconds < 10, f"second demo run took {seconds:.1f} s"


def test_demo_library_has_the_manifest_labels(demo_dir: Path) -> None:
    from db.config import LibraryLocation
    from db.library import Library

    by_path = {str((SAMPLES / e["file"]).resolve()): e for e in manifest_entries()}
    with Library.open(LibraryLocation.resolve(demo_dir)) as lib:
        clips = lib.list_clips()
    assert {c.path for c in clips} == set(by_path)
    for clip in clips:
        entry = by_path[clip.path]
        assert clip.labels == entry["labels"] and clip.source == entry["source"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_json(url: str, timeout: float = 2.0) -> tuple[int, dict[str, Any]]:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, json.loads(response.read())


def test_demo_serves_the_prepared_library(demo_dir: Path, tiny_model: Path) -> None:
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.pop("DANCESEARCH_API_KEY", None)
    cmd = [sys.executable, "-c", "from dancesearch.cli import main; main()", "demo", "--port", str(port),
           "--data-dir", str(demo_dir), "--model", str(tiny_model)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=REPO)
    try:
        health: dict[str, Any] = {}
        while time.perf_counter() - t0 < 60 and proc.poll() is None:
            try:
                status, health = get_json(f"http://127.0.0.1:{port}/api/health")
                if status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        serving = time.perf_counter() - t0
        assert health.get("engine_loaded") is True, f"not serving after {serving:.1f} s (exit code {proc.poll()})"
        status, page = get_json(f"http://127.0.0.1:{port}/api/search/text?query=a%20waltz&k=2&generate=never",
                                timeout=30)
        assert status == 200 and len(page["results"]) == 2
        _, info = get_json(f"http://127.0.0.1:{port}/api/status")
        assert info["clips"] == len(manifest_entries())
        assert serving < 30, f"the demo took {serving:.1f} s to serve"
    finally:
        proc.terminate()
        output = proc.communicate(timeout=30)[0].decode()
    assert f"http://127.0.0.1:{port}/" in output


def test_demo_without_a_model_fails_clearly(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "--no-serve", "--data-dir", str(tmp_path)], catch_exceptions=False)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "dancesearch train --corpus ../shared/corpus --out models/default" in result.stderr


def test_sample_manifest_covers_every_sample_file() -> None:
    from motion.formats import classify

    entries = manifest_entries()
    listed = {(SAMPLES / e["file"]).resolve() for e in entries}
    assert len(listed) == len(entries)
    on_disk = {p.resolve() for p in SAMPLES.rglob("*") if p.is_file() and classify(p) == "motion"}
    assert on_disk == listed
    for entry in entries:
        assert {"id", "source", "file", "format", "labels", "split", "sha256"} <= set(entry)
        assert isinstance(entry["labels"], dict) and entry["labels"], entry["id"]
        assert entry["split"] in ("train", "val", "test") or isinstance(entry["split"], dict)
        with gzip.open(SAMPLES / entry["file"], "rb") as fh:
            assert hashlib.sha256(fh.read()).hexdigest() == entry["sha256"], entry["file"]


def test_samples_span_the_sources_and_carry_their_licences() -> None:
    entries = manifest_entries()
    sources = {e["source"] for e in entries}
    assert sources == {"ballroom", "perfume", "cmu", "bandai-1", "bandai-2"}
    genres = {e["labels"].get("genre") for e in entries if e["source"] == "ballroom"}
    assert genres == {"waltz", "rumba", "cha-cha", "tango"}
    assert sum(e["source"] == "cmu" and e["labels"]["dance"] for e in entries) >= 7
    assert sum(e["source"].startswith("bandai") for e in entries) >= 25
    for licence in ("bandai/dataset-1/LICENSE", "bandai/dataset-2/LICENSE", "perfume/LICENSE"):
        assert (SAMPLES / licence).stat().st_size > 500
    readme = (SAMPLES / "README.md").read_text()
    assert "CC BY-NC 4.0" in readme and "Tang" in readme and "Perfume" in readme and "CMU" in readme
    total = sum(p.stat().st_size for p in SAMPLES.rglob("*") if p.is_file())
    assert total < 9_000_000, f"samples/ is {total / 1e6:.1f} MB"
