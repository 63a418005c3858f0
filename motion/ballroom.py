"""Reader for the "Dance with Melody" ballroom skeleton JSON (``skeletons.json``).

Layout: ``{"length": T, "center": [[x, y, z]] * T, "skeletons": [[[x, y, z]] * 23] * T}`` in
centimetres, Y up, 25 frames per second. ``skeletons`` are relative to ``center`` (their mean is
near zero while ``center`` wanders over the floor), so absolute positions are ``center +
skeletons``; with that sum the feet rest a few centimetres above y = 0. The 23 points are unnamed
and come out as ``j0`` .. ``j22``; :file:`motion/rigs/ballroom.toml` says what they are.
"""

from __future__ import annotations

import json

import numpy as np

from motion.data import Motion, MotionError

BALLROOM_FPS = 25.0
N_POINTS = 23


def is_ballroom_document(document: object) -> bool:
    """True for a parsed JSON object that looks like a ballroom skeleton file (has ``skeletons``)."""
    return isinstance(document, dict) and "skeletons" in document


def _array(document: dict[str, object], key: str, shape_tail: tuple[int, ...]) -> np.ndarray:
    try:
        array = np.asarray(document[key], dtype=np.float64)
    except KeyError:
        raise MotionError(f"missing {key!r}") from None
    except (TypeError, ValueError):
        raise MotionError(f"{key!r} must be an array of numbers") from None
    if array.ndim != 1 + len(shape_tail) or array.shape[1:] != shape_tail:
        raise MotionError(f"{key!r} has shape {array.shape}, expected (frames, "
                          f"{', '.join(map(str, shape_tail))})")
    if not np.isfinite(array).all():
        raise MotionError(f"{key!r} holds NaN or infinite values")
    return array


def read_ballroom_document(document: object) -> Motion:
    """Build a :class:`Motion` (cm, Y up, 25 fps, joints ``j0``..``j22``) from a parsed document."""
    if not isinstance(document, dict) or "skeletons" not in document:
        raise MotionError("JSON has no 'skeletons' key: not a ballroom skeleton file")
    skeletons = _array(document, "skeletons", (N_POINTS, 3))
    center = _array(document, "center", (3,)) if "center" in document else np.zeros((len(skeletons), 3))
    if len(skeletons) == 0:
        raise MotionError("no frames")
    if len(center) != len(skeletons):
        raise MotionError(f"'center' has {len(center)} frames but 'skeletons' has {len(skeletons)}")
    length = document.get("length")
    if length is not None and length != len(skeletons):
        raise MotionError(f"'length' says {length} frames but 'skeletons' has {len(skeletons)}")
    positions = center[:, None, :] + skeletons
    names = [f"j{i}" for i in range(N_POINTS)]
    return Motion(positions.astype(np.float32), BALLROOM_FPS, names, [-1] * N_POINTS,
                  {"format": "ballroom-json"})


def read_ballroom_text(text: str) -> Motion:
    """Parse ballroom JSON text; malformed JSON raises :class:`MotionError`."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MotionError(f"invalid JSON: {exc}") from None
    return read_ballroom_document(document)
