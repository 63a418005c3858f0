"""Units, up axis, handedness, floor and root convention of a mapped motion, decided from the data.

Input is a motion already mapped onto the 19 canonical joints but still in the source's units and axes
(:func:`motion.recognise.recognise` + :meth:`motion.rigmap.Rig.apply` with no scale or turn). Real exports
disagree on all of these (``../shared/design/rigs.md``), and names do not tell, so every decision here
comes from body geometry:

* **Up axis** (X, Y or Z, either sign): the median direction from pelvis to head over all frames; when it
  is not clearly along one axis (a clip spent lying down) Y stays, as BVH's convention says.
* **Units**: a body-size measure (legs + spine + head chain, :func:`body_length`) against the corpus
  median BODY_LENGTH_M; candidates are metres, centimetres, millimetres and inches, plus the CMU unit
  (1/0.45 inch = 0.05644 m) for rigs with CMU joint names. A prior favours common units, so a child in
  centimetres is not mistaken for an adult in inches (UNIT_PRIOR). When no unit gives a human size (a
  character exported at twice human scale), the body is scaled to BODY_LENGTH_M and that is recorded.
* **Handedness**: with up known, ``forward = left x up`` must point where the toes point; when it points
  backwards (labels named from a camera's view, or a left-handed export) left and right are swapped.
* **Floor**: the lowest foot joint's 5th percentile over the clip should sit FOOT_CLEARANCE above the
  floor; if it is off by more than FLOOR_TOLERANCE the clip is moved vertically. This also settles the
  root convention (position channels absolute with the rest height repeated in the OFFSET, or deltas on
  top of it): whichever the file used, the feet end up on the floor, and which one it was is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from motion.fk import minimal_rotation
from motion.skeleton import JOINT_INDEX, MIRROR_PERMUTATION

# Median of legs + spine + head chain over the corpus train clips of the built-in rigs (bandai 1.30,
# ballroom 1.47, cmu 1.62 m; recomputed by tests/test_recognise.py::test_body_length_of_the_corpus_rigs).
BODY_LENGTH_M = 1.45
PLAUSIBLE_BODY_M = (0.55, 2.2)
UNITS_M = {"m": 1.0, "cm": 0.01, "mm": 0.001, "inch": 0.0254, "cmu": 0.0254 / 0.45}
# cm and inch are 2.54x apart, so one body fits both; the inch prior sets where the reading flips. At 0.25 a
# body (legs + spine + head) under 0.80 m in cm reads as inches, and over 2.04 m in inches as cm: a toddler
# against a 2.15 m giant. At 0.5 the flip was at 0.71 / 1.80 m, so a 1.9 m tall adult exported in inches came
# out as a toddler (tests/test_recognise.py::test_tall_performer_in_inches_is_not_read_as_a_toddler_...;
# the corpus reads the same either way).
UNIT_PRIOR = {"m": 0.0, "cm": 0.0, "mm": 0.1, "inch": 0.25, "cmu": 0.3}
FOOT_CLEARANCE = 0.04
FLOOR_TOLERANCE = 0.15
TILT_RANGE_DEG = (5.0, 30.0)   # floors tilted less are level enough (and less is within a fit's error on
                               # real jumps); more is the up axis' business
CONTACT_BAND_M = 0.03          # a lowest-foot point this close to the fitted floor is a contact
CONTACT_SPREAD_M = 0.3         # contacts must spread this far (std) both ways to define a plane
HIP_MARGIN = 0.01              # the hip line must lie this much closer (median |sine|) to the floor than to level
UP_DOMINANCE = 0.7
_J = JOINT_INDEX
_FEET = [_J[n] for n in ("l_ankle", "l_toe", "r_ankle", "r_toe")]

# Proper rotations (det +1) taking each source up axis to +Y.
_TURNS = {
    "y": np.eye(3),
    "-y": np.diag([1.0, -1.0, -1.0]),
    "z": np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]]),
    "-z": np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]]),
    "x": np.array([[0, -1.0, 0], [1.0, 0, 0], [0, 0, 1.0]]),
    "-x": np.array([[0, 1.0, 0], [-1.0, 0, 0], [0, 0, 1.0]]),
}


@dataclass
class Orientation:
    """What was decided, in words and numbers (stored in the clip's metadata as ``detected``)."""

    up: str = "y"
    up_dominance: float = 1.0
    units: str = "m"
    scale: float = 1.0
    body_scaled: float = 1.0
    body_length_m: float = BODY_LENGTH_M
    mirrored: bool = False
    floor_shift_m: float = 0.0
    floor_tilt_deg: float = 0.0
    root: str = "unknown"
    notes: list[str] = field(default_factory=list)

    def as_meta(self) -> dict[str, object]:
        return {"up": self.up, "units": self.units, "metres_per_unit": round(self.scale * self.body_scaled, 6),
                "body_scaled": round(self.body_scaled, 4), "body_length_m": round(self.body_length_m, 3),
                "mirrored_labels": self.mirrored, "floor_shift_m": round(self.floor_shift_m, 4),
                "floor_tilt_deg": round(self.floor_tilt_deg, 2), "root": self.root, "notes": list(self.notes)}


def turn(positions: np.ndarray, up: str) -> np.ndarray:
    """Rotate (..., 3) points so that the source axis ``up`` becomes +Y (a proper rotation)."""
    return positions @ _TURNS[up].T


def detect_up(mapped: np.ndarray) -> tuple[str, float]:
    """(axis, dominance) of the median pelvis -> head direction; ("y", d) when it is not clear."""
    v = mapped[:, _J["head"]] - mapped[:, _J["pelvis"]]
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    v = v[n[:, 0] > 0] / n[n[:, 0] > 0]
    if len(v) == 0:
        return "y", 0.0
    m = np.median(v, axis=0)
    norm = float(np.linalg.norm(m))
    if norm == 0:
        return "y", 0.0
    axis = int(np.argmax(np.abs(m)))
    dominance = float(abs(m[axis]) / norm) * min(1.0, norm / 0.5)
    if dominance < UP_DOMINANCE:
        return "y", dominance
    return ("-" if m[axis] < 0 else "") + "xyz"[axis], dominance


def body_lengths(windows: np.ndarray) -> np.ndarray:
    """Per window (N,) of (N, S, 19, 3): median over frames of legs (mean of both sides) + spine
    polyline + neck-head, in the data's units."""
    def d(a: str, b: str) -> np.ndarray:
        return np.linalg.norm(windows[:, :, _J[a]] - windows[:, :, _J[b]], axis=-1)

    legs = (d("l_hip", "l_knee") + d("l_knee", "l_ankle") + d("r_hip", "r_knee") + d("r_knee", "r_ankle")) / 2
    trunk = d("pelvis", "spine") + d("spine", "chest") + d("chest", "neck") + d("neck", "head")
    return np.median(legs + trunk, axis=1)


def body_length(positions: np.ndarray) -> float:
    """:func:`body_lengths` of one motion (T, 19, 3)."""
    return float(body_lengths(np.asarray(positions)[None])[0])


def detect_units(length: float, cmu_names: bool) -> tuple[str, float, float]:
    """(unit, metres per unit, extra body scale) for a body of ``length`` source units."""
    if not np.isfinite(length) or length <= 0:
        return "m", 1.0, 1.0
    best: tuple[float, str] | None = None
    fallback: tuple[float, str] | None = None
    for unit, metres in UNITS_M.items():
        if unit == "cmu" and not cmu_names:
            continue
        size = length * metres
        cost = abs(np.log(size / BODY_LENGTH_M)) + UNIT_PRIOR[unit] - (0.35 if unit == "cmu" else 0.0)
        if PLAUSIBLE_BODY_M[0] <= size <= PLAUSIBLE_BODY_M[1]:
            best = (cost, unit) if best is None or cost < best[0] else best
        fallback = (cost, unit) if fallback is None or cost < fallback[0] else fallback
    if best is not None:
        return best[1], UNITS_M[best[1]], 1.0
    assert fallback is not None
    unit = fallback[1]
    return unit, UNITS_M[unit], BODY_LENGTH_M / (length * UNITS_M[unit])


def facing_score(positions: np.ndarray) -> float:
    """Median cosine between ``forward = left x up`` and the toes' direction (Y-up positions), over the
    frames where a foot is flat near the floor (stance: a foot in the air or on tiptoe points anywhere).

    +1: consistent; -1: left and right are swapped (or the data is mirrored); 0: no stance frames.
    """
    p = positions
    left = p[:, _J["l_hip"]] - p[:, _J["r_hip"]] + p[:, _J["l_shoulder"]] - p[:, _J["r_shoulder"]]
    forward = np.stack([-left[:, 2], np.zeros(len(p)), left[:, 0]], axis=-1)  # left x (0, 1, 0)
    floor = floor_height(p)
    cosines = []
    for side in ("l", "r"):
        ankle, toe = p[:, _J[f"{side}_ankle"]], p[:, _J[f"{side}_toe"]]
        foot = toe - ankle
        flat = (ankle[:, 1] - floor < 0.2) & (toe[:, 1] - floor < 0.1) & (np.abs(foot[:, 1]) < 0.6 * np.linalg.norm(foot, axis=-1))
        foot = foot.copy()
        foot[:, 1] = 0.0
        nf, nt = np.linalg.norm(forward, axis=-1), np.linalg.norm(foot, axis=-1)
        ok = flat & (nf > 1e-6) & (nt > 1e-6)
        cosines.append(np.sum(forward[ok] * foot[ok], axis=-1) / (nf[ok] * nt[ok]))
    values = np.concatenate(cosines)
    if len(values) < max(3, 0.05 * len(p)):
        return 0.0
    return float(np.median(values))


def floor_height(positions: np.ndarray) -> float:
    """5th percentile over frames of the lowest foot joint's height (Y up)."""
    return float(np.percentile(positions[:, _FEET, 1].min(axis=1), 5))


def floor_normal(positions: np.ndarray) -> np.ndarray | None:
    """Unit normal (pointing up) of the plane the feet stand on, from the lowest foot joint of every frame
    (Y up): a plane is fitted to those points, then refitted to the ones within CONTACT_BAND_M of it (the
    contacts, not the swings), three times. None when the contacts do not spread CONTACT_SPREAD_M (std)
    along both horizontal directions: a clip danced in place or along one line does not define a plane."""
    feet = positions[:, _FEET]
    pts = feet[np.arange(len(feet)), feet[..., 1].argmin(axis=1)].astype(np.float64)
    keep = np.isfinite(pts).all(axis=1)
    for _ in range(3):
        if keep.sum() < 10:
            return None
        a = np.c_[pts[keep, 0], pts[keep, 2], np.ones(int(keep.sum()))]
        coef, *_ = np.linalg.lstsq(a, pts[keep, 1], rcond=None)
        resid = pts[:, 1] - (coef[0] * pts[:, 0] + coef[1] * pts[:, 2] + coef[2])
        keep = np.abs(resid) < CONTACT_BAND_M
    if keep.sum() < 10:
        return None
    horizontal = pts[keep][:, [0, 2]]
    spread = np.sqrt(np.clip(np.linalg.eigvalsh(np.cov(horizontal.T)), 0.0, None))
    if spread.min() < CONTACT_SPREAD_M:
        return None
    n = np.array([-coef[0], 1.0, -coef[1]])
    return n / np.linalg.norm(n)


def level_tilt(positions: np.ndarray, orientation: Orientation) -> np.ndarray:
    """Rotate the clip so that the floor its feet stand on is level (a camera-space export, e.g. a tilted
    depth camera, has a floor at an angle), when the tilt is within TILT_RANGE_DEG and the contacts define
    a plane (:func:`floor_normal`); the rotation turns about the horizontal axis only, so heading is kept."""
    n = floor_normal(positions)
    if n is None:
        return positions
    angle = float(np.degrees(np.arccos(np.clip(n[1], -1.0, 1.0))))
    if not TILT_RANGE_DEG[0] <= angle <= TILT_RANGE_DEG[1]:
        return positions
    # A tilted camera tilts the performer with the floor; a ramp under an upright performer does not. The
    # line through the hips lies level whatever the forward lean, so it must lie in the fitted floor
    # rather than in the horizontal plane (the median over frames, in sines; it cannot tell when the
    # hips always lie along the tilt's axis, and then nothing is changed).
    hips = positions[:, _J["l_hip"]] - positions[:, _J["r_hip"]]
    hips = hips / np.maximum(np.linalg.norm(hips, axis=-1, keepdims=True), 1e-9)
    off_floor, off_level = float(np.median(np.abs(hips @ n))), float(np.median(np.abs(hips[:, 1])))
    if off_level - off_floor < HIP_MARGIN:
        return positions
    rot = minimal_rotation(n, np.array([0.0, 1.0, 0.0]))
    orientation.floor_tilt_deg = angle
    orientation.notes.append(f"the floor the feet stand on was tilted {angle:.1f} deg: levelled")
    return positions @ rot.T


def level_floor(positions: np.ndarray, orientation: Orientation, root_offset_up: float | None = None) -> np.ndarray:
    """Move the clip vertically when its feet are more than FLOOR_TOLERANCE off the floor; report the root."""
    floor = floor_height(positions)
    off = floor - FOOT_CLEARANCE
    if root_offset_up is not None and abs(root_offset_up) > 0.3:
        if abs(off - root_offset_up) < 0.35 * abs(root_offset_up):
            orientation.root = ("absolute position channels with the rest height repeated in the ROOT OFFSET "
                                "(the OFFSET was taken out)")
        else:
            orientation.root = "position channels relative to the ROOT OFFSET"
    elif root_offset_up is not None:
        orientation.root = "absolute position channels (zero ROOT OFFSET)"
    if abs(off) > FLOOR_TOLERANCE:
        positions = positions.copy()
        positions[..., 1] -= off
        orientation.floor_shift_m = -off
        orientation.notes.append(f"feet were {off:+.2f} m off the floor: moved to the floor")
    return positions


def orient(mapped: np.ndarray, *, cmu_names: bool, toes_real: bool,
           root_offset: np.ndarray | None = None) -> tuple[np.ndarray, Orientation]:
    """Canonical-joint positions in metres, Y up, feet on the floor, from source-unit mapped positions."""
    o = Orientation()
    o.up, o.up_dominance = detect_up(mapped)
    if o.up_dominance < UP_DOMINANCE:
        o.notes.append(f"up axis unclear (dominance {o.up_dominance:.2f}): Y kept")
    out = turn(mapped.astype(np.float64), o.up)
    length = body_length(out)
    o.units, o.scale, o.body_scaled = detect_units(length, cmu_names)
    out *= o.scale * o.body_scaled
    o.body_length_m = length * o.scale
    if o.body_scaled != 1.0:
        o.notes.append(f"body of {length * o.scale:.2f} m (legs + spine + head) is not a human size in any unit: "
                       f"scaled by {o.body_scaled:.3f} to {BODY_LENGTH_M} m")
    out = level_tilt(out, o)
    if toes_real and facing_score(out) < -0.3:
        out = out[:, list(MIRROR_PERMUTATION)]
        o.mirrored = True
        o.notes.append("the toes point backwards for the labelled left/right: left and right swapped")
    offset_up = None
    if root_offset is not None:
        offset_up = float(turn(np.asarray(root_offset, dtype=np.float64), o.up)[1] * o.scale * o.body_scaled)
    out = level_floor(out, o, offset_up)
    return out, o
