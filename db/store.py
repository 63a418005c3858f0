"""Content-addressed store of canonical motions, next to the database in ``DATA_DIR/motions``.

Each motion is a float32 array (T, 19, 3) of canonical positions (metres, Y up, 25 fps) saved as
``motions/ab/<key>.npy`` where ``key`` is the sha256 of the array's shape and bytes. Writes go to a
temporary file in the same folder and are moved into place with :func:`os.replace`, so a reader
never sees a half-written file even if the writer is killed; writing the same content twice is a
no-op. The store lets results be played back and re-embedded without the original files.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from motion.skeleton import N_JOINTS

log = logging.getLogger(__name__)


class StoreError(RuntimeError):
    """A motion missing from the store or unreadable; the message names the key and the file."""


def motion_key(positions: np.ndarray) -> str:
    """The content address of a canonical position array (sha256 of shape and float32 bytes)."""
    arr = np.ascontiguousarray(positions, dtype=np.float32)
    h = hashlib.sha256(repr(arr.shape).encode())
    h.update(arr.tobytes())
    return h.hexdigest()


class MotionStore:
    """Canonical motions by content key under ``root`` (created on first write)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def path_for(self, key: str) -> Path:
        """Where the motion `key` lives (whether or not it exists)."""
        if len(key) < 3 or not all(c in "0123456789abcdef" for c in key):
            raise StoreError(f"invalid motion key {key!r}")
        return self.root / key[:2] / f"{key}.npy"

    def has(self, key: str) -> bool:
        return self.path_for(key).is_file()

    def put(self, positions: np.ndarray) -> str:
        """Store canonical positions (T, 19, 3) atomically; returns their key."""
        arr = np.ascontiguousarray(positions, dtype=np.float32)
        if arr.ndim != 3 or arr.shape[1:] != (N_JOINTS, 3) or arr.shape[0] == 0:
            raise StoreError(f"canonical motion must have shape (T>0, {N_JOINTS}, 3), got {arr.shape}")
        key = motion_key(arr)
        target = self.path_for(key)
        if target.is_file():
            return key
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{key[:8]}-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.save(fh, arr, allow_pickle=False)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return key

    def get(self, key: str) -> np.ndarray:
        """The positions stored under `key`; raises :class:`StoreError` if missing or corrupt."""
        path = self.path_for(key)
        try:
            arr = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise StoreError(f"motion {key} is missing from the store ({path})") from None
        except (OSError, ValueError) as exc:
            raise StoreError(f"motion {key} is unreadable ({path}): {exc}") from exc
        if arr.ndim != 3 or arr.shape[1:] != (N_JOINTS, 3):
            raise StoreError(f"motion {key} has shape {arr.shape}, expected (T, {N_JOINTS}, 3) ({path})")
        return arr.astype(np.float32, copy=False)

    def delete(self, key: str) -> None:
        self.path_for(key).unlink(missing_ok=True)

    def keys(self) -> Iterator[str]:
        """Keys of every stored motion (temporary files excluded)."""
        if not self.root.is_dir():
            return
        for path in sorted(self.root.glob("??/*.npy")):
            yield path.stem

    def remove_orphans(self, keep: set[str]) -> int:
        """Delete stored motions whose key is not in `keep` and stale temp files; returns the count."""
        removed = 0
        for key in list(self.keys()):
            if key not in keep:
                self.delete(key)
                removed += 1
        for tmp in self.root.glob("??/.*.tmp") if self.root.is_dir() else []:
            tmp.unlink(missing_ok=True)
            removed += 1
        return removed
