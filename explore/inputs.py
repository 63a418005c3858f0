"""What the capability commands take as input: motion files, library clips and texts, and where concepts
and negatives live.

A source is written ``FILE[@START-END]`` (any readable motion file, mapped to the canonical skeleton with
the library's rig files), ``clip:ID[@START-END]`` (a clip of the library) or any other text. Ranges are
seconds. Errors name the input and the problem (:class:`InputError`, a ``MotionError`` so the CLI and the
service report them like bad motion files).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embedders.runtime import DanceSearchModel
from explore.concepts import ConceptStore
from explore.interpolate import Endpoint
from explore.settings import load_negatives
from motion.data import MotionError
from motion.skeleton import CANONICAL_FPS

_RANGE = re.compile(r"^(?P<base>.+?)@(?P<start>\d+(?:\.\d+)?)-(?P<end>\d+(?:\.\d+)?)$")
_CLIP = re.compile(r"^clip:(?P<id>\d+)$")


class InputError(MotionError):
    """An input that cannot be used; the message names it."""


@dataclass(frozen=True)
class Source:
    """A parsed input: ``kind`` "file", "clip" or "text"; optional [start, end) seconds."""

    kind: str
    value: str
    start: float | None = None
    end: float | None = None

    @property
    def name(self) -> str:
        span = "" if self.start is None else f"@{self.start:g}-{self.end:g}"
        return f"{'clip:' if self.kind == 'clip' else ''}{self.value}{span}"


def parse_source(spec: str) -> Source:
    """A :class:`Source` from a command-line or request string (a file only if it exists)."""
    text = spec.strip()
    if not text:
        raise InputError("an input is empty")
    base, start, end = text, None, None
    m = _RANGE.match(text)
    if m and (_CLIP.match(m["base"]) or Path(m["base"]).expanduser().is_file()):
        base, start, end = m["base"], float(m["start"]), float(m["end"])
        if end <= start:
            raise InputError(f"{spec}: the range must end after it starts")
    if c := _CLIP.match(base):
        return Source("clip", c["id"], start, end)
    if Path(base).expanduser().is_file():
        return Source("file", str(Path(base).expanduser()), start, end)
    if re.search(r"\.(bvh|json|npz|gltf|glb)(\.gz)?$", base, re.I) or os.sep in base:
        raise InputError(f"{base}: no such motion file")
    return Source("text", text)


def start_seconds(start: float | None) -> float:
    """Time in its clip of the first frame a range starting at ``start`` seconds keeps (0 for no range)."""
    return 0.0 if start is None else round(start * CANONICAL_FPS) / CANONICAL_FPS


def _cut(positions: np.ndarray, source: Source) -> np.ndarray:
    if source.start is None:
        return positions
    lo, hi = int(round(source.start * CANONICAL_FPS)), int(round((source.end or 0) * CANONICAL_FPS))
    if hi > len(positions):
        raise InputError(f"{source.name}: the range ends after the motion (which lasts "
                         f"{len(positions) / CANONICAL_FPS:.2f} s)")
    part = positions[lo:hi]
    if len(part) < 2:
        raise InputError(f"{source.name}: the range holds no frames (the motion lasts "
                         f"{len(positions) / CANONICAL_FPS:.2f} s)")
    return part


def read_source(source: Source, data_dir: str | os.PathLike[str] | None = None, db: str | None = None) -> np.ndarray:
    """Canonical positions (T, J, 3) of a file or library clip source."""
    from db.config import LibraryLocation, user_rig_dirs

    if source.kind == "file":
        from motion.canonical import to_canonical
        from motion.formats import load_motion
        from motion.rigmap import load_rigs

        motion, rigs = load_motion(source.value), load_rigs(user_rig_dirs(data_dir))
        try:
            canonical = to_canonical(motion, rigs)
        except MotionError as exc:  # the reader's errors name the file already; the mapping's do not
            raise InputError(f"{source.value}: {exc}") from None
        return _cut(canonical.positions, source)
    if source.kind == "clip":
        from db.library import Library, LibraryError

        with Library.open(LibraryLocation.resolve(data_dir, db)) as lib:
            try:
                positions = lib.load_motion(int(source.value)).positions
            except (LibraryError, KeyError) as exc:
                raise InputError(f"clip {source.value}: not in the library ({exc})") from None
        return _cut(positions, source)
    raise InputError(f"{source.name!r} is a text, not a motion")


def endpoint(spec: str, data_dir: str | os.PathLike[str] | None = None, db: str | None = None) -> Endpoint:
    """An interpolation end: a motion (file or clip) or a text."""
    source = parse_source(spec)
    if source.kind == "text":
        return Endpoint(source.value, text=source.value)
    return Endpoint(source.name, positions=read_source(source, data_dir, db))


def concept_store(data_dir: str | os.PathLike[str] | None = None) -> ConceptStore:
    """The library's concept folder, ``DATA_DIR/concepts``."""
    from db.config import resolve_data_dir

    return ConceptStore(resolve_data_dir(data_dir) / "concepts")


def negatives_for(model: DanceSearchModel, data_dir: str | os.PathLike[str] | None = None,
                  db: str | None = None) -> np.ndarray:
    """Window vectors a concept must rank its examples above: the model's bank of train windows
    (``capabilities_negatives.npy``, written by calibration)."""
    bank = load_negatives(model.directory)
    if bank is None:
        raise InputError(f"{model.directory}: no negative bank (capabilities_negatives.npy); run "
                         "`dancesearch eval-capabilities --calibrate --split val --corpus CORPUS` once")
    return bank
