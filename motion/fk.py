"""Rotation matrices and forward kinematics, vectorised over frames.

BVH stores one local rotation per joint and frame as Euler angles in the joint's own channel order;
:func:`euler_to_matrix` builds the (T, 3, 3) matrices for all frames of one joint at once, and
:func:`forward_kinematics` walks the joints once (parents before children), doing every frame of a
joint in one matrix product. Conventions: column vectors, intrinsic rotations composed in the listed
order (``"ZXY"`` means ``Rz @ Rx @ Ry``), angles in degrees - the BVH convention.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def axis_rotation(axis: str, degrees: np.ndarray) -> np.ndarray:
    """(T, 3, 3) rotation matrices about one principal axis ``"X"``, ``"Y"`` or ``"Z"``.

    Right-handed: a positive angle turns Y towards Z about X, Z towards X about Y, X towards Y about Z.
    """
    rad = np.deg2rad(np.asarray(degrees, dtype=np.float64))
    c, s = np.cos(rad), np.sin(rad)
    out = np.zeros(rad.shape + (3, 3))
    i = "XYZ".index(axis.upper())
    j, k = (i + 1) % 3, (i + 2) % 3
    out[..., i, i] = 1.0
    out[..., j, j] = c
    out[..., k, k] = c
    out[..., j, k] = -s
    out[..., k, j] = s
    return out


def euler_to_matrix(degrees: np.ndarray, order: str) -> np.ndarray:
    """Compose rotations about the axes of ``order`` (e.g. ``"ZXY"``), one angle column per axis.

    ``degrees`` is (..., len(order)); the result is (..., 3, 3) = R[order[0]] @ R[order[1]] @ ...
    An empty order gives identity matrices.
    """
    angles = np.asarray(degrees, dtype=np.float64)
    if not order:
        return np.broadcast_to(np.eye(3), angles.shape[:-1] + (3, 3)).copy()
    result = axis_rotation(order[0], angles[..., 0])
    for col in range(1, len(order)):
        result = result @ axis_rotation(order[col], angles[..., col])
    return result


def forward_kinematics(parents: Sequence[int], translations: np.ndarray,
                       rotations: np.ndarray | None) -> np.ndarray:
    """Global joint positions (T, J, 3) from local translations and rotations.

    parents: J parent indices, each smaller than the joint's own index (-1 for a root);
    translations: (T, J, 3) or (J, 3) offset of each joint in its parent's frame (a root's is global);
    rotations: (T, J, 3, 3) local rotation of each joint, or None for none. A joint's position is
    ``global_pos[parent] + global_rot[parent] @ translation[joint]``.
    """
    trans = np.asarray(translations, dtype=np.float64)
    n_joints = len(parents)
    if rotations is None:
        n_frames = trans.shape[0] if trans.ndim == 3 else 1
        rotations = np.broadcast_to(np.eye(3), (n_frames, n_joints, 3, 3))
    n_frames = rotations.shape[0]
    if trans.ndim == 2:
        trans = np.broadcast_to(trans, (n_frames, n_joints, 3))
    pos = np.empty((n_frames, n_joints, 3))
    rot = np.empty((n_frames, n_joints, 3, 3))
    for j, p in enumerate(parents):
        if p < 0:
            pos[:, j] = trans[:, j]
            rot[:, j] = rotations[:, j]
            continue
        if p >= j:
            raise ValueError(f"joint {j} has parent {p}: parents must come first")
        pos[:, j] = pos[:, p] + np.einsum("tab,tb->ta", rot[:, p], trans[:, j])
        rot[:, j] = rot[:, p] @ rotations[:, j]
    return pos


def matrix_to_euler_zyx(matrices: np.ndarray) -> np.ndarray:
    """Inverse of ``euler_to_matrix(angles, "ZYX")``: (..., 3, 3) -> (..., 3) degrees (z, y, x).

    At gimbal lock (y = +-90 degrees) the z angle is set to 0 and x absorbs the remaining rotation.
    """
    m = np.asarray(matrices, dtype=np.float64)
    sy = np.clip(-m[..., 2, 0], -1.0, 1.0)
    y = np.arcsin(sy)
    locked = np.abs(sy) > 1.0 - 1e-9
    z = np.where(locked, 0.0, np.arctan2(m[..., 1, 0], m[..., 0, 0]))
    x = np.where(locked, np.arctan2(-m[..., 1, 2], m[..., 1, 1]), np.arctan2(m[..., 2, 1], m[..., 2, 2]))
    return np.rad2deg(np.stack([z, y, x], axis=-1))


def _unit(v: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(norm > 1e-12, norm, 1.0)


def minimal_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotations of least angle turning direction ``a`` onto direction ``b`` (..., 3).

    Opposite directions get a half turn about an axis perpendicular to ``a``; zero vectors give
    the identity.
    """
    a, b = np.broadcast_arrays(_unit(np.asarray(a, float)), _unit(np.asarray(b, float)))
    v = np.cross(a, b)
    c = np.sum(a * b, axis=-1)
    vx = np.zeros(v.shape + (3,))
    vx[..., 0, 1], vx[..., 0, 2], vx[..., 1, 2] = -v[..., 2], v[..., 1], -v[..., 0]
    vx[..., 1, 0], vx[..., 2, 0], vx[..., 2, 1] = v[..., 2], -v[..., 1], v[..., 0]
    eye = np.broadcast_to(np.eye(3), vx.shape)
    opposite = c < -1.0 + 1e-9
    scale = 1.0 / np.where(opposite, 1.0, 1.0 + c)
    rot = eye + vx + (vx @ vx) * scale[..., None, None]
    if np.any(opposite):
        helper = np.where(np.abs(a[..., :1]) < 0.9, [1.0, 0.0, 0.0], [0.0, 1.0, 0.0])
        axis = _unit(np.cross(a, helper))
        half_turn = 2.0 * axis[..., :, None] * axis[..., None, :] - eye
        rot = np.where(opposite[..., None, None], half_turn, rot)
    return rot


def kabsch(rest: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """(T, 3, 3) proper rotations R minimising sum_k |R rest[k] - actual[t, k]|^2.

    rest: (K, 3) vectors in the joint's rest frame; actual: (T, K, 3) the same vectors per frame.
    """
    h = np.einsum("ka,tkb->tab", rest, actual)
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(np.swapaxes(vt, -1, -2) @ np.swapaxes(u, -1, -2)))
    fix = np.broadcast_to(np.eye(3), h.shape).copy()
    fix[:, 2, 2] = np.where(d == 0, 1.0, d)
    return np.swapaxes(vt, -1, -2) @ fix @ np.swapaxes(u, -1, -2)
