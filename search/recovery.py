"""The start-up check: after a crash (``kill -9`` of ``dancesearch serve`` in the middle of an ingest, a
reindex or a delete) the library (SQL), the motion store and the indexes are made to agree again.

What a crash can leave, and what :func:`recover` does about it (run by ``Engine.open`` before the index
sync, which then brings every index in line with the DB, see :mod:`search.indexes`):

* SQL is transactional: a clip is committed with all its windows or not at all, a delete removes the
  clip, its windows and descriptions or nothing. A clip whose motion is missing from the store (its file
  lost behind the library's back) cannot be served: it is deleted and an ingest error is recorded for
  its path, so ``dancesearch errors`` says to ingest the file again.
* The motion store is written before the DB commit and cleaned after a delete: motions no clip
  references (an ingest killed between the two, a delete killed before its cleanup) and temporary
  ``.tmp`` files are removed.
* Files an ingest took ownership of (HTTP uploads) are listed in a journal (``DATA_DIR/journal``)
  before the ingest starts and the journal is removed when it ends; an unfinished journal means the
  ingest was interrupted: its files that no clip references are removed (with their folder once empty).
* Index folders: the temporary and previous copies :meth:`search.ann.base.AnnIndex.save` leaves when
  killed mid-save (``indexes/.NAME.tmp-*``, ``.NAME.old-*``) are removed; a missing or unreadable index
  is rebuilt by the sync.

File removal happens only while the library's writers' lock (:mod:`db.locks`) is free, i.e. no ingest
or engine is writing in any process; otherwise it is skipped (and logged) until the next start.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from db import annotations as ann_db
from db.library import Library, LibraryError
from db.locks import WritersLock
from db.models import Clip

logger = logging.getLogger(__name__)

JOURNAL_DIRNAME = "journal"
GENERATED_TMP_AGE_S = 60.0


@dataclass
class RecoveryReport:
    """What the start-up check found and repaired (counts only: no paths leave the server)."""

    checked: bool = False
    files_locked: bool = False  # another writer was running: file removal skipped
    clips_missing_motion: int = 0
    orphan_motions: int = 0
    interrupted_ingests: int = 0
    orphan_uploads: int = 0
    index_leftovers: int = 0
    temp_files: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def repaired(self) -> bool:
        return any((self.clips_missing_motion, self.orphan_motions, self.interrupted_ingests,
                    self.orphan_uploads, self.index_leftovers, self.temp_files))


def _journal_dir(lib: Library) -> Path:
    return lib.location.data_dir / JOURNAL_DIRNAME


@contextmanager
def ingest_journal(lib: Library, paths: Sequence[Path], owned: bool) -> Iterator[None]:
    """Around an ingest of files the library owns (``owned``): the journal lists them while it runs; if the
    ingest raises, the files no clip references are removed at once; if the process dies, at the next
    start (:func:`recover`). Files of a finished ingest are kept (failed ones stay for ``errors``)."""
    if not owned:
        yield
        return
    folder = _journal_dir(lib)
    folder.mkdir(parents=True, exist_ok=True)
    entry = folder / f"ingest-{uuid.uuid4().hex}.json"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".journal-", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"paths": [str(Path(p).resolve()) for p in paths]}, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, entry)
    try:
        yield
    except BaseException:
        _undo_ingest(lib, entry)
        raise
    entry.unlink(missing_ok=True)


def _undo_ingest(lib: Library, entry: Path) -> int:
    """Remove the journal's files that no clip references (and their folders once empty); the count."""
    try:
        paths = [Path(p) for p in json.loads(entry.read_text(encoding="utf-8")).get("paths", [])]
    except (OSError, ValueError, AttributeError) as exc:
        logger.warning("unreadable ingest journal %s: %s", entry.name, exc)
        paths = []
    referenced = set(lib.known_files())
    data_dir = lib.location.data_dir.resolve()
    removed = 0
    for path in paths:
        if str(path) in referenced or not path.is_relative_to(data_dir):
            continue   # a clip's file, or not the library's to delete
        if path.is_file():
            path.unlink(missing_ok=True)
            removed += 1
    for folder in sorted({p.parent for p in paths}, key=lambda p: len(p.parts), reverse=True):
        if folder.is_relative_to(data_dir) and folder != data_dir and folder.is_dir():
            if not any(folder.iterdir()):
                folder.rmdir()
    entry.unlink(missing_ok=True)
    return removed


def _clips_without_motion(lib: Library) -> list[tuple[int, str]]:
    with lib.session() as s:
        rows = s.execute(select(Clip.id, Clip.path, Clip.motion_key)).all()
    return [(int(r.id), str(r.path)) for r in rows if not lib.store.has(r.motion_key)]


def motion_in_use(lib: Library, key: str) -> bool:
    """Whether any clip references the stored motion ``key``."""
    with lib.session() as s:
        return s.scalar(select(Clip.id).where(Clip.motion_key == key).limit(1)) is not None


def _referenced_keys(lib: Library) -> set[str]:
    with lib.session() as s:
        return {str(k) for k in s.scalars(select(Clip.motion_key))}


def _index_leftovers(root: Path) -> int:
    removed = 0
    if root.is_dir():
        for entry in root.iterdir():
            if entry.name.startswith(".") and (".tmp-" in entry.name or ".old-" in entry.name):
                shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
                removed += 1
    return removed


def recover(lib: Library) -> RecoveryReport:
    """Run the start-up check on an open library (see the module docstring); the report."""
    t0 = time.perf_counter()
    report = RecoveryReport(checked=True)
    with WritersLock(lib.location.data_dir).exclusive_if_free() as free:
        if not free:
            report.files_locked = True
            logger.info("start-up check: another writer holds the library; leftover files are kept for now")
        for clip_id, path in _clips_without_motion(lib):
            try:
                ann_db.delete_clip(lib, clip_id)
            except LibraryError:
                continue
            lib.record_error(path, "its stored motion was missing after a crash or an outside deletion; "
                                   "the clip was removed: ingest the file again")
            report.clips_missing_motion += 1
        if free:
            journal = _journal_dir(lib)
            for entry in sorted(journal.glob("ingest-*.json")) if journal.is_dir() else []:
                report.orphan_uploads += _undo_ingest(lib, entry)
                report.interrupted_ingests += 1
            for tmp in journal.glob(".journal-*.tmp") if journal.is_dir() else []:
                tmp.unlink(missing_ok=True)
                report.temp_files += 1
            before = sum(1 for _ in lib.store.root.glob("??/.*.tmp")) if lib.store.root.is_dir() else 0
            removed = lib.store.remove_orphans(_referenced_keys(lib))
            report.temp_files += before
            report.orphan_motions += removed - before
            report.index_leftovers += _index_leftovers(lib.location.data_dir / "indexes")
            generated = lib.location.data_dir / "generated"
            for tmp in generated.glob(".gen-*.tmp") if generated.is_dir() else []:
                try:
                    old = time.time() - tmp.stat().st_mtime > GENERATED_TMP_AGE_S
                except FileNotFoundError:
                    continue
                if old:
                    tmp.unlink(missing_ok=True)
                    report.temp_files += 1
    report.seconds = round(time.perf_counter() - t0, 3)
    if report.repaired():
        logger.warning("start-up check repaired the library: %s", report.to_json())
    return report
