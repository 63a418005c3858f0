"""Crash-resume: the real CLI is SIGKILLed (with its workers) in the middle of an ingest run, after
some clips are committed; running the same command again finishes the job with no duplicate and no
half-written clip."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import text

from db.config import LibraryLocation
from db.library import Library
from tests.fixtures import write_valid

N_FILES = 40
CLI = [sys.executable, "-c", "from dancesearch.cli import main; main()"]


def _committed(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute("SELECT count(*) FROM clips").fetchone()[0])
    except sqlite3.Error:  # not created yet, or mid-migration
        return 0


def _kill_after_first_commit(args: list[str], db: Path, timeout: float = 60.0) -> int:
    proc = subprocess.Popen(CLI + args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            n = _committed(db)
            if n > 0:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return n
            time.sleep(0.005)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    raise AssertionError(f"ingest ended (rc {proc.returncode}) before a clip was committed: "
                         f"{proc.stderr.read().decode() if proc.stderr else ''}")


def test_sigkill_mid_run_then_resume(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    write_valid(archive, N_FILES, n_frames=300)
    data = tmp_path / "lib"
    args = ["ingest", str(archive), "--data-dir", str(data), "--workers", "1", "--json"]
    _kill_after_first_commit(args, data / "library.sqlite")

    with Library.open(LibraryLocation.resolve(data)) as lib:
        at_kill = lib.list_clips()
        assert 0 < len(at_kill) < N_FILES, "the run must be killed part-way"
        windowed = {w.clip_id for w in lib.iter_windows()}
        assert all(c.id in windowed and lib.store.has(c.motion_key) for c in at_kill)

    done = subprocess.run(CLI + args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert (doc["added"], doc["skipped"], doc["failed"]) == (N_FILES - len(at_kill), len(at_kill), 0)

    with Library.open(LibraryLocation.resolve(data)) as lib:
        clips = lib.list_clips()
        assert len(clips) == N_FILES
        assert len({c.content_hash for c in clips}) == N_FILES
        assert sorted(Path(c.path).name for c in clips) == sorted(p.name for p in archive.iterdir())
        per_clip: dict[int, int] = {}
        for w in lib.iter_windows():
            per_clip[w.clip_id] = per_clip.get(w.clip_id, 0) + 1
        assert set(per_clip) == {c.id for c in clips}
        assert all(lib.load_motion(c.id).n_frames == c.frames for c in clips)
        with lib.engine.connect() as conn:
            assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        assert lib.list_errors() == []
