"""Checks that a canonical motion is a plausible human before it is stored.

A mapping can be wrong in ways no reader error shows: the wrong up axis (the body lies down), the wrong
units (a 17 m or 1.7 cm person), left and right swapped, joints that fly apart. Every canonical motion
passes :func:`check` or is refused with :class:`ImplausibleMotion` naming each failed check and its
measured value; refusing (rather than storing with a flag) keeps a bad mapping out of every index, and
the error tells the user to run ``dancesearch rig FILE`` to see the decision and fix it with a rig file.
The feet are put on the floor by :func:`motion.orientation.level_floor` before this runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from motion.data import MotionError
from motion.orientation import PLAUSIBLE_BODY_M, body_length, facing_score
from motion.skeleton import JOINT_INDEX

_J = JOINT_INDEX
HEAD_UP_SHARE = 0.25        # head above the pelvis in at least this share of frames
LIMB_LENGTH_CV = 0.25       # coefficient of variation over frames of each limb bone (ballroom's
                            # position data reach 0.14; rotation-based rigs stay under 0.01)
LIMBS = [("l_shoulder", "l_elbow"), ("l_elbow", "l_wrist"), ("r_shoulder", "r_elbow"), ("r_elbow", "r_wrist"),
         ("l_hip", "l_knee"), ("l_knee", "l_ankle"), ("r_hip", "r_knee"), ("r_knee", "r_ankle")]


class ImplausibleMotion(MotionError):
    """A canonical motion that fails a plausibility check; the message lists the failures."""


@dataclass(frozen=True)
class Report:
    """Measured values of every check (stored in the clip's metadata as ``plausibility``)."""

    body_length_m: float
    head_above_pelvis: float
    facing: float
    limb_cv: float
    failures: tuple[str, ...]

    def as_meta(self) -> dict[str, object]:
        return {"body_length_m": round(self.body_length_m, 3), "head_above_pelvis": round(self.head_above_pelvis, 3),
                "facing": round(self.facing, 3), "limb_cv": round(self.limb_cv, 4)}


def measure(positions: np.ndarray, check_facing: bool = True) -> Report:
    """Measure a canonical (T, 19, 3) motion in metres, Y up."""
    p = np.asarray(positions, dtype=np.float64)
    length = body_length(p)
    head_up = float(np.mean(p[:, _J["head"], 1] - p[:, _J["pelvis"], 1] > 0.1))
    facing = facing_score(p) if check_facing else 1.0
    cvs = []
    for a, b in LIMBS:
        d = np.linalg.norm(p[:, _J[a]] - p[:, _J[b]], axis=-1)
        cvs.append(float(d.std() / max(d.mean(), 1e-9)))
    limb_cv = max(cvs)
    failures = []
    if not PLAUSIBLE_BODY_M[0] <= length <= PLAUSIBLE_BODY_M[1]:
        failures.append(f"body size {length:.2f} m (legs + spine + head) is outside the human range "
                        f"{PLAUSIBLE_BODY_M[0]}-{PLAUSIBLE_BODY_M[1]} m: wrong units?")
    if head_up < HEAD_UP_SHARE:
        failures.append(f"the head is above the pelvis in only {head_up:.0%} of frames: wrong up axis?")
    if facing < -0.3:
        failures.append(f"the toes point backwards (facing score {facing:.2f}): left and right swapped?")
    if limb_cv > LIMB_LENGTH_CV:
        failures.append(f"limb bones change length by {limb_cv:.0%} over the clip: wrong joints mapped?")
    return Report(length, head_up, facing, limb_cv, tuple(failures))


def check(positions: np.ndarray, check_facing: bool = True) -> Report:
    """:func:`measure`, raising :class:`ImplausibleMotion` when any check fails."""
    report = measure(positions, check_facing)
    if report.failures:
        raise ImplausibleMotion("implausible result after mapping to the canonical skeleton: "
                                + "; ".join(report.failures)
                                + ". Run `dancesearch rig FILE` to see how the rig was read; a rig file "
                                  "(docs/skeletons.md) can override it.")
    return report
