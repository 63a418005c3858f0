"""Cutting canonical motion into fixed windows and turning windows into model features.

A window is `size` consecutive canonical frames (50 frames = 2 s at 25 fps by default, stride 20).
Features keep what tells motions apart, including travel and turning (the paper dropped global
motion; dance travels and turns): each window is expressed in its own frame of reference, the
pelvis of its first frame at the origin on the floor plane and facing +Z, and the joints of every
frame are given in that frame. So a waltz that drifts and turns keeps its drift and turn, while the
same step danced facing another way of the room, or in another corner, gives the same features.
"""

from __future__ import annotations

import numpy as np

from motion.orientation import BODY_LENGTH_M, body_lengths
from motion.skeleton import JOINT_INDEX, N_JOINTS

DEFAULT_SIZE = 50
DEFAULT_STRIDE = 20
N_FEATURES = N_JOINTS * 3

_L_HIP, _R_HIP = JOINT_INDEX["l_hip"], JOINT_INDEX["r_hip"]
_L_SH, _R_SH = JOINT_INDEX["l_shoulder"], JOINT_INDEX["r_shoulder"]
_PELVIS = JOINT_INDEX["pelvis"]


def window_starts(n_frames: int, size: int = DEFAULT_SIZE, stride: int = DEFAULT_STRIDE) -> list[int]:
    """Start frames of the windows of a clip of `n_frames` frames.

    Windows start every `stride` frames; when the last regular window stops short of the end, one
    more window aligned to the end covers the tail. A clip shorter than `size` gets one window at 0
    (it is padded by repeating its last frame, see :func:`extract_window`).
    """
    if size <= 0 or stride <= 0:
        raise ValueError(f"window size and stride must be positive, got {size} and {stride}")
    if n_frames <= 0:
        return []
    if n_frames <= size:
        return [0]
    starts = list(range(0, n_frames - size + 1, stride))
    if starts[-1] + size < n_frames:
        starts.append(n_frames - size)
    return starts


def extract_window(positions: np.ndarray, start: int, size: int = DEFAULT_SIZE,
                   speed: float = 1.0) -> np.ndarray:
    """Frames of one window, (size, J, 3), optionally time-warped.

    `speed` > 1 plays the motion faster: the window covers `size * speed` source frames resampled
    linearly to `size` frames (time-warp augmentation). Frames past the end of the clip repeat
    its last frame.
    """
    n = positions.shape[0]
    t = start + np.arange(size, dtype=np.float64) * speed
    t = np.clip(t, 0.0, n - 1)
    lo = np.floor(t).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    w = (t - lo)[:, None, None].astype(np.float32)
    return (positions[lo] * (1.0 - w) + positions[hi] * w).astype(np.float32)


def make_windows(positions: np.ndarray, size: int = DEFAULT_SIZE,
                 stride: int = DEFAULT_STRIDE) -> tuple[np.ndarray, list[int]]:
    """All windows of a clip: an array (N, size, J, 3) and the list of their start frames."""
    starts = window_starts(positions.shape[0], size, stride)
    if not starts:
        return np.zeros((0, size, positions.shape[1], 3), np.float32), []
    return np.stack([extract_window(positions, s, size) for s in starts]), starts


def facing_angles(frames: np.ndarray) -> np.ndarray:
    """Heading (radians about +Y, 0 = facing +Z) of each pose in (..., J, 3).

    The performer's left-to-right axis is taken from hips and shoulders together; forward is
    left x up. In a right-handed Y-up frame a performer facing +Z has their left towards +X.
    """
    across = (frames[..., _L_HIP, :] - frames[..., _R_HIP, :]) + (frames[..., _L_SH, :] - frames[..., _R_SH, :])
    # forward = across x up, with up = (0, 1, 0): (ax, ay, az) x (0, 1, 0) = (-az, 0, ax)
    fx, fz = -across[..., 2], across[..., 0]
    return np.arctan2(fx, fz)


def rotation_y(angle: np.ndarray | float) -> np.ndarray:
    """Rotation matrices (..., 3, 3) about +Y by `angle` radians (counter-clockwise seen from above)."""
    a = np.asarray(angle, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    z, o = np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def to_window_frame(windows: np.ndarray, normalise_body: bool = False) -> np.ndarray:
    """Express windows (N, S, J, 3) in their own frame: first-frame pelvis over the origin, facing +Z.

    With ``normalise_body`` every window is also scaled so that its body measure (legs + spine + head,
    :func:`body_lengths`) is BODY_LENGTH_M: a child, a tall dancer and a rig whose joints sit a little
    apart move alike in feature space (models record whether they were trained so, see
    ``config.json`` ``features.body_normalised``).
    """
    first = windows[:, 0]
    origin = first[:, _PELVIS].copy()
    origin[:, 1] = 0.0  # keep height: jumps, crouches and floor work stay visible
    rot = rotation_y(-facing_angles(first)).astype(np.float32)  # (N, 3, 3)
    centred = windows - origin[:, None, None, :]
    out = np.matmul(centred, rot.transpose(0, 2, 1)[:, None]).astype(np.float32, copy=False)
    return normalise_bodies(out) if normalise_body else out


def normalise_bodies(windows: np.ndarray) -> np.ndarray:
    """Windows (N, S, J, 3) in their own frame scaled to a body measure of BODY_LENGTH_M each."""
    if not len(windows):
        return windows
    lengths = body_lengths(windows)
    factor = np.where(lengths > 1e-6, BODY_LENGTH_M / np.maximum(lengths, 1e-6), 1.0).astype(np.float32)
    return (windows * factor[:, None, None, None]).astype(np.float32, copy=False)


def window_features(windows: np.ndarray) -> np.ndarray:
    """Model input features (N, S, J*3) of windows (N, S, J, 3) of canonical positions."""
    local = to_window_frame(windows)
    n, s = local.shape[:2]
    return local.reshape(n, s, -1)
