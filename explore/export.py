"""Writing capability outputs: canonical motion as BVH (canonical skeleton, a named rig convention, or a
user's rig given by one of its BVH files) or as JSON positions (the format the web page plays).

A user's rig: its BVH file gives the joint tree and rest pose; a rig file (built in, or ``DATA_DIR/rigs``)
or recognition maps its joints to the canonical ones. The canonical bones are first set to the lengths
the rig has (so the export has the rig's proportions exactly), joints mapped one to one follow the
motion, and joints the mapping does not name (fingers, twist bones, a collar) keep their rest offset from
their parent; a rig whose files start with a rest pose (``drop_first_frame``) gets one written first. Rotations are then solved for the rig's own tree (:func:`motion.bvh_write.tree_bvh_text`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from explore.body import bone_lengths, project_bones
from motion.data import Motion, MotionError
from motion.skeleton import CANONICAL_FPS, JOINTS, PARENTS

JSON_DECIMALS = 5


def canonical_motion(positions: np.ndarray) -> Motion:
    return Motion(np.asarray(positions, np.float32), CANONICAL_FPS, list(JOINTS), list(PARENTS), {"canonical": True})


def to_json(positions: np.ndarray) -> dict[str, Any]:
    """``{fps, joint_names, parents, n_frames, start, positions}`` (metres), as search downloads."""
    return {"fps": CANONICAL_FPS, "joint_names": list(JOINTS), "parents": list(PARENTS), "n_frames": len(positions),
            "start": 0.0, "positions": np.round(np.asarray(positions, np.float64), JSON_DECIMALS).tolist()}


def _user_rig_bvh(positions: np.ndarray, reference: Path, data_dir: str | os.PathLike[str] | None) -> str:
    from db.config import user_rig_dirs
    from motion.bvh_write import tree_bvh_text
    from motion.canonical import decide
    from motion.formats import MotionFileError, load_motion
    from motion.rigmap import load_rigs

    ref, rigs = load_motion(reference), load_rigs(user_rig_dirs(data_dir))
    try:
        decision = decide(ref, rigs)
    except MotionError as exc:  # the reader's errors name the file already; the rig decision's do not
        raise MotionFileError(reference, str(exc)) from None
    o = decision.orientation
    metres_per_unit = (o.scale * o.body_scaled) if o is not None else decision.rig.scale
    up = o.up if o is not None else decision.rig.up
    names, parents = list(ref.joint_names), list(ref.parents)
    direct = _direct_map(decision.rig, names)
    pos = project_bones(positions, bone_lengths(decision.positions)).astype(np.float64) / metres_per_unit
    if up == "z":  # canonical (x, y, z) Y up -> the source's Z up (x, -z, y)
        pos = np.stack([pos[..., 0], -pos[..., 2], pos[..., 1]], axis=-1)
    rest = ref.positions[0].astype(np.float64)
    out = np.zeros((len(pos), len(names), 3))
    placed = np.zeros(len(names), bool)
    for j, name in enumerate(names):
        if name in direct:
            out[:, j], placed[j] = pos[:, direct[name]], True
    for j, parent in enumerate(parents):  # parents come first: unmapped joints keep their rest offset
        if not placed[j]:
            out[:, j] = (out[:, parent] + (rest[j] - rest[parent])) if parent >= 0 else pos[:, 0]
    rest_dirs = np.array([rest[j] - rest[max(p, 0)] for j, p in enumerate(parents)])
    if decision.rig.drop_first_frame:  # the rig's files start with a rest pose that readers skip: write one
        out = np.concatenate([(rest - rest[0] + out[0, 0])[None], out])
    return tree_bvh_text(names, parents, out, CANONICAL_FPS, rest_dirs)


def _direct_map(rig: Any, names: Sequence[str]) -> dict[str, int]:
    """Rig joints that are exactly one canonical joint -> that canonical joint's index."""
    out = {}
    for j, joint in enumerate(JOINTS):
        source = rig.joints[joint]
        if len(source.names) == 1 and source.names[0] in names and source.names[0] not in out:
            out[source.names[0]] = j
    return out


def bvh_text(positions: np.ndarray, rig: str | None = None, data_dir: str | os.PathLike[str] | None = None) -> str:
    """BVH of a canonical motion: on the canonical skeleton (``rig`` None), on a named convention of
    :mod:`motion.conventions` (e.g. "mixamo"), or on the rig of a BVH file given by path."""
    from motion.bvh_write import bvh_text as canonical_bvh

    motion = canonical_motion(positions)
    if rig is None:
        return canonical_bvh(motion)
    from motion.conventions import CONVENTIONS, convention_bvh

    if rig in CONVENTIONS:
        return convention_bvh(CONVENTIONS[rig], motion)
    path = Path(rig).expanduser()
    if path.is_file():
        return _user_rig_bvh(motion.positions, path, data_dir)
    raise MotionError(f"--rig {rig}: neither a rig convention ({', '.join(sorted(CONVENTIONS))}) nor a BVH file")


def write_motion(path: Path, positions: np.ndarray, rig: str | None = None,
                 data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Write ``path`` (.bvh or .json) for a canonical motion."""
    if not path.parent.is_dir():
        raise MotionError(f"{path}: folder {path.parent} does not exist")
    if path.suffix.lower() == ".json":
        path.write_text(json.dumps(to_json(positions)), encoding="utf-8")
    elif path.suffix.lower() == ".bvh":
        path.write_text(bvh_text(positions, rig, data_dir), encoding="utf-8")
    else:
        raise MotionError(f"{path}: write .bvh or .json")
    return path


def write_series(folder: Path, motions: Sequence[np.ndarray], labels: Sequence[str], rig: str | None,
                 data_dir: str | os.PathLike[str] | None, meta: dict[str, Any]) -> dict[str, Any]:
    """``step_NN.bvh`` and ``step_NN.json`` per motion plus ``index.json`` (what each file is)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i, (motion, label) in enumerate(zip(motions, labels, strict=True)):
        stem = folder / f"step_{i:02d}"
        write_motion(stem.with_suffix(".bvh"), motion, rig, data_dir)
        write_motion(stem.with_suffix(".json"), motion)
        files.append({"label": label, "bvh": stem.with_suffix(".bvh").name, "json": stem.with_suffix(".json").name,
                      "frames": len(motion)})
    index = {**meta, "steps": files}
    (folder / "index.json").write_text(json.dumps(index, indent=1), encoding="utf-8")
    return index
