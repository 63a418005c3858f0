"""The one motion data model every reader produces and every later stage consumes.

A motion is a sequence of 3-D joint positions with a frame rate and a skeleton (joint names and
parent indices). Rotations are not kept: every source, BVH or positions, ends up as positions, which
is what the canonical skeleton, the models and the player need.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


class MotionError(ValueError):
    """A motion file that cannot be read or mapped; the message names the problem (not the file:
    callers that know the path prefix it, see :func:`motion.formats.load_motion`)."""


@dataclass
class Motion:
    """Joint positions over time.

    positions: float32 array (T, J, 3), in the units and axes of `units`/`up` (canonical motions are
    metres, Y up); joint_names: J names; parents: J parent indices, -1 for the root; fps: frames per
    second (> 0); meta: free-form facts from the reader (rig name, original frame count, ...).
    """

    positions: np.ndarray
    fps: float
    joint_names: list[str]
    parents: list[int]
    meta: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        pos = np.asarray(self.positions, dtype=np.float32)
        if pos.ndim != 3 or pos.shape[2] != 3:
            raise MotionError(f"positions must have shape (frames, joints, 3), got {pos.shape}")
        if pos.shape[1] != len(self.joint_names) or len(self.parents) != len(self.joint_names):
            raise MotionError(
                f"{pos.shape[1]} joints in positions but {len(self.joint_names)} names "
                f"and {len(self.parents)} parents"
            )
        if not np.isfinite(self.fps) or self.fps <= 0:
            raise MotionError(f"frame rate must be positive, got {self.fps}")
        self.positions = pos

    @property
    def n_frames(self) -> int:
        return int(self.positions.shape[0])

    @property
    def n_joints(self) -> int:
        return int(self.positions.shape[1])

    @property
    def duration(self) -> float:
        """Seconds covered by the frames (frame count / fps)."""
        return self.n_frames / float(self.fps)

    def joint_index(self, name: str) -> int:
        try:
            return self.joint_names.index(name)
        except ValueError:
            raise MotionError(f"no joint named {name!r}") from None

    def slice_frames(self, start: int, end: int) -> Motion:
        """Frames [start, end) as a new motion sharing the skeleton."""
        return Motion(self.positions[start:end].copy(), self.fps, list(self.joint_names),
                      list(self.parents), dict(self.meta))
