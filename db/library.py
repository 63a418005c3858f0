"""The motion library API every other layer uses: clips, windows and ingest errors.

``Library.open(location)`` connects to the database (SQLite in the data directory, or any URL),
migrates it to the newest schema and opens the motion store in ``DATA_DIR/motions``. A clip is added
in one transaction together with all its windows and the resolution of earlier errors for its path,
so a clip row never exists without its windows; its motion must already be in the store (the
ingest pipeline writes it first). Reads return frozen records from :mod:`db.records`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.config import LibraryLocation
from db.migrate import upgrade_to_head
from db.models import Clip, IngestError, Source, Window, utcnow
from db.records import ClipInfo, ErrorInfo, LibraryStats, NewClip, WindowInfo
from db.session import create_library_engine, make_sessionmaker
from db.splits import validate_split, window_splits
from db.store import MotionStore
from motion.data import Motion
from motion.skeleton import CANONICAL_FPS, JOINTS, PARENTS

log = logging.getLogger(__name__)


class LibraryError(RuntimeError):
    """A library request that cannot be served (unknown clip, inconsistent input)."""


def _aware(ts: datetime) -> datetime:
    """`ts` as timezone-aware UTC (SQLite returns naive timestamps)."""
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


def _clip_info(clip: Clip, source: str, root: str | None = None) -> ClipInfo:
    return ClipInfo(clip.id, source, clip.path, clip.content_hash, clip.format, clip.rig,
                    clip.orig_fps, clip.orig_frames, clip.frames, clip.duration, dict(clip.labels or {}),
                    clip.description, clip.split, clip.motion_key, _aware(clip.created_at),
                    dict(clip.details or {}), root)


def _labels_match(labels: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    return all(labels.get(k) == v for k, v in wanted.items())


class Library:
    """An open library. Use as a context manager or call :meth:`close`."""

    def __init__(self, location: LibraryLocation, migrate: bool = True) -> None:
        self.location = location
        location.data_dir.mkdir(parents=True, exist_ok=True)
        self.engine = create_library_engine(location.db_url)
        if migrate:
            upgrade_to_head(self.engine)
        self._sessions = make_sessionmaker(self.engine)
        self.store = MotionStore(location.data_dir / "motions")
        self._source_ids: dict[str, int] = {}

    @classmethod
    def open(cls, location: LibraryLocation | None = None, *, migrate: bool = True) -> Library:
        """Open (creating and migrating as needed) the library at `location` (default: resolved)."""
        return cls(location or LibraryLocation.resolve(), migrate=migrate)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A session inside one transaction: committed on success, rolled back on error."""
        with self._sessions.begin() as session:
            yield session

    # ---- writing -------------------------------------------------------------------------------

    def ensure_source(self, session: Session, name: str, root: str | None = None) -> int:
        """The id of source `name`, created if missing (inside the caller's transaction)."""
        sid = self._source_ids.get(name)
        if sid is not None:
            return sid
        sid = session.scalar(select(Source.id).where(Source.name == name))
        if sid is None:
            src = Source(name=name, root=root)
            session.add(src)
            session.flush()
            sid = src.id
        self._source_ids[name] = sid
        return sid

    def add_clip(self, clip: NewClip, windows: Sequence[tuple[int, int]]) -> tuple[int, bool]:
        """Add `clip` with its `windows` ([start, end) canonical frames) in one transaction.

        Returns ``(clip_id, added)``; ``added`` is False when a clip with the same content hash
        already exists (nothing is written then). Errors recorded for the clip's path are resolved.
        """
        return self.add_clips([(clip, windows)])[0]

    def add_clips(self, items: Sequence[tuple[NewClip, Sequence[tuple[int, int]]]]) -> list[tuple[int, bool]]:
        """Add several clips with their windows in one transaction (see :meth:`add_clip`).

        If any of them is already present the batch is retried clip by clip, so the result is the
        same as adding them one at a time: ``(clip_id, added)`` per item, in order.
        """
        for clip, windows in items:
            if not self.store.has(clip.motion_key):
                raise LibraryError(f"motion {clip.motion_key} of {clip.path} is not in the store")
            if not windows:
                raise LibraryError(f"{clip.path}: a clip needs at least one window")
        try:
            with self.session() as s:
                ids = self._insert_batch(s, items)
            return [(i, True) for i in ids]
        except IntegrityError:
            self._source_ids.clear()
            if len(items) > 1:
                return [self.add_clips([item])[0] for item in items]
            existing = self.find_clip_by_hash(items[0][0].content_hash)
            if existing is None:
                raise
            return [(existing.id, False)]
        except BaseException:
            self._source_ids.clear()
            raise

    def _insert_batch(self, s: Session, items: Sequence[tuple[NewClip, Sequence[tuple[int, int]]]]) -> list[int]:
        rows = [self._clip_row(s, clip) for clip, _ in items]
        ids = list(s.scalars(insert(Clip).returning(Clip.id, sort_by_parameter_order=True), rows))
        window_rows = []
        for clip_id, (clip, windows) in zip(ids, items, strict=True):
            splits = window_splits(clip.split, windows, clip.orig_fps, clip.orig_offset)
            window_rows += [{"clip_id": clip_id, "start": a, "end": b, "split": sp}
                            for (a, b), sp in zip(windows, splits, strict=True)]
        s.execute(insert(Window), window_rows)
        self._resolve(s, *[clip.path for clip, _ in items])
        return ids

    def _clip_row(self, s: Session, clip: NewClip) -> dict[str, Any]:
        return {"source_id": self.ensure_source(s, clip.source, clip.source_root), "path": clip.path,
                "content_hash": clip.content_hash, "format": clip.format, "rig": clip.rig,
                "orig_fps": float(clip.orig_fps), "orig_frames": int(clip.orig_frames),
                "orig_offset": int(clip.orig_offset), "frames": int(clip.frames),
                "duration": clip.frames / CANONICAL_FPS, "labels": dict(clip.labels),
                "description": clip.description, "split": validate_split(clip.split),
                "motion_key": clip.motion_key, "file_size": clip.file_size,
                "file_mtime_ns": clip.file_mtime_ns, "details": dict(clip.details or {}),
                "created_at": utcnow()}

    def update_clip_metadata(self, clip_id: int, labels: Mapping[str, Any], description: str | None,
                             split: Any) -> bool:
        """Replace a clip's labels, description and split (re-deriving window splits) if they differ.

        Returns whether anything changed.
        """
        split = validate_split(split)
        with self.session() as s:
            clip = s.get(Clip, clip_id)
            if clip is None:
                raise LibraryError(f"no clip with id {clip_id}")
            if (clip.labels, clip.description, clip.split) == (dict(labels), description, split):
                return False
            clip.labels, clip.description, clip.split = dict(labels), description, split
            rows = s.execute(select(Window.id, Window.start, Window.end)
                             .where(Window.clip_id == clip_id)).all()
            new = window_splits(split, [(r.start, r.end) for r in rows], clip.orig_fps, clip.orig_offset)
            if rows:
                s.execute(update(Window), [{"id": r.id, "split": sp} for r, sp in zip(rows, new, strict=True)])
        return True

    def relocate_clip(self, clip_id: int, path: str, file_size: int | None = None,
                      file_mtime_ns: int | None = None) -> None:
        """Point a clip at the new path of its (renamed or moved) file; resolves that path's errors."""
        with self.session() as s:
            res = s.execute(update(Clip).where(Clip.id == clip_id).values(
                path=path, file_size=file_size, file_mtime_ns=file_mtime_ns))
            if not getattr(res, "rowcount", 0):
                raise LibraryError(f"no clip with id {clip_id}")
            self._resolve(s, path)

    def record_error(self, path: str, reason: str, run: str | None = None) -> int:
        """Record that `path` failed to ingest because of `reason`; returns the error id."""
        with self.session() as s:
            err = IngestError(path=path, reason=reason, run=run, created_at=utcnow(), resolved=False)
            s.add(err)
            s.flush()
            return err.id

    def resolve_errors(self, path: str) -> int:
        """Mark the unresolved errors of `path` resolved (it ingested fine); returns how many."""
        with self.session() as s:
            return self._resolve(s, path)

    @staticmethod
    def _resolve(s: Session, *paths: str) -> int:
        res = s.execute(update(IngestError)
                        .where(IngestError.path.in_(paths), IngestError.resolved.is_(False))
                        .values(resolved=True, resolved_at=utcnow()))
        return int(getattr(res, "rowcount", 0) or 0)

    # ---- reading -------------------------------------------------------------------------------

    def get_clip(self, clip_id: int) -> ClipInfo:
        """The clip `clip_id`; raises :class:`LibraryError` if there is none."""
        with self.session() as s:
            row = s.execute(select(Clip, Source.name, Source.root).join(Source).where(Clip.id == clip_id)).first()
        if row is None:
            raise LibraryError(f"no clip with id {clip_id}")
        return _clip_info(row[0], row[1], row[2])

    def find_clip_by_hash(self, content_hash: str) -> ClipInfo | None:
        """The clip whose uncompressed file content has sha256 `content_hash`, if any."""
        with self.session() as s:
            row = s.execute(select(Clip, Source.name, Source.root).join(Source)
                            .where(Clip.content_hash == content_hash)).first()
        return None if row is None else _clip_info(row[0], row[1], row[2])

    def list_clips(self, source: str | None = None, split: str | None = None,
                   labels: Mapping[str, Any] | None = None, limit: int | None = None,
                   offset: int = 0) -> list[ClipInfo]:
        """Clips by id, filtered by source name, split (clips with any part in it) and label values."""
        q = select(Clip, Source.name, Source.root).join(Source).order_by(Clip.id)
        if source is not None:
            q = q.where(Source.name == source)
        out: list[ClipInfo] = []
        skipped = 0
        with self.session() as s:
            for clip, src, root in s.execute(q.execution_options(yield_per=500)):
                if split is not None and not (clip.split == split or
                                              (isinstance(clip.split, dict) and split in clip.split)):
                    continue
                if labels and not _labels_match(clip.labels or {}, labels):
                    continue
                if skipped < offset:
                    skipped += 1
                    continue
                out.append(_clip_info(clip, src, root))
                if limit is not None and len(out) >= limit:
                    break
        return out

    def iter_windows(self, split: str | None = None, source: str | None = None,
                     clip_id: int | None = None) -> Iterator[WindowInfo]:
        """Windows ordered by clip and start, optionally only of one split, source or clip."""
        q = (select(Window, Source.name).join(Clip, Window.clip_id == Clip.id).join(Source)
             .order_by(Window.clip_id, Window.start))
        if split is not None:
            q = q.where(Window.split == split)
        if source is not None:
            q = q.where(Source.name == source)
        if clip_id is not None:
            q = q.where(Window.clip_id == clip_id)
        with self.session() as s:
            for w, src in s.execute(q.execution_options(yield_per=2000)):
                yield WindowInfo(w.id, w.clip_id, w.start, w.end, w.split, src, w.embedding_id,
                                 w.model_version, w.cluster_id)

    def load_motion(self, clip_id: int) -> Motion:
        """The canonical motion of a clip, read from the motion store."""
        clip = self.get_clip(clip_id)
        positions = self.store.get(clip.motion_key)
        return Motion(positions, CANONICAL_FPS, list(JOINTS), list(PARENTS),
                      {"clip_id": clip.id, "content_hash": clip.content_hash, "source": clip.source,
                       "path": clip.path, "canonical": True})

    def known_files(self) -> dict[str, tuple[int | None, int | None, int]]:
        """``path -> (file size, mtime ns, clip id)`` of every clip (for fast re-ingest)."""
        with self.session() as s:
            rows = s.execute(select(Clip.path, Clip.file_size, Clip.file_mtime_ns, Clip.id)).all()
        return {r.path: (r.file_size, r.file_mtime_ns, r.id) for r in rows}

    def known_hashes(self) -> set[str]:
        """Content hashes of every clip."""
        with self.session() as s:
            return set(s.scalars(select(Clip.content_hash)))

    def list_errors(self, include_resolved: bool = False, limit: int | None = None) -> list[ErrorInfo]:
        """Recorded ingest errors, newest first (unresolved only unless asked)."""
        q = select(IngestError).order_by(IngestError.id.desc()).limit(limit)
        if not include_resolved:
            q = q.where(IngestError.resolved.is_(False))
        with self.session() as s:
            return [ErrorInfo(e.id, e.path, e.reason, e.run, _aware(e.created_at), e.resolved)
                    for e in s.scalars(q)]

    def stats(self) -> LibraryStats:
        """Counts of clips, windows, frames, clips per source, windows per split, open errors."""
        with self.session() as s:
            n_clips, frames = s.execute(select(func.count(Clip.id), func.coalesce(func.sum(Clip.frames), 0))).one()
            n_windows = s.scalar(select(func.count(Window.id))) or 0
            per_source = dict(s.execute(select(Source.name, func.count(Clip.id))
                                        .join(Clip, isouter=True).group_by(Source.name)).all())
            per_split = s.execute(select(Window.split, func.count(Window.id)).group_by(Window.split)).all()
            n_err = s.scalar(select(func.count(IngestError.id)).where(IngestError.resolved.is_(False))) or 0
        return LibraryStats(int(n_clips), int(n_windows), int(frames), float(frames) / CANONICAL_FPS,
                            {k: int(v) for k, v in per_source.items()},
                            {str(k): int(v) for k, v in per_split}, int(n_err),
                            self.engine.url.render_as_string(hide_password=True),
                            str(self.location.data_dir))
