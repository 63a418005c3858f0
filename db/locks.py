"""A library-wide writers' lock, shared between processes, so start-up repair never races a live writer.

Every writer of library files (an ingest writing motions before it commits them, an engine saving
indexes or deleting a clip) holds the lock *shared* for as long as it writes; the start-up check
(:meth:`search.engine.Engine.recover`) removes leftovers (uncommitted motions, temporary files, uploads
of an interrupted ingest) only when it gets the lock *exclusively*, i.e. when no writer is running in any
process. The lock is ``flock(2)`` on ``DATA_DIR/writers.lock``: the kernel releases it when its holder
dies, even by ``kill -9``, so a crash never leaves it held. Where ``fcntl`` is missing (Windows) the
shared lock is a no-op and the exclusive one is never granted (leftovers are then kept, never removed
under a live writer).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = "writers.lock"


class WritersLock:
    """The writers' lock of the library in ``data_dir``."""

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.path = Path(data_dir) / LOCK_NAME

    def _open(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        """Held by a writer while it writes (blocks only while a start-up repair holds it exclusively)."""
        if fcntl is None:
            yield
            return
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    @contextlib.contextmanager
    def exclusive_if_free(self) -> Iterator[bool]:
        """Yields True while holding the lock exclusively, or False at once when any writer holds it."""
        if fcntl is None:
            yield False
            return
        fd = self._open()
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)
