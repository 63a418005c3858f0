"""Which files are motion, and loading any supported motion file into a :class:`Motion`.

Supported: BVH (``.bvh``), ballroom skeleton JSON (``skeletons.json`` or any JSON object with a
``skeletons`` key), DeepMimic motion JSON (an object with a ``Frames`` key, read with its character
file, see :mod:`motion.deepmimic` and :func:`load_motion`) and positions ``.npz``; BVH and JSON may
be gzip-compressed (``.gz``), which is read transparently. Loading never trusts sizes: ``max_bytes`` bounds the file and its uncompressed
content (at most ``max_bytes + 1`` bytes are ever inflated, so gzip bombs stop early). Every failure
is a :class:`MotionFileError` whose message starts with the file name.

glTF 2.0 skeletal animation (``.gltf``, optionally ``.gz``, and binary ``.glb``) is read by
:mod:`motion.gltf` (external ``.bin`` buffers only when loading from a path). Known motion formats
that cannot be read (FBX, C3D, TRC, ASF/AMC, ...) are classified as motion, so they are reported,
not skipped, and loading them fails with a message naming the supported formats and how to convert.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Literal

from motion import deepmimic
from motion.ballroom import read_ballroom_document
from motion.bvh import read_bvh_text
from motion.data import Motion, MotionError
from motion.gltf import read_gltf_bytes
from motion.gz import GZIP_MAGIC, inflate, read_head
from motion.npz import read_npz_bytes

MOTION_SUFFIXES = (".bvh", ".bvh.gz", ".npz", ".json", ".json.gz", ".gltf", ".gltf.gz", ".glb")
# Motion formats we know but cannot read: suffix -> (name, how Blender imports it).
UNSUPPORTED_MOTION = {
    ".fbx": ("FBX", "File > Import > FBX"),
    ".c3d": ("C3D", "File > Import > C3D (the C3D importer add-on)"),
    ".trc": ("TRC", "a TRC importer add-on, or OpenSim"),
    ".asf": ("ASF/AMC", "File > Import > Acclaim (the ASF/AMC importer add-on)"),
    ".amc": ("ASF/AMC", "File > Import > Acclaim (the ASF/AMC importer add-on)"),
    ".htr": ("HTR", "a motion-capture tool such as MotionBuilder"),
    ".mvnx": ("Xsens MVNX", "Xsens MVN Analyze (export BVH or FBX)"),
}
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".7z", ".rar")
"""Archives of files (a studio's download is often one): ingest unpacks zip and tar ones; anything else
(and an archive given where one motion is expected) is reported with how to unpack it, never skipped."""
SUPPORTED_TEXT = ("BVH (.bvh), glTF/GLB (.gltf, .glb), ballroom skeletons JSON (.json), DeepMimic JSON "
                  "(.json) and positions .npz; each may be gzip-compressed (.gz) except .npz and .glb")
NOT_MOTION_JSON = frozenset({"manifest.json", "config.json", "package.json"})
_PEEK_BYTES = 4 << 20


class MotionFileError(MotionError):
    """A motion file that cannot be read: ``str()`` is ``"<path>: <reason>"``."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


def _text(data: bytes) -> str:
    if b"\x00" in data[:1 << 16]:
        raise MotionError("binary data where text was expected")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # joint names in legacy encodings; numbers are ASCII anyway


def archive_problem(filename: str) -> str | None:
    """Why a file named like an archive (.zip, .tar.gz, ...) is not read as motion, with how to proceed;
    None otherwise. ``dancesearch ingest`` unpacks zip and tar archives itself (:mod:`indexer.archives`)."""
    suffix = next((a for a in ARCHIVE_SUFFIXES if filename.lower().endswith(a)), None)
    if suffix is None:
        return None
    if suffix in (".7z", ".rar"):
        tool = "7z x FILE -oFOLDER" if suffix == ".7z" else "unrar x FILE FOLDER"
        return (f"an archive ({suffix}) that dancesearch cannot unpack: unpack it (e.g. `{tool}`) and "
                f"ingest that folder")
    return (f"an archive ({suffix}), not a motion file: `dancesearch ingest` unpacks zip and tar archives "
            f"(up to 3 nested); otherwise unpack it (e.g. `unzip FILE -d FOLDER` or `tar -xf FILE -C FOLDER`) "
            f"and use one of its files")


def _kind(filename: str) -> str:
    name = filename.lower()
    problem = archive_problem(name)
    if problem:
        raise MotionError(problem)
    base = name[:-3] if name.endswith(".gz") else name
    for kind in ("bvh", "npz", "json", "gltf", "glb"):
        if base.endswith("." + kind):
            if kind in ("npz", "glb") and base != name:
                raise MotionError(f"gzip-compressed .{kind} is not supported (.{kind} is already compact)")
            return kind
    suffix = base[base.rfind("."):] if "." in base else ""
    if suffix in UNSUPPORTED_MOTION:
        label, importer = UNSUPPORTED_MOTION[suffix]
        raise MotionError(f"unsupported file type: {label} ({suffix}) motion files are not supported. "
                          f"Supported formats: {SUPPORTED_TEXT}. Convert it first, e.g. in Blender: "
                          f"{importer}, then File > Export > BVH or glTF 2.0 (.glb)")
    raise MotionError("unsupported file type (expected .bvh, .gltf, .glb, .npz or skeletons .json, "
                      "optionally .gz)")


def _read_json(text: str, character: str | Path | None, folder: str | Path | None) -> Motion:
    """Ballroom or DeepMimic JSON, told apart by their keys."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MotionError(f"invalid JSON: {exc}") from None
    if deepmimic.is_motion_document(document):
        path = deepmimic.find_character(character, folder)
        return deepmimic.read_deepmimic_document(document, deepmimic.load_character(path))
    if deepmimic.is_character_document(document):
        raise MotionError("this is a DeepMimic character file (it has a \"Skeleton\" key), not a "
                          "motion: it is read together with the clips beside it")
    return read_ballroom_document(document)


def _set_fps(motion: Motion, fps: float | None) -> Motion:
    """Record the file's rate in meta (``file_fps``) and let a sidecar's ``fps`` replace it."""
    motion.meta.setdefault("file_fps", float(motion.fps))
    if fps is None:
        motion.meta.setdefault("fps_source", "file")
        return motion
    if isinstance(fps, bool) or not isinstance(fps, int | float) or not 0 < fps < 10000:
        raise MotionError(f"the frame rate given for this file must be a positive number, got {fps!r}")
    motion.fps = float(fps)
    motion.meta["fps_source"] = "sidecar"
    return motion


def load_motion_bytes(data: bytes, filename: str, max_bytes: int | None = None, *,
                      character: str | Path | None = None, folder: str | Path | None = None,
                      fps: float | None = None) -> Motion:
    """Parse an in-memory motion file; ``filename`` picks the format and names the file in errors.

    Returns the motion in the source's own units, axes and joints (see :mod:`motion.canonical`).
    A DeepMimic clip needs its character file: ``character`` (e.g. from a sidecar) wins, else the
    one character file in ``folder`` (the clip's folder; none for an upload). ``fps`` (a sidecar's
    frame rate) replaces the file's; meta records ``file_fps`` and ``fps_source`` (``"file"`` or
    ``"sidecar"``). Raises :class:`MotionFileError` for anything unreadable, empty, too large or
    malformed.
    """
    try:
        if max_bytes is not None and len(data) > max_bytes:
            raise MotionError(f"file is larger than the limit of {max_bytes} bytes")
        kind = _kind(filename)
        if data[:2] == GZIP_MAGIC:
            data = inflate(data, max_bytes)
        elif filename.lower().endswith(".gz"):
            raise MotionError("named .gz but not gzip data")
        if not data.strip():
            raise MotionError("file is empty")
        if kind == "npz":
            return _set_fps(read_npz_bytes(data), fps)
        if kind in ("gltf", "glb"):
            return _set_fps(read_gltf_bytes(data, base_dir=folder, max_bytes=max_bytes), fps)
        text = _text(data)
        motion = read_bvh_text(text) if kind == "bvh" else _read_json(text, character, folder)
        return _set_fps(motion, fps)
    except MotionFileError:
        raise
    except MotionError as exc:
        raise MotionFileError(filename, str(exc)) from None


def load_motion(path: str | Path, max_bytes: int | None = None, *, character: str | Path | None = None,
                fps: float | None = None) -> Motion:
    """Load any supported motion file (see the module docstring) into a :class:`Motion`.

    ``character``: a DeepMimic clip's character file (default: the one beside the clip);
    ``fps``: a frame rate that replaces the file's (a sidecar's, see :func:`load_motion_bytes`).
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if max_bytes is not None and size > max_bytes:
            raise MotionFileError(path, f"file is larger than the limit of {max_bytes} bytes ({size})")
        data = path.read_bytes()
    except OSError as exc:
        raise MotionFileError(path, f"cannot read file ({exc.strerror or exc})") from None
    return load_motion_bytes(data, str(path), max_bytes, character=character, folder=path.parent, fps=fps)


def _peek_motion_keys(path: Path) -> bool:
    try:
        chunk = read_head(path, _PEEK_BYTES)
    except (OSError, EOFError, zlib.error):
        return True  # unreadable: let load_motion report it loudly rather than skip silently
    return b'"skeletons"' in chunk or b'"Frames"' in chunk


def classify(path: str | Path) -> Literal["motion", "ignored"]:
    """``"motion"`` for files :func:`load_motion` should read, ``"ignored"`` for everything else.

    By name: .bvh(.gz) and .npz are motion (even when broken - loading then fails loudly), and so are
    archives (.zip, .tar...) and motion formats we cannot read (FBX, C3D...), so that they are reported;
    READMEs, licences, CSV, text and other files are ignored. JSON (.json/.json.gz) is motion when
    it is named ``skeletons.json`` or its first 4 MiB contain a ``"skeletons"`` key (ballroom) or a
    ``"Frames"`` key (DeepMimic), and ignored otherwise (manifest.json and config.json always are,
    and so are DeepMimic character files, which have ``"Skeleton"`` but no ``"Frames"``). macOS metadata
    files (``._take.bvh``, anything under ``__MACOSX/``) are ignored whatever their suffix.
    """
    path = Path(path)
    name = path.name.lower()
    if name.startswith("._") or "__MACOSX" in path.parts:
        return "ignored"  # macOS metadata twins (AppleDouble) of real files, left behind by unpacked zips
    if name.endswith((".bvh", ".bvh.gz", ".npz", ".gltf", ".gltf.gz", ".glb")):
        return "motion"
    base = name[:-3] if name.endswith(".gz") else name
    if base.endswith(tuple(UNSUPPORTED_MOTION)) or archive_problem(name) is not None:
        return "motion"  # unreadable, but reported rather than skipped silently
    if not name.endswith((".json", ".json.gz")):
        return "ignored"
    if name in NOT_MOTION_JSON:
        return "ignored"
    if name.startswith("skeletons.json"):
        return "motion"
    return "motion" if _peek_motion_keys(path) else "ignored"
