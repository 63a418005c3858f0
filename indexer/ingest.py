"""Bulk ingest: motion files and folders -> canonical motions in the store + clips in the library.

Pipeline: find files (folders recursively) and sort out what is not motion (``ignored``); skip
files already in the library by path, size and mtime without reading them; hand the rest to a
process pool (:mod:`indexer.ingest_worker`: read, hash the uncompressed content, skip known
content, canonicalise, write the motion store); the parent writes each clip with its windows in
one transaction, with labels/split/source from metadata sidecars (:mod:`indexer.metadata`).

Safe to kill at any moment: a clip row is committed together with its windows after its motion is
stored, so running the same command again finishes the job without duplicates. Bad files are
recorded as ingest errors and never stop the run; a worker process that dies (e.g. killed for
memory) is replaced and the files it may have been holding are retried one at a time, so only the
file that kills a worker is recorded as failed.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from db.library import Library
from db.records import NewClip
from indexer.ingest_worker import FileResult, WorkerConfig, init_worker, process_file
from indexer.metadata import MetadataIndex
from motion.data import MotionError
from motion.windows import DEFAULT_SIZE, DEFAULT_STRIDE, window_starts

if TYPE_CHECKING:
    from indexer.ray_ingest import RayOptions

log = logging.getLogger(__name__)

DEFAULT_MAX_FILE_MB = 512.0
# Clips are committed in small batches: at most this many, or after this many seconds.
BATCH_CLIPS = 32
BATCH_SECONDS = 0.5


class IngestInputError(ValueError):
    """A path given to ingest that does not exist or cannot be listed."""


@dataclass
class IngestOptions:
    """Settings of one ingest run (``workers=0`` processes files in this process)."""

    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    # "spawn" (default): safe from a threaded parent such as the HTTP service; tests that inject faults
    # into workers by patching this process use "fork".
    start_method: str = "spawn"
    max_file_mb: float | None = DEFAULT_MAX_FILE_MB
    rig_dirs: tuple[str, ...] = ()
    metadata: MetadataIndex | None = None
    progress: bool = True
    # Run the per-file work as Ray tasks instead of the process pool (indexer.ray_ingest.RayOptions).
    ray: RayOptions | None = None


@dataclass
class IngestSummary:
    """Counts of one run. ``frames`` are canonical (25 fps) frames of the clips added."""

    added: int = 0
    skipped: int = 0
    failed: int = 0
    ignored: int = 0
    frames: int = 0
    seconds: float = 0.0
    errors: list[tuple[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` document: exactly added, skipped, failed, ignored, frames, seconds."""
        return {"added": self.added, "skipped": self.skipped, "failed": self.failed,
                "ignored": self.ignored, "frames": self.frames, "seconds": round(self.seconds, 3)}


@dataclass(frozen=True)
class _Found:
    path: Path
    root: Path  # the folder given on the command line (or a file's folder): names the source


def discover(paths: Sequence[str | os.PathLike[str]], archives_dir: Path | None = None
             ) -> tuple[list[_Found], int, list[tuple[Path, str]]]:
    """Motion files under `paths` (sorted, de-duplicated), the number of ignored files, and the archives
    that could not be unpacked with why. With ``archives_dir``, zip and tar archives met on the way are
    unpacked there (:mod:`indexer.archives`) and their motion files found like a folder's."""
    found: dict[Path, _Found] = {}
    problems: list[tuple[Path, str]] = []
    ignored = 0
    for given in paths:
        p = Path(given).expanduser()
        if not p.exists():
            raise IngestInputError(f"{given}: no such file or folder")
        p = p.resolve()
        ignored += _collect(p, p if p.is_dir() else p.parent, archives_dir, found, problems, ARCHIVE_DEPTH)
    return sorted(found.values(), key=lambda x: str(x.path)), ignored, problems


ARCHIVE_DEPTH = 3
"""Archives inside archives are unpacked this many levels deep; deeper ones are reported."""


def _collect(p: Path, root: Path, archives_dir: Path | None, found: dict[Path, _Found],
             problems: list[tuple[Path, str]], depth: int) -> int:
    """Add the motion files under ``p`` to ``found``; the number of ignored files."""
    from indexer.archives import ArchiveError, unpack, unpackable
    from motion.formats import classify

    ignored = 0
    for f in _walk(p):
        if archives_dir is not None and depth > 0 and unpackable(f):
            try:
                folder = unpack(f, archives_dir)
            except ArchiveError as exc:
                problems.append((f, str(exc)))
                continue
            ignored += _collect(folder, folder, archives_dir, found, problems, depth - 1)
        elif classify(f) == "motion":
            found.setdefault(f, _Found(f, root))
        else:
            ignored += 1
    return ignored


def _walk(p: Path) -> Iterator[Path]:
    if p.is_file():
        yield p
        return
    for dirpath, dirnames, filenames in os.walk(p, onerror=_walk_error):
        dirnames.sort()
        for name in sorted(filenames):
            yield Path(dirpath) / name


def _walk_error(exc: OSError) -> None:
    log.warning("cannot list %s: %s", exc.filename, exc.strerror)


def _stat(path: Path) -> tuple[int, int] | None:
    """(size, mtime in ns) of a file, or None if it vanished or cannot be read."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


class Ingester:
    """One ingest run into an open library."""

    def __init__(self, library: Library, options: IngestOptions) -> None:
        self.lib = library
        self.opts = options
        self.meta = options.metadata or MetadataIndex()
        self.run_id = uuid.uuid4().hex
        self.summary = IngestSummary()
        self._roots: dict[str, Path] = {}
        self._pending: list[tuple[NewClip, list[tuple[int, int]], FileResult]] = []
        self._pending_since = 0.0

    def run(self, paths: Sequence[str | os.PathLike[str]]) -> IngestSummary:
        """Ingest `paths`; returns the summary (failures are in the library's error list).

        The library's writers' lock (:mod:`db.locks`) is held shared throughout: motions are written to
        the store before their clips are committed, and a start-up repair must not take them for orphans."""
        from db.locks import WritersLock

        with WritersLock(self.lib.location.data_dir).shared():
            return self._run(paths)

    def _run(self, paths: Sequence[str | os.PathLike[str]]) -> IngestSummary:
        t0 = time.perf_counter()
        rig_dirs = self._rig_dirs()
        from indexer.archives import ARCHIVES_DIR

        files, self.summary.ignored, problems = discover(paths, self.lib.location.data_dir / ARCHIVES_DIR)
        for archive, reason in problems:
            self._commit(FileResult(str(archive), "failed", reason=reason))
        self._roots = {str(f.path): f.root for f in files}
        todo = self._skip_unchanged(files)
        cfg = WorkerConfig(str(self.lib.store.root),
                           int(self.opts.max_file_mb * 1e6) if self.opts.max_file_mb else None,
                           rig_dirs, frozenset(self.lib.known_hashes()), self.meta)
        from tqdm import tqdm

        with tqdm(total=len(todo), unit="file", disable=None if self.opts.progress else True,
                  desc="ingest", smoothing=0.1) as bar:
            def handle(res: FileResult) -> None:
                self._commit(res)
                bar.update(1)
                bar.set_postfix(added=self.summary.added, failed=self.summary.failed, refresh=False)
            try:
                if self.opts.ray is not None:
                    if todo:
                        from indexer.ray_ingest import RayRuntime, run_ray
                        with RayRuntime(self.opts.ray) as rt:
                            run_ray(todo, cfg, handle, rt)
                elif self.opts.workers <= 0:
                    init_worker(cfg, ignore_sigint=False)
                    for path in todo:
                        handle(process_file(path))
                else:
                    run_pool(todo, cfg, self.opts.workers, handle, self.opts.start_method)
            finally:
                self.flush()
        self.summary.seconds = time.perf_counter() - t0
        return self.summary

    def _rig_dirs(self) -> tuple[str, ...]:
        """``--rigs`` folders plus ``DATA_DIR/rigs``, checked by loading them once here."""
        from db.config import user_rig_dirs
        from motion.rigmap import load_rigs

        dirs = [str(d) for d in user_rig_dirs(self.lib.location.data_dir, self.opts.rig_dirs)]
        try:
            load_rigs(dirs)
        except MotionError as exc:
            raise IngestInputError(f"cannot load rig mappings: {exc}") from None
        return tuple(dirs)

    def _skip_unchanged(self, files: Iterable[_Found]) -> list[str]:
        """Paths that need reading: files not already stored under the same path, size and mtime."""
        known = self.lib.known_files()
        todo = []
        for f in files:
            st = _stat(f.path)
            state = known.get(str(f.path))
            if state is not None and st is not None and state[:2] == st:
                self.summary.skipped += 1
                self._refresh_metadata(state[2], str(f.path))
            else:
                todo.append(str(f.path))
        return todo

    def _refresh_metadata(self, clip_id: int, path: str, digest: str | None = None) -> None:
        meta = self.meta.lookup(path, digest)
        if meta is not None and self.lib.update_clip_metadata(clip_id, meta.labels, meta.description,
                                                              meta.split):
            log.info("updated labels of clip %d from metadata (%s)", clip_id, path)

    def _commit(self, res: FileResult) -> None:
        if res.status == "failed":
            self.summary.failed += 1
            self.summary.errors.append((res.path, res.reason or "unknown error"))
            self.lib.record_error(res.path, res.reason or "unknown error", self.run_id)
            return
        if res.status == "duplicate":
            self._skip_duplicate(res)
            return
        clip = self._new_clip(res)
        starts = window_starts(clip.frames, DEFAULT_SIZE, DEFAULT_STRIDE)
        self._pending.append((clip, [(s, min(s + DEFAULT_SIZE, clip.frames)) for s in starts], res))
        if len(self._pending) == 1:
            self._pending_since = time.monotonic()
        if len(self._pending) >= BATCH_CLIPS or time.monotonic() - self._pending_since > BATCH_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Commit the clips waiting in the current batch (one transaction)."""
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        outcomes = self.lib.add_clips([(clip, windows) for clip, windows, _ in batch])
        for (clip, _, res), (clip_id, added) in zip(batch, outcomes, strict=True):
            if added:
                self.summary.added += 1
                self.summary.frames += clip.frames
            else:
                self._skip_duplicate(res, clip_id)

    def _skip_duplicate(self, res: FileResult, clip_id: int | None = None) -> None:
        """Known content under this path: count it, follow a rename, apply new metadata."""
        self.summary.skipped += 1
        if clip_id is None:
            existing = self.lib.find_clip_by_hash(res.content_hash or "")
            if existing is None:
                return
            clip_id = existing.id
            if existing.path != res.path and not Path(existing.path).exists():
                size, mtime = _stat(Path(res.path)) or (None, None)
                self.lib.relocate_clip(clip_id, res.path, size, mtime)
        self.lib.resolve_errors(res.path)
        self._refresh_metadata(clip_id, res.path, res.content_hash)

    def _new_clip(self, res: FileResult) -> NewClip:
        if res.content_hash is None or res.motion_key is None:
            raise RuntimeError(f"worker result for {res.path} lacks its hash or motion key")
        meta = self.meta.lookup(res.path, res.content_hash)
        root = self._roots.get(res.path, Path(res.path).parent)
        source = meta.source if meta and meta.source else root.name
        size, mtime = _stat(Path(res.path)) or (None, None)
        return NewClip(source=source, path=res.path, content_hash=res.content_hash,
                       format=res.format or "unknown",
                       orig_fps=res.orig_fps, orig_frames=res.orig_frames, frames=res.frames,
                       motion_key=res.motion_key, rig=res.rig,
                       source_root=meta.root if meta and meta.source else str(root),
                       labels=dict(meta.labels) if meta else {},
                       description=meta.description if meta else None,
                       split=meta.split if meta else None, orig_offset=res.orig_offset,
                       file_size=size, file_mtime_ns=mtime, details=dict(res.details or {}))


def run_pool(paths: Sequence[str], cfg: WorkerConfig, workers: int,
             handle: Callable[[FileResult], None], start_method: str = "spawn") -> None:
    """Process `paths` in a pool of `workers` processes, calling `handle` in this process per result.

    If a worker dies, the pool is replaced and the files that were in flight are retried one at a
    time; a file that kills a worker on its own is reported as failed.
    """
    queue = list(reversed(paths))
    suspects: list[str] = []
    while queue or suspects:
        # spawn: workers never fork a threaded parent (the HTTP service ingests from a thread pool), and are
        # children of this process, so each dies with it (init_worker -> die_with_parent).
        with ProcessPoolExecutor(max_workers=workers, initializer=init_worker, initargs=(cfg,),
                                 mp_context=multiprocessing.get_context(start_method)) as pool:
            inflight: dict[Future[FileResult], tuple[str, bool]] = {}
            try:
                broken = _drain(pool, queue, suspects, inflight, workers, handle)
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
            if broken:
                log.warning("a worker process died; retrying %d in-flight files one by one",
                            len(inflight) + len(suspects))
                suspects.extend(p for p, _ in inflight.values())
                pool.shutdown(wait=True, cancel_futures=True)


def _drain(pool: ProcessPoolExecutor, queue: list[str], suspects: list[str],
           inflight: dict[Future[FileResult], tuple[str, bool]], workers: int,
           handle: Callable[[FileResult], None]) -> bool:
    """Feed the pool until all work is done (False) or a worker died (True).

    Suspects (files in flight when a worker died) run alone, so the one that kills a worker
    is known; ``inflight`` maps futures to (path, ran alone).
    """
    broken = False
    while (queue or suspects or inflight) and not broken:
        try:
            if suspects:
                if not inflight:
                    fut = pool.submit(process_file, suspects[-1])  # raises before the pop
                    inflight[fut] = (suspects.pop(), True)
            else:
                while queue and len(inflight) < workers * 4:
                    fut = pool.submit(process_file, queue[-1])
                    inflight[fut] = (queue.pop(), False)
        except BrokenProcessPool:  # a worker died since the last wait: nothing was submitted
            return True
        done, _ = wait(inflight, return_when=FIRST_COMPLETED)
        for fut in done:
            path, alone = inflight.pop(fut)
            try:
                handle(fut.result())
            except BrokenProcessPool:
                broken = True
                if alone:
                    handle(FileResult(path, "failed",
                                      reason="the worker process reading it crashed "
                                             "(killed or out of memory)"))
                else:
                    suspects.append(path)
    return broken
