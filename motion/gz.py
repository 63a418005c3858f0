"""Gzip-transparent reading, shared by the readers: archives often ship ``.bvh.gz`` or ``.json.gz``."""

from __future__ import annotations

import gzip
import io
import zlib
from pathlib import Path

from motion.data import MotionError

GZIP_MAGIC = b"\x1f\x8b"


def inflate(data: bytes, max_bytes: int | None = None) -> bytes:
    """The content of gzip ``data``, at most ``max_bytes`` (at most ``max_bytes + 1`` bytes are ever
    inflated, so gzip bombs stop early); :class:`MotionError` when corrupt or too large."""
    limit = -1 if max_bytes is None else max_bytes + 1
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            out = stream.read(limit)
    except (OSError, EOFError, zlib.error) as exc:
        raise MotionError(f"corrupt gzip data ({exc})") from None
    if max_bytes is not None and len(out) > max_bytes:
        raise MotionError(f"uncompressed content is larger than the limit of {max_bytes} bytes")
    return out


def read_head(path: Path, limit: int) -> bytes:
    """The first ``limit`` bytes of the file's (uncompressed) content; raises OSError, EOFError or
    zlib.error for unreadable files (callers decide whether that means "motion" or "not motion")."""
    with path.open("rb") as raw:
        magic = raw.read(2)
        raw.seek(0)
        stream = gzip.GzipFile(fileobj=raw) if magic == GZIP_MAGIC else raw
        return stream.read(limit)
