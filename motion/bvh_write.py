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


def solve_tree(parents: list[int] | tuple[int, ...], positions: np.ndarray,
               rest_dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rest offsets (J, 3) and global joint rotations (T, J, 3, 3) of any joint tree fitting positions.

    Rest lengths are the median bone lengths; single-child bones point along ``rest_dirs`` (J, 3) at rest
    and get the least rotation onto the data (no spurious twist); joints with several children take the
    data's median local geometry as rest offsets and a Kabsch rotation per frame; leaves inherit their
    parent's rotation. ``parents`` lists parents before children.
    """
    n_frames, n_joints = positions.shape[:2]
    bones = positions - positions[:, [max(p, 0) for p in parents]]
    lengths = np.median(np.linalg.norm(bones, axis=-1), axis=0)
    dirs = np.asarray(rest_dirs, dtype=np.float64)
    rest = np.zeros((n_joints, 3))
    for j in range(1, n_joints):
        rest[j] = dirs[j] / max(float(np.linalg.norm(dirs[j])), 1e-9) * lengths[j]
    children = [[c for c, p in enumerate(parents) if p == j and lengths[c] > 1e-9] for j in range(n_joints)]
    rotations = np.empty((n_frames, n_joints, 3, 3))
    for j, parent in enumerate(parents):
        kids = children[j]
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


def solve_pose(positions_cm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rest offsets (J, 3) and global joint rotations (T, J, 3, 3) fitting canonical positions."""
    dirs = np.zeros((len(JOINTS), 3))
    for j in range(1, len(JOINTS)):
        dirs[j] = _template(JOINTS[j])
    return solve_tree(PARENTS, positions_cm, dirs)


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


def tree_bvh_text(names: list[str], parents: list[int], positions: np.ndarray, fps: float,
                  rest_dirs: np.ndarray, *, root_offset: np.ndarray | None = None, absolute_channels: bool = False,
                  end_sites: dict[int, np.ndarray] | None = None, order: str = "ZXY",
                  translated: frozenset[int] = frozenset()) -> str:
    """BVH text for any joint tree from global joint positions (T, J, 3) in the file's own units/axes.

    Retargets positions onto a rig of another convention (tests, cross-rig evaluation, export on a
    user's rig). ``parents`` must list parents before children; ``rest_dirs`` (J, 3) are the rest-pose
    bone directions (T-pose or A-pose) used for single-child bones; joints with several children get the
    data's median local geometry as rest offsets and a Kabsch rotation per frame; rest lengths are the
    median bone lengths, so rigid data come back exactly (to print precision) and non-rigid data within
    their length variation. Only the root has position channels; ``root_offset`` is written as the ROOT
    OFFSET and subtracted from the channels (None: a zero OFFSET, absolute channels), or with
    ``absolute_channels`` kept in the channels too (the Mixamo/Rokoko export quirk). Joints in
    ``translated`` get position channels too, holding their per-frame offset (Unreal's pelvis below a
    root on the floor moves up and down). ``end_sites`` maps a leaf joint to its End Site offset.
    """
    pos = np.asarray(positions, dtype=np.float64)
    rest, rotations = solve_tree(parents, pos, rest_dirs)
    children = [[c for c, p in enumerate(parents) if p == j] for j in range(len(names))]
    offset0 = np.zeros(3) if root_offset is None else np.asarray(root_offset, dtype=np.float64)
    out = io.StringIO()
    rot_names = " ".join(f"{a}rotation" for a in order)
    end_sites = end_sites or {}

    def emit(j: int, depth: int) -> None:
        pad = "  " * depth
        root = parents[j] < 0
        moves = root or j in translated
        off = offset0 if root else rest[j]
        out.write(f"{pad}{'ROOT' if root else 'JOINT'} {names[j]}\n{pad}{{\n")
        out.write(f"{pad}  OFFSET {off[0]:.6f} {off[1]:.6f} {off[2]:.6f}\n")
        out.write(f"{pad}  CHANNELS {6 if moves else 3} {'Xposition Yposition Zposition ' if moves else ''}{rot_names}\n")
        for kid in children[j]:
            emit(kid, depth + 1)
        if j in end_sites:
            e = end_sites[j]
            out.write(f"{pad}  End Site\n{pad}  {{\n{pad}    OFFSET {e[0]:.6f} {e[1]:.6f} {e[2]:.6f}\n{pad}  }}\n")
        out.write(f"{pad}}}\n")

    out.write("HIERARCHY\n")
    emit(0, 0)
    columns = []
    for j, parent in enumerate(parents):
        if parent < 0:
            columns.append(pos[:, 0] if absolute_channels else pos[:, 0] - offset0)
        elif j in translated:
            columns.append(np.einsum("tba,tb->ta", rotations[:, parent], pos[:, j] - pos[:, parent]))
        local = rotations[:, j] if parent < 0 else np.swapaxes(rotations[:, parent], -1, -2) @ rotations[:, j]
        angles = matrix_to_euler(local, order)
        columns.append(np.rad2deg(np.unwrap(np.deg2rad(angles), axis=0)))
    values = io.StringIO()
    np.savetxt(values, np.concatenate(columns, axis=1), fmt="%.6f")
    return (f"{out.getvalue()}MOTION\nFrames: {len(pos)}\nFrame Time: {1.0 / fps:.8f}\n{values.getvalue()}")


def matrix_to_euler(matrices: np.ndarray, order: str) -> np.ndarray:
    """Euler angles in degrees (..., 3), in the BVH channel ``order`` (intrinsic, as the reader composes)."""
    from scipy.spatial.transform import Rotation

    flat = matrices.reshape(-1, 3, 3)
    angles = Rotation.from_matrix(flat).as_euler(order.upper(), degrees=True)
    return angles.reshape(*matrices.shape[:-2], 3)
