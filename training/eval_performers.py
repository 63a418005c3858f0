"""The same moment performed by someone else: a synthetic stand-in for Perfume on ``val``.

Perfume (three dancers, one routine, in sync) measures whether search by example finds the same moment
danced by another body, but it is test-only, so nothing can be chosen on it. This proxy makes "another
performer" of a split's own clips: another body size, a constant posture offset and a different amplitude
for every joint coordinate relative to the pelvis (the performer's own way of holding and moving), and a
mild, smooth time warp (speed 0.95-1.05, as two dancers following one piece of music drift). Each copy's
windows query the split; a hit is a window of the original clip within :data:`TOLERANCE_FRAMES` (1 s, as
Perfume's) of the moment the copy's window was made from. It is synthetic: real dancers differ in more
ways, so it informs a choice on ``val`` and Perfume stays the test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from motion.skeleton import CANONICAL_FPS, JOINT_INDEX

TOLERANCE_FRAMES = int(CANONICAL_FPS)  # 1 s, as Perfume's cross-dancer hit
MIN_SECONDS = 10.0
MAX_SECONDS = 60.0
MAX_SPEED_CHANGE = 0.05
AMPLITUDE_CHANGE = 0.2
POSTURE_OFFSET_M = 0.03


@dataclass
class PerformedAgain:
    """A copy of clip ``clip_id``: ``positions`` (T, J, 3) and, per copy frame, the source frame it shows."""

    clip_id: int
    positions: np.ndarray
    source_frame: np.ndarray


def time_warp(n_frames: int, rng: np.random.Generator) -> np.ndarray:
    """Source frame (float) of each frame of a copy whose speed varies smoothly within 1 +- MAX_SPEED_CHANGE."""
    period = rng.uniform(4.0, 12.0) * CANONICAL_FPS
    phase = rng.uniform(0.0, 2.0 * np.pi)
    speed = 1.0 + MAX_SPEED_CHANGE * np.sin(2.0 * np.pi * np.arange(2 * n_frames) / period + phase)
    src = np.concatenate([[0.0], np.cumsum(speed)])
    return src[src <= n_frames - 1]


def perform_again(positions: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(copy positions, source frame per copy frame) of a canonical motion (T, J, 3) by another performer."""
    pos = np.asarray(positions, np.float64)
    src = time_warp(len(pos), rng)
    f0 = np.floor(src).astype(np.int64)
    f1 = np.minimum(f0 + 1, len(pos) - 1)
    a = (src - f0)[:, None, None]
    warped = pos[f0] * (1.0 - a) + pos[f1] * a
    pelvis = warped[:, JOINT_INDEX["pelvis"]][:, None, :]
    rel = warped - pelvis
    mean = rel.mean(0, keepdims=True)
    amplitude = 1.0 + rng.uniform(-AMPLITUDE_CHANGE, AMPLITUDE_CHANGE, size=(1, *rel.shape[1:]))
    offset = rng.normal(0.0, POSTURE_OFFSET_M, size=(1, *rel.shape[1:]))
    rel = mean + (rel - mean) * amplitude + offset
    rel[:, JOINT_INDEX["pelvis"]] = 0.0
    return (pelvis + rel * rng.uniform(0.85, 1.15)).astype(np.float32), src


def performed_again(split: Any, seed: int, clips: int = 40) -> list[PerformedAgain]:
    """Copies of up to ``clips`` seeded clips of the split at least MIN_SECONDS long (their first MAX_SECONDS)."""
    rng = np.random.default_rng(seed)
    long_enough = [c for c in split.windows.clips_in_order()
                   if len(split.windows.clip_positions[c]) >= MIN_SECONDS * CANONICAL_FPS]
    chosen = sorted(rng.choice(len(long_enough), min(clips, len(long_enough)), replace=False)) if long_enough else []
    out = []
    for n in chosen:
        cid = long_enough[int(n)]
        copy, src = perform_again(split.windows.clip_positions[cid][: int(MAX_SECONDS * CANONICAL_FPS)], rng)
        out.append(PerformedAgain(int(cid), copy, src))
    return out


def relevant_windows(copy: PerformedAgain, query_starts: np.ndarray, clip_ids: np.ndarray,
                     starts: np.ndarray) -> np.ndarray:
    """(queries, split windows) bool: windows of the original clip within TOLERANCE_FRAMES of each query's
    source moment."""
    moment = copy.source_frame[np.asarray(query_starts, np.int64)]
    return (clip_ids[None, :] == copy.clip_id) & (np.abs(starts[None, :] - moment[:, None]) <= TOLERANCE_FRAMES)
