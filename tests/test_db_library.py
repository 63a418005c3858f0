"""The library contract, one battery run against SQLite and PostgreSQL alike (issue 11): migrations vs
models, atomic clips with windows, splits, queries, errors, statistics, relocation and deletion. Tests of
SQLite specifics (pragmas, the file in the data directory) run on SQLite only. The PostgreSQL runs use a
fresh database each (``postgres_url``) and are marked ``postgres``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select, text

from db.config import LibraryLocation
from db.library import Library, LibraryError
from db.migrate import alembic_config, current_revision, head_revision
from db.models import Base, Clip, Window
from db.records import NewClip
from db.splits import SplitError, window_splits


def _clip(lib: Library, n: int = 120, h: str = "a", **kw: object) -> NewClip:
    key = lib.store.put(np.full((n, 19, 3), ord(h[0]), np.float32))
    fields: dict = {"source": "src", "path": f"/data/{h}.bvh", "content_hash": h * 64, "format": "bvh",
                    "orig_fps": 25.0, "orig_frames": n, "frames": n, "motion_key": key}
    fields.update(kw)
    return NewClip(**fields)


WINDOWS = [(0, 50), (20, 70), (40, 90), (70, 120)]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def library(request: pytest.FixtureRequest, data_dir: Path) -> Iterator[Library]:
    """An open, empty library on each backend (overrides the SQLite-only fixture of conftest)."""
    db_url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    with Library.open(LibraryLocation.resolve(data_dir, db_url)) as lib:
        assert lib.engine.dialect.name == request.param
        yield lib


@pytest.fixture
def sqlite_library(data_dir: Path) -> Iterator[Library]:
    with Library.open(LibraryLocation.resolve(data_dir)) as lib:
        yield lib


def test_migrations_match_models(library: Library) -> None:
    with library.engine.connect() as conn:
        assert current_revision(conn) == head_revision() is not None
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_downgrade_and_upgrade_again(library: Library) -> None:
    cfg = alembic_config()
    with library.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    from sqlalchemy import inspect

    assert set(inspect(library.engine).get_table_names()) == {"alembic_version"}
    with Library.open(library.location) as again:
        assert again.stats().clips == 0


def test_sqlite_pragmas(sqlite_library: Library) -> None:
    with sqlite_library.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30000


def test_add_clip_with_windows_and_read_back(library: Library) -> None:
    clip_id, added = library.add_clip(_clip(library, labels={"genre": "waltz"}, description="a waltz",
                                            split="train"), WINDOWS)
    assert added
    info = library.get_clip(clip_id)
    assert (info.source, info.frames, info.duration, info.labels, info.description, info.split) == \
        ("src", 120, 4.8, {"genre": "waltz"}, "a waltz", "train")
    assert info.created_at.tzinfo is not None
    assert library.find_clip_by_hash("a" * 64) == info
    assert library.find_clip_by_hash("b" * 64) is None
    wins = list(library.iter_windows())
    assert [(w.start, w.end, w.split, w.clip_id) for w in wins] == [(a, b, "train", clip_id) for a, b in WINDOWS]
    motion = library.load_motion(clip_id)
    assert motion.positions.shape == (120, 19, 3) and motion.fps == 25.0
    assert motion.joint_names[0] == "pelvis" and motion.meta["clip_id"] == clip_id


def test_duplicate_content_is_not_added_twice(library: Library) -> None:
    first, _ = library.add_clip(_clip(library), WINDOWS)
    again, added = library.add_clip(_clip(library, path="/elsewhere/renamed.bvh"), WINDOWS)
    assert (again, added) == (first, False)
    assert library.stats().clips == 1 and library.stats().windows == len(WINDOWS)


def test_add_clip_is_atomic(library: Library, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_a: object) -> int:
        raise RuntimeError("crash after windows were inserted")

    monkeypatch.setattr(Library, "_resolve", staticmethod(fail))
    with pytest.raises(RuntimeError):
        library.add_clip(_clip(library), WINDOWS)
    with library.session() as s:
        assert s.scalar(select(func.count(Clip.id))) == 0
        assert s.scalar(select(func.count(Window.id))) == 0


def test_add_clip_needs_stored_motion_and_windows(library: Library) -> None:
    with pytest.raises(LibraryError, match="not in the store"):
        library.add_clip(_clip(library, motion_key="0" * 64), WINDOWS)
    with pytest.raises(LibraryError, match="at least one window"):
        library.add_clip(_clip(library), [])
    assert library.stats().clips == 0


def test_frame_range_split_windows(library: Library) -> None:
    # Original frames at 50 fps: train [0, 120) = canonical [0, 60), test [120, 240) = [60, 120).
    split = {"train": [0, 120], "test": [120, 240]}
    clip_id, _ = library.add_clip(_clip(library, orig_fps=50.0, orig_frames=240, split=split), WINDOWS)
    assert [w.split for w in library.iter_windows()] == ["train", "none", "none", "test"]
    assert [w.start for w in library.iter_windows(split="test")] == [70]
    assert library.get_clip(clip_id).split == split


def test_window_splits_with_dropped_leading_frames() -> None:
    # 60 fps source, one T-pose frame dropped: original frame 121 is canonical frame 50.
    split = {"train": [0, 121], "test": [121, 301]}
    assert window_splits(split, [(0, 50), (50, 100), (25, 75)], 60.0, orig_offset=1) == \
        ["train", "test", "none"]
    assert window_splits(None, [(0, 50)], 25.0) == [None]
    with pytest.raises(SplitError):
        window_splits({"train": [10, 0]}, [(0, 50)], 25.0)
    with pytest.raises(SplitError):
        window_splits(["train"], [(0, 50)], 25.0)


def test_update_metadata_rederives_window_splits(library: Library) -> None:
    clip_id, _ = library.add_clip(_clip(library, split="train"), WINDOWS)
    assert library.update_clip_metadata(clip_id, {"genre": "tango"}, None, {"train": [0, 60], "test": [60, 120]})
    assert not library.update_clip_metadata(clip_id, {"genre": "tango"}, None, {"train": [0, 60], "test": [60, 120]})
    assert [w.split for w in library.iter_windows()] == ["train", "none", "none", "test"]
    assert library.get_clip(clip_id).labels == {"genre": "tango"}


def test_list_clips_filters(library: Library) -> None:
    library.add_clip(_clip(library, h="a", source="cmu", split="train", labels={"dance": True}), WINDOWS)
    library.add_clip(_clip(library, h="b", source="cmu", split="test", labels={"dance": False}), WINDOWS)
    library.add_clip(_clip(library, h="c", source="ballroom", split={"train": [0, 60], "test": [60, 120]}),
                     WINDOWS)
    assert [c.content_hash[0] for c in library.list_clips()] == ["a", "b", "c"]
    assert [c.content_hash[0] for c in library.list_clips(source="cmu")] == ["a", "b"]
    assert [c.content_hash[0] for c in library.list_clips(split="test")] == ["b", "c"]
    assert [c.content_hash[0] for c in library.list_clips(labels={"dance": True})] == ["a"]
    assert [c.content_hash[0] for c in library.list_clips(limit=1, offset=1)] == ["b"]
    assert {w.source for w in library.iter_windows(source="ballroom")} == {"ballroom"}
    stats = library.stats()
    assert (stats.clips, stats.windows, stats.frames) == (3, 12, 360)
    assert stats.sources == {"cmu": 2, "ballroom": 1}
    assert stats.window_splits == {"train": 5, "test": 5, "none": 2}
    with pytest.raises(LibraryError, match="no clip with id 99"):
        library.get_clip(99)


def test_errors_recorded_listed_and_resolved(library: Library) -> None:
    library.record_error("/data/x.bvh", "truncated", run="r1")
    library.record_error("/data/y.bvh", "NaN values", run="r1")
    errs = library.list_errors()
    assert [(e.path, e.reason, e.run, e.resolved) for e in errs] == \
        [("/data/y.bvh", "NaN values", "r1", False), ("/data/x.bvh", "truncated", "r1", False)]
    assert errs[0].created_at.tzinfo is not None
    library.add_clip(_clip(library, path="/data/x.bvh"), WINDOWS)  # the file was fixed
    assert [e.path for e in library.list_errors()] == ["/data/y.bvh"]
    assert [(e.path, e.resolved) for e in library.list_errors(include_resolved=True)] == \
        [("/data/y.bvh", False), ("/data/x.bvh", True)]
    assert library.stats().errors == 1


def test_relocate_clip(library: Library) -> None:
    clip_id, _ = library.add_clip(_clip(library), WINDOWS)
    library.relocate_clip(clip_id, "/new/place.bvh", 10, 20)
    assert library.get_clip(clip_id).path == "/new/place.bvh"
    assert library.known_files()["/new/place.bvh"] == (10, 20, clip_id)


def test_open_creates_data_dir_and_reopens(tmp_path: Path) -> None:
    loc = LibraryLocation.resolve(tmp_path / "a" / "b")
    with Library.open(loc) as lib:
        lib.add_clip(_clip(lib), WINDOWS)
    assert (tmp_path / "a" / "b" / "library.sqlite").is_file()
    with Library.open(loc) as lib:
        assert lib.stats().clips == 1


def test_json_values_and_source_root_round_trip(library: Library) -> None:
    labels = {"genre": "tango", "dance": True, "take": 2, "tags": ["slow", "close"], "tempo": {"bpm": 120.5}}
    split = {"train": [0, 60], "test": [60, 120]}
    clip_id, _ = library.add_clip(_clip(library, labels=labels, split=split, source_root="/data"), WINDOWS)
    got = library.get_clip(clip_id)
    assert (got.labels, got.split, got.source_root) == (labels, split, "/data")
    assert [c.id for c in library.list_clips(split="test", labels={"dance": True})] == [clip_id]
    assert library.list_clips()[0].source_root == "/data"


def test_delete_clip_removes_its_rows_only(library: Library) -> None:
    from db import annotations as ann_db

    keep, _ = library.add_clip(_clip(library, h="a", description="kept"), WINDOWS)
    gone, _ = library.add_clip(_clip(library, h="b", description="going"), WINDOWS)
    ann_db.add_descriptions(library, [ann_db.NewDescription("going", "clip", clip_id=gone)])
    windows, descriptions = ann_db.delete_clip(library, gone)
    assert len(windows) == len(WINDOWS) and len(descriptions) == 1
    assert [c.id for c in library.list_clips()] == [keep]
    assert {w.clip_id for w in library.iter_windows()} == {keep}
    assert not [d for d in ann_db.list_descriptions(library) if d.clip_id == gone]
    with pytest.raises(LibraryError):
        ann_db.delete_clip(library, gone)
    assert (library.stats().clips, library.stats().windows) == (1, len(WINDOWS))


def test_startup_check_repairs_store_and_rows(library: Library) -> None:
    """search.recovery on each backend: orphan motions and temp files go, a clip whose motion was lost is
    removed with a recorded error, and nothing is removed while a writer holds the lock."""
    from db.locks import WritersLock
    from search.recovery import recover

    kept, _ = library.add_clip(_clip(library, h="a"), WINDOWS)
    lost, _ = library.add_clip(_clip(library, h="b", path="/data/lost.bvh"), WINDOWS)
    orphan = library.store.put(np.full((10, 19, 3), 9, np.float32))
    (library.store.path_for(orphan).parent / ".deadbeef-x.tmp").write_bytes(b"half")
    library.store.delete(library.get_clip(lost).motion_key)
    with WritersLock(library.location.data_dir).shared():
        busy = recover(library)
    # Rows are repaired under a live writer too (a committed clip always has its motion); files are not.
    assert busy.files_locked and busy.clips_missing_motion == 1 and library.store.has(orphan)
    report = recover(library)
    assert (report.orphan_motions, report.clips_missing_motion, report.temp_files) == (1, 0, 1)
    assert not report.files_locked and [c.id for c in library.list_clips()] == [kept]
    assert set(library.store.keys()) == {library.get_clip(kept).motion_key}
    assert [e.path for e in library.list_errors()] == ["/data/lost.bvh"]
    assert not recover(library).repaired()
