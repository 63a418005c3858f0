"""Which data split each window of a clip belongs to.

A clip's split is a name (``"train"``, ``"val"``, ``"test"``), ``None`` (unknown), or a dict of
frame ranges ``{"train": [0, F], "test": [F, N]}`` in the file's ORIGINAL frames at its original
frame rate (how the corpus splits its single tango in time). Windows are in canonical frames
(25 fps, after any leading frames the canonicaliser dropped). A window lies in a range split when it
fits inside that range; a window that straddles a boundary gets :data:`db.models.STRADDLING_SPLIT`
so neither side sees frames of the other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from db.models import STRADDLING_SPLIT
from motion.skeleton import CANONICAL_FPS

# Tolerance in canonical frames when comparing window edges to converted range boundaries.
_EPS = 1e-6


class SplitError(ValueError):
    """A clip split that is neither a name, None, nor a dict of [start, end] frame ranges."""


def validate_split(split: Any) -> str | dict[str, list[float]] | None:
    """`split` checked and normalised (dict values become [start, end] lists of numbers)."""
    if split is None or isinstance(split, str):
        return split or None
    if isinstance(split, Mapping):
        out: dict[str, list[float]] = {}
        for name, rng in split.items():
            if (not isinstance(name, str) or not isinstance(rng, Sequence) or isinstance(rng, str)
                    or len(rng) != 2 or not all(isinstance(v, int | float) for v in rng)
                    or rng[0] > rng[1]):
                raise SplitError(f"split range {name!r}: {rng!r} is not [start, end] with start <= end")
            out[name] = [rng[0], rng[1]]
        return out
    raise SplitError(f"split must be a name, null or a dict of frame ranges, got {split!r}")


def window_splits(split: Any, windows: Sequence[tuple[int, int]], orig_fps: float,
                  orig_offset: int = 0) -> list[str | None]:
    """The split of each canonical window [start, end) of a clip whose split is `split`.

    `orig_offset` is the number of original frames dropped before canonical frame 0.
    """
    split = validate_split(split)
    if not isinstance(split, dict):
        return [split] * len(windows)
    scale = CANONICAL_FPS / float(orig_fps)
    ranges = [(name, (lo - orig_offset) * scale, (hi - orig_offset) * scale)
              for name, (lo, hi) in split.items()]
    out: list[str | None] = []
    for start, end in windows:
        name = next((n for n, lo, hi in ranges if start >= lo - _EPS and end <= hi + _EPS), None)
        out.append(name if name is not None else STRADDLING_SPLIT)
    return out
