"""Bad input never stops an ingest run and never corrupts the library: every class of broken file
is recorded with its path and a reason, the good files are ingested, non-motion files are ignored,
worker crashes are contained, and errors are resolved once the file is fixed."""

from __future__ import annotations

import gzip
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from db.config import LibraryLocation
from db.library import Library
from indexer import ingest_worker
from indexer.ingest import Ingester, IngestOptions
from tests.fixtures import BROKEN, make_bvh, write_broken, write_ignored, write_valid

# A loose description of what each defect's reason must mention.
EXPECTED_REASON = {
    "truncated": r"truncat", "truncated_header": r"truncat|MOTION", "wrong_channels": r"channel|values",
    "non_numeric": r"numeric", "nan": r"nan|infinite", "inf": r"nan|infinite", "zero_frames": r"frame",
    "absurd_fps": r"frame rate|frame time", "zero_fps": r"frame rate|frame time", "unknown_rig": r"rig",
    "binary_junk": r"binary|text", "gz_junk": r"gzip", "not_gzip": r"gzip", "empty": r"empty",
    "bad_json": r"json", "corrupt_zip": r"cannot unpack the archive", "zip_slip": r"outside the archive's folder",
    "corrupt_tar": r"cannot unpack the archive", "seven_zip": r"archive \(\.7z\).*cannot unpack.*7z x",
}


def _check_library_sound(lib: Library) -> None:
    """The database is intact and every clip has windows and its stored motion."""
    with lib.engine.connect() as conn:
        assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    clips = lib.list_clips()
    with_windows = {w.clip_id for w in lib.iter_windows()}
    assert {c.id for c in clips} == with_windows
    assert all(lib.store.has(c.motion_key) for c in clips)


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One CLI-equivalent run over an archive mixing every broken class, good and ignored files."""
    root = tmp_path_factory.mktemp("bad_archive")
    broken = write_broken(root / "broken")
    good = write_valid(root / "good", 3)
    ignored = write_ignored(root / "docs")
    data = tmp_path_factory.mktemp("bad_lib")
    lib = Library.open(LibraryLocation.resolve(data))
    summary = Ingester(lib, IngestOptions(workers=2, progress=False)).run([root])
    return {"lib": lib, "summary": summary, "broken": broken, "good": good, "ignored": ignored, "data": data}


def test_run_completes_with_good_files_and_counts(bad_run: dict[str, Any]) -> None:
    s = bad_run["summary"]
    assert (s.added, s.failed, s.ignored, s.skipped) == (len(bad_run["good"]), len(BROKEN),
                                                         len(bad_run["ignored"]), 0)
    _check_library_sound(bad_run["lib"])


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_each_broken_class_is_recorded_with_a_reason(bad_run: dict[str, Any], name: str) -> None:
    path = str(bad_run["broken"][name])
    errs = [e for e in bad_run["lib"].list_errors() if e.path == path]
    assert len(errs) == 1, f"{name}: expected one error for {path}"
    assert errs[0].reason.strip()
    assert re.search(EXPECTED_REASON[name], errs[0].reason, re.IGNORECASE), errs[0].reason


def test_errors_command_lists_them(bad_run: dict[str, Any], cli: Any) -> None:
    res = cli("errors", "--json", "--data-dir", bad_run["data"])
    assert res.exit_code == 0
    listed = json.loads(res.stdout)
    assert {e["path"] for e in listed} == {str(p) for p in bad_run["broken"].values()}
    assert all(e["reason"] and not e["resolved"] for e in listed)
    plain = cli("errors", "--data-dir", bad_run["data"]).stdout
    assert all(str(p) in plain for p in bad_run["broken"].values())


def test_fixed_file_resolves_its_error(tmp_path: Path, data_dir: Path, cli: Any) -> None:
    broken = write_broken(tmp_path / "arch", ["nan", "truncated"])
    first = json.loads(cli("ingest", tmp_path / "arch", "--json", "--data-dir", data_dir, "--workers", "0").stdout)
    assert (first["added"], first["failed"]) == (0, 2)
    broken["nan"].write_text(make_bvh(30, shift=7.0))  # the user fixes one file
    second = json.loads(cli("ingest", tmp_path / "arch", "--json", "--data-dir", data_dir, "--workers", "0").stdout)
    assert (second["added"], second["failed"]) == (1, 1)
    open_errors = json.loads(cli("errors", "--json", "--data-dir", data_dir).stdout)
    # The still-broken file failed in both runs; the fixed one has no open error.
    assert [e["path"] for e in open_errors] == [str(broken["truncated"])] * 2
    every = json.loads(cli("errors", "--json", "--all", "--data-dir", data_dir).stdout)
    assert [e["resolved"] for e in every if e["path"] == str(broken["nan"])] == [True]


def test_files_over_the_size_limit(tmp_path: Path, data_dir: Path, cli: Any) -> None:
    big = write_valid(tmp_path / "arch", 1, n_frames=40)[0]  # ~50 kB on disk
    bomb = tmp_path / "arch" / "bomb.bvh.gz"  # small on disk, large once inflated
    one = make_bvh(1, shift=3.0)
    head, row = one.partition("Frames:")[0], one.strip().splitlines()[-1]
    body = head + "Frames:\t2000\nFrame Time:\t0.0333333\n" + (row + "\n") * 2000
    bomb.write_bytes(gzip.compress(body.encode()))
    assert big.stat().st_size > 20_000 and bomb.stat().st_size < 20_000
    res = cli("ingest", tmp_path / "arch", "--json", "--max-file-mb", "0.02", "--data-dir", data_dir,
              "--workers", "0")
    assert json.loads(res.stdout)["failed"] == 2
    with Library.open(LibraryLocation.resolve(data_dir)) as lib:
        reasons = {Path(e.path).name: e.reason for e in lib.list_errors()}
        assert lib.stats().clips == 0
    assert "larger than the limit" in reasons[big.name] and "--max-file-mb" in reasons[big.name]
    assert "uncompressed" in reasons[bomb.name]
    # Both are valid motion: with the default limit they ingest and their errors are resolved.
    res = cli("ingest", tmp_path / "arch", "--json", "--data-dir", data_dir, "--workers", "0")
    assert (json.loads(res.stdout)["added"], json.loads(res.stdout)["failed"]) == (2, 0)
    assert json.loads(cli("errors", "--json", "--data-dir", data_dir).stdout) == []


def test_worker_crash_and_memory_error_do_not_stop_the_run(tmp_path: Path, data_dir: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    write_valid(tmp_path / "arch", 6)
    write_valid(tmp_path / "arch", 1, prefix="crash", start=10)
    write_valid(tmp_path / "arch", 1, prefix="oom", start=11)
    real = ingest_worker._canonicalise

    def flaky(path: Path, *args: Any) -> Any:
        if path.name.startswith("crash"):
            os._exit(3)  # the worker process dies (as if killed by the OOM killer)
        if path.name.startswith("oom"):
            raise MemoryError
        return real(path, *args)

    monkeypatch.setattr(ingest_worker, "_canonicalise", flaky)  # inherited by forked workers
    with Library.open(LibraryLocation.resolve(data_dir)) as lib:
        summary = Ingester(lib, IngestOptions(workers=2, progress=False, start_method="fork")).run([tmp_path / "arch"])
        assert (summary.added, summary.failed) == (6, 2)
        reasons = {Path(e.path).name: e.reason for e in lib.list_errors()}
        assert set(reasons) == {"crash_010.bvh", "oom_011.bvh"}
        assert "crashed" in reasons["crash_010.bvh"] and "memory" in reasons["oom_011.bvh"]
        _check_library_sound(lib)
