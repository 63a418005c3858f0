"""Which files are motion, and loading any supported motion file into a :class:`Motion`.

Supported: BVH (``.bvh``), ballroom skeleton JSON (``skeletons.json`` or any JSON object with a
``skeletons`` key) and positions ``.npz``; BVH and JSON may be gzip-compressed (``.gz``), which is
read transparently. Loading never trusts sizes: ``max_bytes`` bounds the file and its uncompressed
content (at most ``max_bytes + 1`` bytes are ever inflated, so gzip bombs stop early). Every failure
is a :class:`MotionFileError` whose message starts with the file name.
"""

from __future__ import annotations

import gzip
import io
import zlib
from pathlib import Path
from typing import Literal

from motion.ballroom import read_ballroom_text
from motion.bvh import read_bvh_text
from motion.data import Motion, MotionError
from motion.npz import read_npz_bytes

MOTION_SUFFIXES = (".bvh", ".bvh.gz", ".npz", ".json", ".json.gz")
NOT_MOTION_JSON = frozenset({"manifest.json", "config.json", "package.json"})
_PEEK_BYTES = 4 << 20
_GZIP_MAGIC = b"\x1f\x8b"


class MotionFileError(MotionError):
    """A motion file that cannot be read: ``str()`` is ``"<path>: <reason>"``."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


def _inflate(data: bytes, max_bytes: int | None) -> bytes:
    limit = -1 if max_bytes is None else max_bytes + 1
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            out = stream.read(limit)
    except (OSError, EOFError, zlib.error) as exc:
        raise MotionError(f"corrupt gzip data ({exc})") from None
    if max_bytes is not None and len(out) > max_bytes:
        raise MotionError(f"uncompressed content is larger than the limit of {max_bytes} bytes")
    return out


def _text(data: bytes) -> str:
    if b"\x00" in data[:1 << 16]:
        raise MotionError("binary data where text was expected")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # joint names in legacy encodings; numbers are ASCII anyway


def _kind(filename: str) -> str:
    name = filename.lower()
    base = name[:-3] if name.endswith(".gz") else name
    for kind in ("bvh", "npz", "json"):
        if base.endswith("." + kind):
            if kind == "npz" and base != name:
                raise MotionError("gzip-compressed .npz is not supported (.npz is already compressed)")
            return kind
    raise MotionError("unsupported file type (expected .bvh, .npz or skeletons .json, optionally .gz)")


def load_motion_bytes(data: bytes, filename: str, max_bytes: int | None = None) -> Motion:
    """Parse an in-memory motion file; ``filename`` picks the format and names the file in errors.

    Returns the motion in the source's own units, axes and joints (see :mod:`motion.canonical`).
    Raises :class:`MotionFileError` for anything unreadable, empty, too large or malformed.
    """
    try:
        if max_bytes is not None and len(data) > max_bytes:
            raise MotionError(f"file is larger than the limit of {max_bytes} bytes")
        kind = _kind(filename)
        if data[:2] == _GZIP_MAGIC:
            data = _inflate(data, max_bytes)
        elif filename.lower().endswith(".gz"):
            raise MotionError("named .gz but not gzip data")
        if not data.strip():
            raise MotionError("file is empty")
        if kind == "npz":
            return read_npz_bytes(data)
        text = _text(data)
        return read_bvh_text(text) if kind == "bvh" else read_ballroom_text(text)
    except MotionFileError:
        raise
    except MotionError as exc:
        raise MotionFileError(filename, str(exc)) from None


def load_motion(path: str | Path, max_bytes: int | None = None) -> Motion:
    """Load any supported motion file (see the module docstring) into a :class:`Motion`."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if max_bytes is not None and size > max_bytes:
            raise MotionFileError(path, f"file is larger than the limit of {max_bytes} bytes ({size})")
        data = path.read_bytes()
    except OSError as exc:
        raise MotionFileError(path, f"cannot read file ({exc.strerror or exc})") from None
    return load_motion_bytes(data, str(path), max_bytes)


def _peek_has_skeletons(path: Path) -> bool:
    try:
        with path.open("rb") as raw:
            head = raw.read(2)
            raw.seek(0)
            stream = gzip.GzipFile(fileobj=raw) if head == _GZIP_MAGIC else raw
            chunk = stream.read(_PEEK_BYTES)
    except (OSError, EOFError, zlib.error):
        return True  # unreadable: let load_motion report it loudly rather than skip silently
    return b'"skeletons"' in chunk


def classify(path: str | Path) -> Literal["motion", "ignored"]:
    """``"motion"`` for files :func:`load_motion` should read, ``"ignored"`` for everything else.

    By name: .bvh(.gz) and .npz are motion (even when broken - loading then fails loudly);
    READMEs, licences, CSV, text and other files are ignored. JSON (.json/.json.gz) is motion when
    it is named ``skeletons.json`` or its first 4 MiB contain a ``"skeletons"`` key, and ignored
    otherwise (manifest.json and config.json always are).
    """
    path = Path(path)
    name = path.name.lower()
    if name.endswith((".bvh", ".bvh.gz", ".npz")):
        return "motion"
    if not name.endswith((".json", ".json.gz")):
        return "ignored"
    if name in NOT_MOTION_JSON:
        return "ignored"
    if name.startswith("skeletons.json"):
        return "motion"
    return "motion" if _peek_has_skeletons(path) else "ignored"
