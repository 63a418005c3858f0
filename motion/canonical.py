"""Mapping any loaded motion onto the canonical skeleton of :mod:`motion.skeleton`.

:func:`to_canonical` detects the rig from the joint names (:mod:`motion.rigmap`), maps and
converts to metres / Y up / right-handed, drops a leading T-pose where the rig says so and resamples
to ``CANONICAL_FPS`` by linear interpolation over time. The global root trajectory is kept: nothing
is centred or shifted per clip. A rig with ``floor = "rolling"`` (the ballroom JSON, whose centre
track drifts upwards by up to ~40 cm over a minute) gets that slow drift removed by
:func:`remove_vertical_drift`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from motion.data import Motion, MotionError
from motion.rigmap import Rig, detect_rig, load_rigs
from motion.skeleton import CANONICAL_FPS, JOINT_INDEX, JOINTS, PARENTS

FLOOR_WINDOW_S = 2.0
_FEET = [JOINT_INDEX[n] for n in ("l_ankle", "l_toe", "r_ankle", "r_toe")]


def _rolling(values: np.ndarray, width: int, how: str) -> np.ndarray:
    padded = np.pad(values, (width // 2, width - 1 - width // 2), mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, width)
    return windows.min(axis=1) if how == "min" else windows.mean(axis=1)


def remove_vertical_drift(positions: np.ndarray, fps: float) -> np.ndarray:
    """Hold the floor level steady: subtract the slow change of the lowest foot joint's height.

    The floor estimate is the rolling minimum over FLOOR_WINDOW_S of the lowest ankle/toe height,
    smoothed by a rolling mean of the same width; its change since the first frame is removed from
    every joint's y. Jumps and rise-and-fall shorter than the window are kept.
    """
    width = max(1, min(len(positions), round(FLOOR_WINDOW_S * fps)))
    lowest = positions[:, _FEET, 1].min(axis=1)
    floor = _rolling(_rolling(lowest, width, "min"), width, "mean")
    out = positions.copy()
    out[..., 1] -= (floor - floor[0])[:, None]
    return out


def resample(positions: np.ndarray, fps: float, target_fps: float) -> np.ndarray:
    """Linearly interpolate (T, J, 3) frames sampled at ``fps`` to ``target_fps``.

    Output frame k is at time k / target_fps for every such time within the input's span
    [0, (T - 1) / fps], so a clip never gains time it did not have. One input frame gives one frame.
    """
    n = positions.shape[0]
    if n <= 1 or fps == target_fps:
        return positions.copy()
    n_out = int(np.floor((n - 1) / fps * target_fps + 1e-9)) + 1
    src = np.arange(n_out) * (fps / target_fps)
    lo = np.minimum(np.floor(src).astype(np.int64), n - 1)
    hi = np.minimum(lo + 1, n - 1)
    w = (src - lo)[:, None, None]
    return (1.0 - w) * positions[lo] + w * positions[hi]


def to_canonical(motion: Motion, rigs: Sequence[Rig] | None = None) -> Motion:
    """The motion on the canonical skeleton: metres, Y up, performer's left = ``l_*``, 25 fps.

    rigs: mappings to choose from (default: :func:`motion.rigmap.load_rigs` built-ins).
    meta keeps the reader's entries and adds ``rig``, ``source_fps``, ``source_frames`` (as read)
    and ``dropped_frames``. Raises :class:`MotionError` if no rig fits or nothing is left.
    """
    rig = detect_rig(motion.joint_names, load_rigs() if rigs is None else rigs)
    positions = rig.apply(motion.positions, motion.joint_names)
    dropped = 1 if rig.drop_first_frame and positions.shape[0] > 1 else 0
    positions = positions[dropped:]
    if positions.shape[0] == 0:
        raise MotionError("no frames left after mapping")
    out = resample(positions, float(motion.fps), CANONICAL_FPS)
    if rig.floor == "rolling":
        out = remove_vertical_drift(out, CANONICAL_FPS)
    meta = dict(motion.meta)
    meta.update(rig=rig.name, source_fps=float(motion.fps), source_frames=motion.n_frames,
                dropped_frames=dropped)
    return Motion(out.astype(np.float32), CANONICAL_FPS, list(JOINTS), list(PARENTS), meta)
