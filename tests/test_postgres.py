"""Ingest through the CLI on PostgreSQL (each test in its own, uniquely named database). The library
contract itself (migrations, clips, windows, splits, errors, deletion) runs on SQLite and PostgreSQL alike
in tests/test_db_library.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures import write_broken, write_valid

pytestmark = pytest.mark.postgres


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
