"""The library and ingest on PostgreSQL (each test in its own, uniquely named database)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from db.config import LibraryLocation
from db.library import Library
from db.migrate import current_revision, head_revision
from db.models import Base
from db.records import NewClip
from tests.fixtures import write_broken, write_valid

pytestmark = pytest.mark.postgres


def test_migrations_match_models_on_postgres(postgres_url: str, data_dir: Path) -> None:
    with Library.open(LibraryLocation.resolve(data_dir, postgres_url)) as lib:
        assert lib.engine.dialect.name == "postgresql"
        with lib.engine.connect() as conn:
            assert current_revision(conn) == head_revision()
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_library_api_on_postgres(postgres_url: str, data_dir: Path) -> None:
    with Library.open(LibraryLocation.resolve(data_dir, postgres_url)) as lib:
        key = lib.store.put(np.ones((120, 19, 3), np.float32))
        clip = NewClip("ballroom", "/d/t.json", "c" * 64, "ballroom-json", 25.0, 120, 120, key,
                       labels={"genre": "tango", "dance": True},
                       split={"train": [0, 60], "test": [60, 120]})
        windows = [(0, 50), (20, 70), (70, 120)]
        clip_id, added = lib.add_clip(clip, windows)
        assert added and lib.add_clip(clip, windows) == (clip_id, False)
        got = lib.get_clip(clip_id)
        assert (got.labels, got.split, got.created_at.tzinfo is not None) == \
            ({"genre": "tango", "dance": True}, {"train": [0, 60], "test": [60, 120]}, True)
        assert [w.split for w in lib.iter_windows()] == ["train", "none", "test"]
        assert [c.id for c in lib.list_clips(split="test", labels={"dance": True})] == [clip_id]
        lib.record_error("/d/bad.bvh", "truncated")
        assert [e.reason for e in lib.list_errors()] == ["truncated"]
        stats = lib.stats()
        assert (stats.clips, stats.windows, stats.errors, stats.sources) == (1, 3, 1, {"ballroom": 1})
        assert lib.load_motion(clip_id).positions.shape == (120, 19, 3)


def test_cli_ingest_on_postgres(postgres_url: str, tmp_path: Path, data_dir: Path, cli: Any,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    write_valid(tmp_path / "arch", 4)
    write_broken(tmp_path / "arch", ["nan", "binary_junk"])
    first = cli("ingest", tmp_path / "arch", "--json", "--db", postgres_url, "--data-dir", data_dir)
    assert first.exit_code == 1, first.output  # some files failed (exit codes: README)
    assert {k: json.loads(first.stdout)[k] for k in ("added", "failed", "skipped")} == \
        {"added": 4, "failed": 2, "skipped": 0}
    # The environment variable selects the same database.
    monkeypatch.setenv("DANCESEARCH_DB", postgres_url)
    again = json.loads(cli("ingest", tmp_path / "arch", "--json", "--data-dir", data_dir).stdout)
    assert (again["added"], again["skipped"], again["failed"]) == (0, 4, 2)
    errors = json.loads(cli("errors", "--json", "--data-dir", data_dir).stdout)
    assert len(errors) == 4 and {Path(e["path"]).name for e in errors} == {"nan.bvh", "junk.bvh"}
    clips = json.loads(cli("clips", "--json", "--data-dir", data_dir).stdout)
    assert len(clips) == 4 and {c["source"] for c in clips} == {"arch"}
