"""Chaining generated windows into one longer motion.

Each generated window is in its own frame (first pelvis over the origin, facing +Z). The next
window is rotated to the heading and moved to the floor position where the previous one ends, and
the two are cross-faded over a few overlapping frames so the joins do not jump.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from motion.skeleton import JOINT_INDEX
from motion.windows import facing_angles, rotation_y

BLEND_FRAMES = 10


def place_after(previous: np.ndarray, window: np.ndarray, blend: int = BLEND_FRAMES) -> np.ndarray:
    """`window` (S, J, 3) moved so its first frame starts where `previous`'s frame -blend is."""
    anchor = previous[-blend] if len(previous) >= blend else previous[-1]
    heading = float(facing_angles(anchor))
    rot = rotation_y(heading).astype(np.float32)
    placed = window @ rot.T
    offset = anchor[JOINT_INDEX["pelvis"]] - placed[0, JOINT_INDEX["pelvis"]]
    offset[1] = 0.0
    return (placed + offset).astype(np.float32)


def chain_windows(windows: Sequence[np.ndarray], n_frames: int, blend: int = BLEND_FRAMES) -> np.ndarray:
    """Concatenate windows with cross-fades, cut to `n_frames` frames."""
    if not windows:
        raise ValueError("no windows to chain")
    out = np.asarray(windows[0], np.float32)
    for w in windows[1:]:
        placed = place_after(out, np.asarray(w, np.float32), blend)
        k = min(blend, len(out), len(placed))
        alpha = np.linspace(0.0, 1.0, k, dtype=np.float32)[:, None, None]
        mixed = out[-k:] * (1 - alpha) + placed[:k] * alpha
        out = np.concatenate([out[:-k], mixed, placed[k:]])
    return out[:n_frames]


def seam_cost(previous: np.ndarray, window: np.ndarray, blend: int = BLEND_FRAMES) -> float:
    """Mean joint distance (m) over the cross-faded frames between ``previous``'s end and ``window`` placed
    after it: how much the cross-fade has to hide (pose and velocity both differ where it is large)."""
    placed = place_after(previous, np.asarray(window, np.float32), blend)
    k = min(blend, len(previous), len(placed))
    return float(np.linalg.norm(previous[-k:] - placed[:k], axis=-1).mean())


def chain_best(candidates: Sequence[Sequence[np.ndarray]], blend: int = BLEND_FRAMES) -> list[np.ndarray]:
    """One window per slot from ``candidates[i]`` (the options for slot ``i``), greedily the option with
    the smallest :func:`seam_cost` after the motion chained so far (slot 0 takes its first option)."""
    if not len(candidates) or not len(candidates[0]):
        raise ValueError("no windows to chain")
    chosen = [np.asarray(candidates[0][0], np.float32)]
    out = chosen[0]
    for options in candidates[1:]:
        best = min(options, key=lambda w: seam_cost(out, w, blend))
        chosen.append(np.asarray(best, np.float32))
        out = chain_windows([out, chosen[-1]], len(out) + len(best) - blend, blend)
    return chosen
