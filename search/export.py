"""Downloads of search results: a hit's or generated motion as BVH text or as JSON joint positions.

Every motion the engine hands out is canonical (the 19 joints of :mod:`motion.skeleton`, metres,
Y up, 25 fps). BVH is written on the canonical skeleton by :func:`motion.bvh_write.bvh_text`
(centimetres; reading it back with the built-in ``canonical_bvh`` rig restores the positions); the
JSON form is ``{fps, joint_names, parents, n_frames, start, positions}`` with positions as nested
``[frame][joint][xyz]`` lists in metres. ``start`` is where the motion begins in its clip (seconds).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np

from motion.data import Motion
from search.errors import InvalidQuery
from search.protocol import SearchEngine
from search.types import Hit

ExportFormat = Literal["bvh", "json"]
JSON_DECIMALS = 5
"""Positions in JSON are rounded to 10 micrometres (keeps downloads small, far below mocap noise)."""


def motion_to_json(motion: Motion, start: float = 0.0, decimals: int = JSON_DECIMALS) -> dict[str, Any]:
    """The JSON positions document of a motion (see the module docstring)."""
    return {"fps": float(motion.fps), "joint_names": list(motion.joint_names),
            "parents": [int(p) for p in motion.parents], "n_frames": motion.n_frames,
            "start": float(start),
            "positions": np.round(motion.positions.astype(np.float64), decimals).tolist()}


def motion_to_bvh(motion: Motion) -> str:
    """BVH text of a canonical motion on the canonical skeleton (raises ``MotionError`` otherwise)."""
    from motion.bvh_write import bvh_text

    return bvh_text(motion)


def hit_motion(engine: SearchEngine, hit: Hit) -> Motion:
    """The motion of a hit: the clip's span, or the generated motion."""
    if hit.generated:
        if hit.generated_id is None:
            raise InvalidQuery("a generated hit without a generated id cannot be exported")
        return engine.generated_motion(hit.generated_id)
    if hit.clip_id is None:
        raise InvalidQuery("a hit without a clip id cannot be exported")
    return engine.clip_motion(hit.clip_id, hit.start, hit.end)


def export_hit(engine: SearchEngine, hit: Hit, fmt: ExportFormat) -> str | dict[str, Any]:
    """A hit as BVH text (``fmt="bvh"``) or the JSON positions document (``fmt="json"``)."""
    motion = hit_motion(engine, hit)
    if fmt == "bvh":
        return motion_to_bvh(motion)
    if fmt == "json":
        return motion_to_json(motion, 0.0 if hit.generated else hit.start)
    raise InvalidQuery(f"unknown export format {fmt!r} (expected 'bvh' or 'json')")


def write_hit(engine: SearchEngine, hit: Hit, path: str | Path, fmt: ExportFormat | None = None) -> Path:
    """Write a hit to ``path`` as BVH or JSON (format from the suffix unless given)."""
    import json

    target = Path(path)
    chosen: ExportFormat = "bvh" if target.suffix.lower() == ".bvh" else "json"
    data = export_hit(engine, hit, fmt or chosen)
    text = data if isinstance(data, str) else json.dumps(data)
    target.write_text(text, encoding="utf-8")
    return target
