"""Writing a canonical motion as a BVH file on the canonical skeleton.

Search results are canonical positions; animation tools want BVH, i.e. a rest skeleton plus joint
rotations. The rest offsets come from the clip's median bone lengths (directions from a T-pose
facing +Z for single-child bones, the clip's own median geometry for the children of the pelvis and
chest). Per frame, a joint with several children gets the Kabsch rotation fitting all of them, a
joint with one child the least rotation turning its bone onto the data (so no spurious twist), and
leaves inherit their parent's rotation. Channels are ZYX Euler angles in degrees, unwrapped over time.

Units are centimetres (the usual BVH unit; the built-in ``canonical`` rig maps the file back).
With ``exact=True`` (default) every joint also carries position channels holding its per-frame
offset, so reading the file back reproduces the positions to the printed precision even where the
data's bone lengths vary; with ``exact=False`` only the root has position channels and bones are
rigid at their median length.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from motion.data import Motion, MotionError
from motion.fk import kabsch, matrix_to_euler_zyx, minimal_rotation
from motion.skeleton import JOINTS, PARENTS

CM_PER_M = 100.0
_SIDE = {"l": 1.0, "r": -1.0}
# Rest direction of each bone (from its parent), performer facing +Z, left = +X, Y up.
_TEMPLATE = {
    "spine": (0, 1, 0), "chest": (0, 1, 0), "neck": (0, 1, 0), "head": (0, 1, 0),
    "shoulder": (1, 0.25, 0), "elbow": (1, 0, 0), "wrist": (1, 0, 0),
    "hip": (1, -0.4, 0), "knee": (0, -1, 0), "ankle": (0, -1, 0), "toe": (0, -0.5, 1),
}
_END_SITE_CM = {"head": (0.0, 10.0, 0.0), "wrist": (8.0, 0.0, 0.0), "toe": (0.0, 0.0, 5.0)}


def _template(name: str) -> np.ndarray:
    side, _, part = name.rpartition("_")
    direction = np.array(_TEMPLATE[part], dtype=np.float64)
    direction[0] *= _SIDE.get(side, 1.0)
    return direction / np.linalg.norm(direction)


def _children(joint: int) -> list[int]:
    return [c for c, p in enumerate(PARENTS) if p == joint]


def solve_pose(positions_cm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rest offsets (J, 3) and global joint rotations (T, J, 3, 3) fitting canonical positions."""
    n_frames, n_joints = positions_cm.shape[:2]
    bones = positions_cm - positions_cm[:, [max(p, 0) for p in PARENTS]]
    lengths = np.median(np.linalg.norm(bones, axis=-1), axis=0)
    rest = np.zeros((n_joints, 3))
    for j in range(1, n_joints):
        rest[j] = _template(JOINTS[j]) * lengths[j]
    rotations = np.empty((n_frames, n_joints, 3, 3))
    for j, parent in enumerate(PARENTS):
        kids = _children(j)
        parent_rot = rotations[:, parent] if parent >= 0 else np.broadcast_to(np.eye(3), (n_frames, 3, 3))
        if len(kids) >= 2:
            first = kabsch(rest[kids], bones[:, kids])
            local = np.median(np.einsum("tba,tkb->tka", first, bones[:, kids]), axis=0)
            rest[kids] = local * (lengths[kids] / np.maximum(np.linalg.norm(local, axis=-1), 1e-9))[:, None]
            rotations[:, j] = kabsch(rest[kids], bones[:, kids])
        elif len(kids) == 1:
            rest_dir = np.einsum("tab,b->ta", parent_rot, rest[kids[0]])
            rotations[:, j] = minimal_rotation(rest_dir, bones[:, kids[0]]) @ parent_rot
        else:
            rotations[:, j] = parent_rot
    return rest, rotations


def _hierarchy_text(rest: np.ndarray, exact: bool) -> str:
    out = io.StringIO()
    rot = "Zrotation Yrotation Xrotation"

    def emit(j: int, depth: int) -> None:
        pad = "  " * depth
        keyword = "ROOT" if PARENTS[j] < 0 else "JOINT"
        full = PARENTS[j] < 0 or exact
        out.write(f"{pad}{keyword} {JOINTS[j]}\n{pad}{{\n")
        out.write(f"{pad}  OFFSET {rest[j, 0]:.6f} {rest[j, 1]:.6f} {rest[j, 2]:.6f}\n")
        out.write(f"{pad}  CHANNELS {6 if full else 3} {'Xposition Yposition Zposition ' if full else ''}{rot}\n")
        kids = _children(j)
        for kid in kids:
            emit(kid, depth + 1)
        if not kids:
            part = JOINTS[j].rpartition("_")[2]
            x, y, z = _END_SITE_CM[part]
            x *= _SIDE.get(JOINTS[j][0], 1.0) if "_" in JOINTS[j] else 1.0
            out.write(f"{pad}  End Site\n{pad}  {{\n{pad}    OFFSET {x:.6f} {y:.6f} {z:.6f}\n{pad}  }}\n")
        out.write(f"{pad}}}\n")

    out.write("HIERARCHY\n")
    emit(0, 0)
    return out.getvalue()


def bvh_text(motion: Motion, exact: bool = True) -> str:
    """The BVH text for a canonical motion (see the module docstring for the construction)."""
    if tuple(motion.joint_names) != JOINTS:
        raise MotionError("write_bvh needs a canonical motion (the joints of motion.skeleton.JOINTS)")
    pos = motion.positions.astype(np.float64) * CM_PER_M
    rest, rotations = solve_pose(pos)
    columns = []
    for j, parent in enumerate(PARENTS):
        local = rotations[:, j] if parent < 0 else np.swapaxes(rotations[:, parent], -1, -2) @ rotations[:, j]
        angles = np.rad2deg(np.unwrap(np.deg2rad(matrix_to_euler_zyx(local)), axis=0))
        if parent < 0:
            columns.append(pos[:, j])
        elif exact:
            columns.append(np.einsum("tba,tb->ta", rotations[:, parent], pos[:, j] - pos[:, parent]))
        columns.append(angles)
    values = io.StringIO()
    np.savetxt(values, np.concatenate(columns, axis=1), fmt="%.6f")
    return (f"{_hierarchy_text(rest, exact)}MOTION\nFrames: {motion.n_frames}\n"
            f"Frame Time: {1.0 / motion.fps:.8f}\n{values.getvalue()}")


def write_bvh(motion: Motion, path: str | Path, exact: bool = True) -> None:
    """Write a canonical motion (metres) to ``path`` as a centimetre BVH on the canonical skeleton.

    Reading it back with :func:`motion.bvh.read_bvh_text` gives the canonical joints (plus End
    Sites ``head_end``, ``*_wrist_end``, ``*_toe_end``) at 100 x the input positions.
    """
    Path(path).write_text(bvh_text(motion, exact), encoding="utf-8")
