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
