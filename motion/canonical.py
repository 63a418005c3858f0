"""Mapping any loaded motion onto the canonical skeleton of :mod:`motion.skeleton`.

:func:`to_canonical` maps with a rig file when one fits the joint names (:mod:`motion.rigmap`), else
recognises the rig from names and hierarchy (:mod:`motion.recognise`) and detects units, up axis,
handedness and floor (:mod:`motion.orientation`); converts to metres / Y up / right-handed, drops a
leading rest pose, resamples to ``CANONICAL_FPS`` by linear interpolation over time and checks that the
result is a plausible human (:mod:`motion.plausibility`). The global root trajectory is kept: only a
clip whose feet are far off the floor is moved vertically. A rig with ``floor = "rolling"`` (the ballroom JSON, whose centre
track drifts upwards by up to ~40 cm over a minute) gets that slow drift removed by
:func:`remove_vertical_drift`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from motion import plausibility
from motion.data import Motion, MotionError
from motion.orientation import Orientation, level_floor, level_tilt, orient
from motion.recognise import Recognition, normalise_name, recognise
from motion.rigmap import JointSource, Rig, find_rig, load_rigs
from motion.skeleton import CANONICAL_FPS, JOINT_INDEX, JOINTS, MIRROR_PERMUTATION, PARENTS

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


@dataclass
class Decision:
    """How a motion was mapped: the rig (a rig file, or one recognised from names and hierarchy), the
    recognition details, what was detected about units/axes/floor, and the plausibility measures."""

    rig: Rig
    recognition: Recognition | None
    orientation: Orientation | None
    positions: np.ndarray              # canonical joints, metres, Y up, source frame rate, first frame kept
    dropped: int = 0

    @property
    def rig_label(self) -> str:
        return self.rig.name if self.recognition is None else f"recognised: {self.recognition.convention}"

    def details(self) -> dict[str, object]:
        """What was decided, for the clip's metadata and ``dancesearch rig``."""
        out: dict[str, object] = {"rig": self.rig_label}
        if self.recognition is not None:
            r = self.recognition
            out.update(recognised_by=r.by, confidence=r.confidence, matched=dict(r.matched),
                       interpolated=dict(r.interpolated))
        else:
            out.update(units=self.rig.scale, up=self.rig.up, rig_file=self.rig.origin)
        if self.orientation is not None:
            out.update(self.orientation.as_meta())
        out["dropped_frames"] = self.dropped
        return out


def _leading_rest_frame(positions: np.ndarray) -> bool:
    """True when frame 0 is a rest pose glued onto the take (iClone-style): a jump from frame 0 to 1 far
    larger than the typical frame-to-frame change."""
    if len(positions) < 4:
        return False
    step = np.linalg.norm(np.diff(positions, axis=0), axis=-1).max(axis=1)
    return bool(step[0] > 0.25 and step[0] > 8 * np.median(step[1:]))


def decide(motion: Motion, rigs: Sequence[Rig] | None = None) -> Decision:
    """Map ``motion`` onto the canonical joints (metres, Y up, feet on the floor) and say how.

    A rig file whose joints all exist in the motion wins (built-in corpus rigs, then the user's, most
    specific first); otherwise the rig is recognised from joint names and hierarchy
    (:mod:`motion.recognise`) and units, up axis, handedness and floor are detected
    (:mod:`motion.orientation`). Raises :class:`MotionError` when neither works.
    """
    rigs = load_rigs() if rigs is None else rigs
    rig = find_rig(motion.joint_names, rigs)
    if rig is not None:
        positions = rig.apply(motion.positions, motion.joint_names)
        orientation = Orientation(up=rig.up, units=f"{rig.scale:g} m per unit (rig file)", scale=rig.scale)
        offset = motion.meta.get("root_offset")
        offset_up = None
        if isinstance(offset, list) and rig.floor == "none":
            o = np.asarray(offset, dtype=np.float64) * rig.scale
            offset_up = float(o[2] if rig.up == "z" else o[1])
        if rig.floor == "none":  # a camera's tilt belongs to one capture, not to the rig: levelled here too
            positions = level_floor(level_tilt(positions, orientation), orientation, offset_up)
        dropped = 1 if rig.drop_first_frame and positions.shape[0] > 1 else 0
        return Decision(rig, None, orientation, positions[dropped:], dropped)
    recognition = recognise(motion.joint_names, motion.parents, motion.positions,
                            [str(n) for n in motion.meta.get("end_sites", []) or []])  # type: ignore[union-attr, attr-defined]
    identity = Rig(name="recognised", scale=1.0, up="y", drop_first_frame=False, mirror=False,
                   joints=recognition.joints)
    mapped = identity.apply(motion.positions, motion.joint_names)
    toes_real = not any(k.endswith("_toe") and "stands in" in v for k, v in recognition.interpolated.items())
    bases = {normalise_name(n)[1] for n in motion.joint_names}
    offset = motion.meta.get("root_offset")
    positions, orientation = orient(mapped, cmu_names=bool(bases & {"hipjoint", "humerus", "lowerneck"}),
                                    toes_real=toes_real,
                                    root_offset=np.asarray(offset) if isinstance(offset, list) else None)
    dropped = 1 if _leading_rest_frame(positions) else 0
    if dropped:
        orientation.notes.append("frame 0 is a rest pose glued onto the take: dropped")
    rig = Rig(name=f"recognised: {recognition.convention}", scale=orientation.scale * orientation.body_scaled,
              up=orientation.up, drop_first_frame=bool(dropped), mirror=False,
              joints=_swapped(recognition.joints) if orientation.mirrored else recognition.joints,
              description=f"recognised from joint names and hierarchy (closest convention: {recognition.convention})")
    return Decision(rig, recognition, orientation, positions[dropped:], dropped)


def _swapped(joints: dict[str, JointSource]) -> dict[str, JointSource]:
    """The mapping with left and right exchanged (for a rig whose labels were found mirrored)."""
    return {JOINTS[MIRROR_PERMUTATION[i]]: joints[name] for i, name in enumerate(JOINTS)}


def to_canonical(motion: Motion, rigs: Sequence[Rig] | None = None, *, check: bool = True) -> Motion:
    """The motion on the canonical skeleton: metres, Y up, performer's left = ``l_*``, 25 fps.

    rigs: rig files to choose from (default: :func:`motion.rigmap.load_rigs` built-ins); with none
    fitting, the rig is recognised (:func:`decide`). meta keeps the reader's entries and adds ``rig``,
    ``source_fps``, ``source_frames`` (as read), ``dropped_frames``, ``detected`` (units, up axis, root
    handling, interpolated joints, ...) and ``plausibility``. Raises :class:`MotionError` if no rig fits
    or nothing is left, :class:`motion.plausibility.ImplausibleMotion` if the result is not a plausible
    human (``check=False`` skips that, for rendering what went wrong).
    """
    decision = decide(motion, rigs)
    positions = decision.positions
    if positions.shape[0] == 0:
        raise MotionError("no frames left after mapping")
    out = resample(positions, float(motion.fps), CANONICAL_FPS)
    if decision.rig.floor == "rolling":
        out = remove_vertical_drift(out, CANONICAL_FPS)
    report = plausibility.check(out) if check else plausibility.measure(out)
    meta = dict(motion.meta)
    meta.pop("root_offset", None)
    meta.update(rig=decision.rig_label, source_fps=float(motion.fps), source_frames=motion.n_frames,
                dropped_frames=decision.dropped, detected=decision.details(), plausibility=report.as_meta())
    return Motion(out.astype(np.float32), CANONICAL_FPS, list(JOINTS), list(PARENTS), meta)
