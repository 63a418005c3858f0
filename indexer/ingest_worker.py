"""The per-file half of bulk ingest, run inside worker processes: read, hash, canonicalise, store.

A sidecar entry for the file (matched by path or content hash) supplies its frame rate, which
replaces the file's own, and a DeepMimic clip's character file; without one, a DeepMimic clip uses
the character file beside it. Each call handles one file and never raises for bad input: any problem, including running out of
memory, comes back as a failed :class:`FileResult` with a reason. The canonical motion is written
to the motion store here (atomically), so only a few numbers travel back to the parent, which
writes the database. Worker state (rig mappings, known hashes, limits) is set once per process by
:func:`init_worker`.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import os
import signal
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from indexer.metadata import MetadataIndex
from motion.data import MotionError
from motion.formats import archive_problem

log = logging.getLogger(__name__)

_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class WorkerConfig:
    """What every worker needs: the store folder, the size limit, rig folders, hashes to skip and
    the sidecar metadata (for each file's frame rate and DeepMimic character)."""

    store_root: str
    max_bytes: int | None = None
    rig_dirs: tuple[str, ...] = ()
    known_hashes: frozenset[str] = frozenset()
    metadata: MetadataIndex | None = None


@dataclass(frozen=True)
class FileResult:
    """The outcome for one file: ``status`` is ``"ok"``, ``"duplicate"`` or ``"failed"``.

    ``orig_fps`` is the rate the clip was read at (a sidecar's ``fps`` wins over the file's);
    ``file_fps`` is what the file itself says and ``fps_source`` which of the two was used.
    """

    path: str
    status: str
    content_hash: str | None = None
    reason: str | None = None
    format: str | None = None
    rig: str | None = None
    orig_fps: float = 0.0
    orig_frames: int = 0
    orig_offset: int = 0
    frames: int = 0
    motion_key: str | None = None
    file_fps: float | None = None
    fps_source: str | None = None
    details: dict[str, Any] | None = None


class FileTooLarge(Exception):
    """The file (or its uncompressed content) is over the configured size limit."""


_state: dict[str, Any] = {}


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this worker when its parent dies, however it dies (``kill -9`` included):
    a killed ``dancesearch ingest`` must not leave workers behind. Elsewhere a no-op."""
    import sys

    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - no prctl: best effort only
        return
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)


def init_worker(config: WorkerConfig, ignore_sigint: bool = True) -> None:
    """Set this process's worker state; workers leave Ctrl-C to the parent."""
    if ignore_sigint:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        die_with_parent()
    _state.clear()
    _state["config"] = config


def _rigs() -> Any:
    if "rigs" not in _state:
        from motion.rigmap import load_rigs
        _state["rigs"] = load_rigs([Path(d) for d in _state["config"].rig_dirs])
    return _state["rigs"]


def read_content(path: Path, max_bytes: int | None = None) -> tuple[bytes, str]:
    """The file's uncompressed content (gzip inflated, at most `max_bytes`) and the name to parse
    it under (``.gz`` dropped when it was inflated). Raises :class:`FileTooLarge`, and MotionError for an
    archive (whatever its size: a larger limit would not help)."""
    problem = archive_problem(path.name)
    if problem:
        raise MotionError(problem)
    size = path.stat().st_size
    if max_bytes is not None and size > max_bytes:
        raise FileTooLarge(f"file is {size / 1e6:.1f} MB, larger than the limit of "
                           f"{max_bytes / 1e6:.0f} MB (raise --max-file-mb to ingest it)")
    data = path.read_bytes()
    name = path.name
    if data[:2] == _GZIP_MAGIC:
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
                data = stream.read(-1 if max_bytes is None else max_bytes + 1)
        except (OSError, EOFError, zlib.error) as exc:
            raise MotionError(f"corrupt gzip data ({exc})") from None
        if max_bytes is not None and len(data) > max_bytes:
            raise FileTooLarge(f"uncompressed content is larger than the limit of "
                               f"{max_bytes / 1e6:.0f} MB (raise --max-file-mb to ingest it)")
        if name.lower().endswith(".gz"):
            name = name[:-3]
    return data, name


def content_hash(path: Path, max_bytes: int | None = None) -> str:
    """sha256 of the file's uncompressed content (the hash the corpus manifest records)."""
    return hashlib.sha256(read_content(path, max_bytes)[0]).hexdigest()


def _fail(path: Path, reason: str, digest: str | None = None) -> FileResult:
    return FileResult(str(path), "failed", digest, reason)


def _canonicalise(path: Path, data: bytes, name: str, cfg: WorkerConfig, digest: str) -> FileResult:
    from db.store import MotionStore
    from motion.canonical import to_canonical
    from motion.formats import load_motion_bytes

    hint = cfg.metadata.lookup(path, digest) if cfg.metadata is not None else None
    motion = load_motion_bytes(data, name, max_bytes=cfg.max_bytes, folder=path.parent,
                               character=hint.character if hint else None,
                               fps=hint.fps if hint else None)
    canon = to_canonical(motion, _rigs())
    if canon.n_frames == 0:
        return _fail(path, "no frames left after canonicalisation", digest)
    key = MotionStore(cfg.store_root).put(canon.positions)
    meta = canon.meta
    return FileResult(str(path), "ok", digest, None,
                      format=str(meta.get("format") or motion.meta.get("format") or "unknown"),
                      rig=str(meta["rig"]) if meta.get("rig") else None,
                      orig_fps=float(motion.fps), orig_frames=motion.n_frames,
                      orig_offset=int(meta.get("dropped_frames", 0) or 0),  # type: ignore[call-overload]
                      frames=canon.n_frames, motion_key=key,
                      file_fps=float(motion.meta.get("file_fps", motion.fps)),  # type: ignore[arg-type]
                      fps_source=str(motion.meta.get("fps_source", "file")),
                      details=_details(canon.meta, motion.meta))


def _details(canon_meta: dict[str, Any], file_meta: dict[str, Any]) -> dict[str, Any]:
    """What is recorded in the clip's ``details``: the canonicaliser's decisions, the frame-rate source and
    what the reader tolerated (``read_notes``, e.g. a ``Frames:`` count one short of the rows)."""
    out = dict(canon_meta.get("detected") or {})
    out["plausibility"] = canon_meta.get("plausibility")
    out["fps"] = {"used": canon_meta.get("source_fps"), "file": file_meta.get("file_fps"),
                  "source": file_meta.get("fps_source", "file")}
    if file_meta.get("read_notes"):
        out["read_notes"] = list(file_meta["read_notes"])
    return out


def process_file(path_str: str) -> FileResult:
    """Ingest-side work for one file; bad input of any kind gives a failed result, never raises."""
    cfg: WorkerConfig = _state["config"]
    path = Path(path_str)
    digest: str | None = None
    try:
        data, name = read_content(path, cfg.max_bytes)
        digest = hashlib.sha256(data).hexdigest()
        if digest in cfg.known_hashes:
            return FileResult(str(path), "duplicate", digest)
        return _canonicalise(path, data, name, cfg, digest)
    except FileTooLarge as exc:
        return _fail(path, str(exc), digest)
    except MotionError as exc:
        return _fail(path, str(getattr(exc, "reason", None) or exc), digest)
    except MemoryError:
        return _fail(path, "ran out of memory while reading it", digest)
    except (OSError, EOFError, zlib.error) as exc:
        return _fail(path, f"cannot read it: {getattr(exc, 'strerror', None) or exc}", digest)
    except Exception as exc:  # noqa: BLE001 - one bad file must never stop the archive
        log.debug("unexpected failure on %s", path, exc_info=True)
        return _fail(path, f"unexpected {type(exc).__name__}: {exc}", digest)
