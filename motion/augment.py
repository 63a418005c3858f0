"""The paper's four training augmentations, applied to windows in their own frame (N, S, J, 3).

Rotation about the vertical axis (+/-15 deg), uniform scale (+/-5 %), mirroring (x -> -x with the
left and right joints swapped, so a mirrored left-hand wave is a right-hand wave) and time warping
(+/-10 % speed, applied when a window is cut from its clip, see :func:`motion.windows.extract_window`).
Augmented copies stay in the split of their original: these functions only ever see training windows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from motion.skeleton import MIRROR_PERMUTATION
from motion.windows import rotation_y


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the random augmentations; probabilities are per window."""

    max_rotation_deg: float = 15.0
    max_scale: float = 0.05
    mirror_prob: float = 0.5
    max_speed_change: float = 0.10


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
