"""The paper's four training augmentations, applied to windows in their own frame (N, S, J, 3).

Rotation about the vertical axis (+/-15 deg), uniform scale (+/-5 %), mirroring (x -> -x with the
left and right joints swapped, so a mirrored left-hand wave is a right-hand wave) and time warping
(+/-10 % speed, applied when a window is cut from its clip, see :func:`motion.windows.extract_window`).
Augmented copies stay in the split of their original: these functions only ever see training windows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from motion.skeleton import MIRROR_PERMUTATION, PARENTS
from motion.windows import rotation_y


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the random augmentations; probabilities are per window."""

    max_rotation_deg: float = 15.0
    max_scale: float = 0.05
    mirror_prob: float = 0.5
    max_speed_change: float = 0.10
    # Body and rig variation (model v2): per-bone length scaling (left and right alike), a constant
    # displacement of each joint (joints placed a little differently by another rig), a small tilt.
    max_bone_scale: float = 0.0
    max_joint_jitter_m: float = 0.0
    max_tilt_deg: float = 0.0


def rotate(windows: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """Rotate each window (N, S, J, 3) about +Y by its angle in radians (N,)."""
    rot = rotation_y(angles).astype(np.float32)
    return np.matmul(windows, rot.transpose(0, 2, 1)[:, None]).astype(np.float32, copy=False)


def scale(windows: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Scale each window uniformly by its factor (N,)."""
    return (windows * factors[:, None, None, None]).astype(np.float32)


def mirror(windows: np.ndarray) -> np.ndarray:
    """Mirror windows left-right: negate x and swap left/right joints."""
    out = windows[:, :, list(MIRROR_PERMUTATION)].copy()
    out[..., 0] *= -1.0
    return out


def random_speeds(n: int, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """Time-warp speed factors for `n` windows, uniform in [1 - c, 1 + c]."""
    return rng.uniform(1.0 - cfg.max_speed_change, 1.0 + cfg.max_speed_change, size=n)


def augment(windows: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig | None = None) -> np.ndarray:
    """Random rotation, scale and mirroring of windows (N, S, J, 3) already in their own frame."""
    cfg = cfg or AugmentConfig()
    n = windows.shape[0]
    angles = np.deg2rad(rng.uniform(-cfg.max_rotation_deg, cfg.max_rotation_deg, size=n))
    out = rotate(windows, angles)
    out = scale(out, np.asarray(rng.uniform(1.0 - cfg.max_scale, 1.0 + cfg.max_scale, size=n), dtype=np.float32))
    flip = np.asarray(rng.random(n) < cfg.mirror_prob)
    if flip.any():
        out[flip] = mirror(out[flip])
    return out


def vary_body(windows: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """Another body and rig for each window (N, S, J, 3): every bone scaled by its own factor in
    [1 - b, 1 + b] (the same for the left and right bone of a pair, as proportions are), every joint
    displaced by a constant offset of up to ``max_joint_jitter_m`` in each axis, and the whole window
    tilted about a random horizontal axis by up to ``max_tilt_deg``. Bone lengths change, the motion
    (the joints' rotations) stays.
    """
    n, _, j, _ = windows.shape
    out = windows.astype(np.float32, copy=True)
    if cfg.max_bone_scale > 0:
        factors = rng.uniform(1 - cfg.max_bone_scale, 1 + cfg.max_bone_scale, size=(n, j)).astype(np.float32)
        factors = factors[:, np.minimum(np.arange(j), MIRROR_PERMUTATION)]  # a pair shares one factor
        for joint, parent in enumerate(PARENTS):
            if parent < 0:
                continue
            out[:, :, joint] = out[:, :, parent] + (windows[:, :, joint] - windows[:, :, parent]) * factors[:, None, joint, None]
    if cfg.max_joint_jitter_m > 0:
        out += rng.uniform(-cfg.max_joint_jitter_m, cfg.max_joint_jitter_m, size=(n, 1, j, 3)).astype(np.float32)
    if cfg.max_tilt_deg > 0:
        angle = np.deg2rad(rng.uniform(0, cfg.max_tilt_deg, size=n))
        axis_angle = rng.uniform(0, 2 * np.pi, size=n)
        ax, az = np.cos(axis_angle), np.sin(axis_angle)
        c, s = np.cos(angle), np.sin(angle)
        # Rodrigues rotation about the horizontal unit axis (ax, 0, az).
        rot = np.empty((n, 3, 3))
        rot[:, 0] = np.stack([c + ax * ax * (1 - c), az * s, ax * az * (1 - c)], -1)
        rot[:, 1] = np.stack([-az * s, c, ax * s], -1)
        rot[:, 2] = np.stack([ax * az * (1 - c), -ax * s, c + az * az * (1 - c)], -1)
        pivot = out[:, :1, :1].copy()
        pivot[..., 1] = 0.0
        out = np.matmul(out - pivot, rot.astype(np.float32).transpose(0, 2, 1)[:, None]) + pivot
    return out.astype(np.float32)
