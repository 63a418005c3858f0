"""Crash-restart consistency (issue 11): ``kill -9`` of a real ``dancesearch serve`` in the middle of an HTTP
ingest, a reindex and a delete; after a restart the library (SQL), the motion store and every index agree
(the start-up check, :mod:`search.recovery`, and the index sync repair what the kill left), no clip is
half-written and no file is left over.

Each test runs the real CLI with the shipped model (``models/default``) in a subprocess on a copy of one
library ingested once per module, kills it with SIGKILL at the moment described, restarts it, checks the
repaired library over HTTP, stops it and checks every file and row.
"""

from __future__ import annotations

import collections
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from dancesearch.bench.server import free_port
from tests.fixtures import write_valid

pytestmark = pytest.mark.slow

MODEL = Path(__file__).resolve().parents[1] / "models" / "default"
KEY = "crash-test-key"
START_TIMEOUT_S = 240.0


@pytest.fixture(scope="module")
def base_library(tmp_path_factory: pytest.TempPathFactory, corpus: Path) -> Path:
    """A library of 60 small BVH clips (about 1,000 windows), ingested by the CLI, not yet indexed."""
    root = tmp_path_factory.mktemp("crash-base")
    write_valid(root / "archive", 60, n_frames=400)
    data_dir = root / "lib"
    result = subprocess.run([sys.executable, "-c", "from dancesearch.cli import main; main()", "ingest",
                             str(root / "archive"), "--data-dir", str(data_dir), "--workers", "0", "--json"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return data_dir


@pytest.fixture
def library(base_library: Path, tmp_path: Path) -> Path:
    """A private copy of the base library (indexes included once a server built them)."""
    target = tmp_path / "lib"
    shutil.copytree(base_library, target)
    return target


# For the reindex crash: every index save pauses for a second after writing its temporary folder and before
# moving it into place, so a kill lands inside the save, the step a crash can leave half done (the code
# path is unchanged).
SLOW_SAVE = """
import time, search.ann.base as base
_fsync = base._fsync_tree
def _slow(path):
    _fsync(path)
    time.sleep(1.0)
base._fsync_tree = _slow
"""


class Server:
    """``dancesearch -v serve`` in a subprocess over ``data_dir``; its log goes to ``log``."""

    def __init__(self, data_dir: Path, log: Path, prelude: str = "") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "DANCESEARCH_API_KEY": KEY, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
               "DANCESEARCH_TORCH_THREADS": "1"}
        env.pop("DANCESEARCH_DB", None)
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-c", prelude + "\nfrom dancesearch.cli import main; main()", "-v", "serve", "--port",
             str(self.port), "--data-dir", str(data_dir), "--model", str(MODEL)],
            env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT)  # noqa: SIM115 - owned by the child
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"serve exited with {self.proc.returncode}:\n{self.tail()}"
            try:
                if httpx.get(f"{self.url}/api/health", timeout=2).json().get("engine_loaded"):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.proc.kill()
        raise AssertionError(f"serve did not start within {START_TIMEOUT_S:g} s:\n{self.tail()}")

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def log_has(self, text: str, since: int) -> bool:
        return text in self.log.read_text(errors="replace")[since:]

    def log_size(self) -> int:
        return len(self.log.read_text(errors="replace"))

    def kill9(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@contextmanager
def serving(data_dir: Path, log: Path, prelude: str = "") -> Iterator[Server]:
    server = Server(data_dir, log, prelude)
    try:
        yield server
    finally:
        if server.proc.poll() is None:
            server.stop()


def _in_background(fn: Any) -> threading.Thread:
    def run() -> None:
        try:
            fn()
        except httpx.HTTPError:
            pass   # the server was killed under this request
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _clip_count(data_dir: Path) -> int:
    import sqlite3

    with sqlite3.connect(f"file:{data_dir / 'library.sqlite'}?mode=ro", uri=True, timeout=5) as conn:
        return int(conn.execute("SELECT count(*) FROM clips").fetchone()[0])


# --- the consistency check -----------------------------------------------------------------------------
def assert_consistent_over_http(server: Server) -> dict[str, Any]:
    """The restarted service: status reports the start-up check; hits and clips are whole."""
    status = httpx.get(f"{server.url}/api/status", timeout=30).json()
    assert status["startup_check"]["checked"] and not status["startup_check"]["files_locked"]
    assert status["indexes"]["windows"]["size"] == status["windows"]
    hits = httpx.get(f"{server.url}/api/search/text", params={"query": "a person bowing", "k": 10,
                                                               "generate": "never"}, timeout=60).json()["results"]
    assert hits
    for hit in hits:
        info = httpx.get(f"{server.url}/api/clips/{hit['clip_id']}", timeout=30)
        assert info.status_code == 200, info.text
        motion = httpx.get(f"{server.url}{hit['motion_url']}", timeout=30).json()
        assert motion["n_frames"] == round(info.json()["duration"] * 25)
    return dict(status)


def assert_consistent_files(data_dir: Path) -> dict[str, int]:
    """Rows, store and every index agree; no temporary, orphan or journal file is left."""
    from db import annotations as ann_db
    from db.config import LibraryLocation
    from db.library import Library
    from search.ann import load as load_index
    from search.indexes import INDEXED_KINDS

    with Library.open(LibraryLocation.resolve(data_dir)) as lib:
        clips = lib.list_clips()
        windows = list(lib.iter_windows())
        per_clip = collections.Counter(w.clip_id for w in windows)
        for clip in clips:   # no half-written clip: windows, stored motion
            assert per_clip[clip.id] > 0, f"clip {clip.id} has no windows"
            assert lib.store.has(clip.motion_key), f"clip {clip.id} lacks its motion"
        assert set(lib.store.keys()) == {c.motion_key for c in clips}, "orphan motions in the store"
        assert not list(lib.store.root.glob("??/.*.tmp"))
        win_index = load_index(data_dir / "indexes" / "windows")
        assert set(win_index.ids().tolist()) == {w.id for w in windows}
        assert {w.model_version for w in windows} == {win_index.metadata["model_version"]}
        descriptions = [d for d in ann_db.list_descriptions(lib) if d.kind in INDEXED_KINDS]
        desc_index = load_index(data_dir / "indexes" / "descriptions")
        assert set(desc_index.ids().tolist()) == {d.id for d in descriptions}
        meta_index = load_index(data_dir / "indexes" / "metadata")
        assert set(meta_index.ids().tolist()) <= {c.id for c in clips}
        clip_paths = {c.path for c in clips}
        error_paths = {e.path for e in lib.list_errors(include_resolved=True)}
    leftovers = [p.name for p in (data_dir / "indexes").iterdir() if p.name.startswith(".")]
    assert not leftovers, leftovers
    journal = data_dir / "journal"
    assert not (journal.exists() and any(journal.iterdir())), "an ingest journal was left"
    uploads = [p for p in (data_dir / "uploads").rglob("*") if p.is_file()] if (data_dir / "uploads").exists() else []
    stray = [p for p in uploads if str(p) not in clip_paths and str(p) not in error_paths]
    assert not stray, f"uploads no clip or error refers to: {stray}"
    return {"clips": len(clips), "windows": len(windows), "uploads": len(uploads)}


# --- the three crashes -----------------------------------------------------------------------------------
def test_kill_during_http_ingest(library: Path, tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    uploads = write_valid(tmp_path / "new", 80, n_frames=400, start=500, prefix="upload")
    with serving(library, log) as server:
        before = _clip_count(library)
        files = [("files", (p.name, p.read_bytes(), "application/octet-stream")) for p in uploads]
        request = _in_background(lambda: httpx.post(f"{server.url}/api/ingest", files=files,
                                                    headers={"X-API-Key": KEY}, timeout=300))
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and _clip_count(library) == before:
            time.sleep(0.02)
        during = _clip_count(library)
        assert before < during < before + len(uploads), "the ingest was not caught in the middle"
        server.kill9()
        request.join(30)
    assert (library / "journal").is_dir() and list((library / "journal").glob("ingest-*.json"))
    with serving(library, log) as server:
        status = assert_consistent_over_http(server)
        check = status["startup_check"]
        assert check["interrupted_ingests"] == 1 and check["orphan_uploads"] > 0
        assert before < status["clips"] < before + len(uploads)
    counts = assert_consistent_files(library)
    assert counts["clips"] == status["clips"] and counts["uploads"] == status["clips"] - before


def test_kill_during_reindex(library: Path, tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    indexes = library / "indexes"
    with serving(library, log, SLOW_SAVE) as server:
        mark = server.log_size()
        request = _in_background(lambda: httpx.post(f"{server.url}/api/reindex", headers={"X-API-Key": KEY},
                                                    timeout=300))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list(indexes.glob(".windows.tmp-*")):
            time.sleep(0.005)
        server.kill9()         # the new windows index is written but not yet moved into place
        request.join(30)
        assert server.log_has("(rebuild requested)", mark), server.tail()
    assert list(indexes.glob(".windows.tmp-*")), "the kill missed the index save"
    with serving(library, log) as server:
        status = assert_consistent_over_http(server)
        assert status["clips"] == 60 and status["startup_check"]["index_leftovers"] >= 1
    counts = assert_consistent_files(library)
    assert counts["clips"] == 60


def test_kill_during_delete(library: Path, tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    with serving(library, log) as server:
        ids = [c["id"] for c in httpx.get(f"{server.url}/api/clips", params={"limit": 100}).json()["clips"]]
        done: list[int] = []

        def delete_all() -> None:
            with httpx.Client(base_url=server.url, headers={"X-API-Key": KEY}, timeout=60) as client:
                for clip_id in ids:
                    assert client.delete(f"/api/clips/{clip_id}").status_code == 204
                    done.append(clip_id)

        request = _in_background(delete_all)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(done) < 5:
            time.sleep(0.005)
        time.sleep(0.03)       # the next delete is being served (each takes about 0.1 s)
        server.kill9()
        request.join(30)
        assert 5 <= len(done) < len(ids)
    with serving(library, log) as server:
        status = assert_consistent_over_http(server)
        # Every delete answered 204 is complete; the one in flight happened wholly or not at all.
        assert status["clips"] in (len(ids) - len(done), len(ids) - len(done) - 1)
        for clip_id in done:
            assert httpx.get(f"{server.url}/api/clips/{clip_id}").status_code == 404
    counts = assert_consistent_files(library)
    assert counts["clips"] == status["clips"]
