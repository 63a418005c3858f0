"""The library API on SQLite: migrations vs models, atomic clips with windows, splits, queries,
errors and statistics."""

from __future__ import annotations

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


def test_migrations_match_models(library: Library) -> None:
    with library.engine.connect() as conn:
        assert current_revision(conn) == head_revision() is not None
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_downgrade_and_upgrade_again(library: Library) -> None:
    cfg = alembic_config()
    with library.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    with library.engine.connect() as conn:
        tables = {r[0] for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type='table'"))}
    assert tables == {"alembic_version"}
    with Library.open(library.location) as again:
        assert again.stats().clips == 0


def test_sqlite_pragmas(library: Library) -> None:
    with library.engine.connect() as conn:
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
