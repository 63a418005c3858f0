"""Making decoded or generated motion respect the body: fixed bone lengths and feet that stay planted.

The model's decoders predict joint positions frame by frame, so nothing ties a bone to one length or a
standing foot to one spot (issue 13: 4.5 % bone-length drift, skating feet). Both are fixed here after
decoding, without retraining:

* :func:`project_bones` walks the tree from the pelvis and puts every joint at its bone's reference
  length along the predicted direction: bone lengths are exact by construction, poses keep their shape.
* :func:`plant_feet` finds frames where a foot is low and slow (in contact), pins the ankle's floor
  position over each contact and re-solves the leg with two-bone IK (hip fixed, knee bending the way it
  predicted), blending in and out so nothing pops; the bone lengths stay those of the reference.
* :func:`physical_stats` measures what both fix (drift, skating, floor, jerk) on real or generated motion.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from motion.skeleton import BONES, JOINT_INDEX, PARENTS

FPS = 25.0
SKATE_HEIGHT = 0.025
LEGS = (("l_hip", "l_knee", "l_ankle", "l_toe"), ("r_hip", "r_knee", "r_ankle", "r_toe"))
"""Each leg's joints from hip to toe, left then right."""
_FEET = [JOINT_INDEX[j] for j in ("l_ankle", "r_ankle", "l_toe", "r_toe")]


def bone_lengths(positions: np.ndarray) -> np.ndarray:
    """Median length of every bone (J,) over the frames of (T, J, 3); 0 for the root."""
    parents = np.array([max(p, 0) for p in PARENTS])
    return np.median(np.linalg.norm(positions - positions[:, parents], axis=-1), axis=0)


def project_bones(positions: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Positions (T, J, 3) with every bone set to ``lengths[j]`` along its predicted direction.

    The pelvis path is kept; each child is placed from its already placed parent, so lengths are exact.
    A degenerate (zero-length) predicted bone keeps the direction of its previous frame, or +Y.
    """
    pos = np.asarray(positions, dtype=np.float64)
    out = pos.copy()
    for j, parent in enumerate(PARENTS):
        if parent < 0:
            continue
        bone = pos[:, j] - pos[:, parent]
        norm = np.linalg.norm(bone, axis=-1, keepdims=True)
        direction = np.where(norm > 1e-8, bone / np.maximum(norm, 1e-8), np.array([0.0, 1.0, 0.0]))
        out[:, j] = out[:, parent] + direction * float(lengths[j])
    return out.astype(np.float32)


def floor_height(positions: np.ndarray) -> float:
    """Where the floor is: the 5th percentile over frames of the lowest foot joint's height."""
    return float(np.percentile(positions[:, _FEET, 1].min(-1), 5.0))


def put_on_floor(positions: np.ndarray) -> np.ndarray:
    """The motion moved vertically so that its floor (:func:`floor_height`) is at y = 0."""
    out = np.asarray(positions, dtype=np.float32).copy()
    out[..., 1] -= floor_height(out)
    return out


@dataclass(frozen=True)
class ContactSettings:
    """A foot is in contact where its ankle is within ``height`` m of the floor (its toe within
    ``height`` + 3 cm) and moves slower than ``speed`` m/s horizontally; ``blend`` frames ease in and out."""

    height: float = 0.12
    speed: float = 0.6
    blend: int = 5
    min_frames: int = 3


def contacts(positions: np.ndarray, ankle: int, toe: int, settings: ContactSettings) -> np.ndarray:
    """(T,) bool: frames where this foot is planted (positions on the floor, y = 0)."""
    a = positions[:, ankle]
    horizontal = np.linalg.norm(np.diff(a[:, [0, 2]], axis=0, prepend=a[:1, [0, 2]]), axis=-1) * FPS
    low = (a[:, 1] < settings.height) | (positions[:, toe, 1] < settings.height - 0.03)
    return low & (horizontal < settings.speed)


def segments(mask: np.ndarray, min_frames: int) -> list[tuple[int, int]]:
    """``(start, end)`` of the runs of True in ``mask`` at least ``min_frames`` long."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return [(int(s), int(e)) for s, e in zip(edges[::2], edges[1::2], strict=True) if e - s >= min_frames]


def two_bone_ik(hip: np.ndarray, target: np.ndarray, pole: np.ndarray, upper: float,
                lower: float) -> tuple[np.ndarray, np.ndarray]:
    """Knee and ankle positions (T, 3) for a leg of lengths ``upper``/``lower`` reaching for ``target``
    from ``hip``, the knee bending towards ``pole`` (the predicted knee); an unreachable target is
    approached along the same line."""
    to_target = target - hip
    dist = np.linalg.norm(to_target, axis=-1, keepdims=True)
    u = to_target / np.maximum(dist, 1e-8)
    d = np.clip(dist, abs(upper - lower) + 1e-4, upper + lower - 1e-4)
    ankle = hip + u * d
    cos_a = np.clip((upper ** 2 + d ** 2 - lower ** 2) / (2 * upper * d), -1.0, 1.0)
    side = pole - hip
    v = side - (side * u).sum(-1, keepdims=True) * u
    v_norm = np.linalg.norm(v, axis=-1, keepdims=True)
    fallback = np.cross(u, np.array([1.0, 0.0, 0.0]))
    v = np.where(v_norm > 1e-6, v / np.maximum(v_norm, 1e-8), fallback)
    knee = hip + upper * (cos_a * u + np.sqrt(1.0 - cos_a ** 2) * v)
    return knee, ankle


def ease(x: np.ndarray) -> np.ndarray:
    """Smoothstep: eases in and out, so pinning a foot adds no kink (jerk) at the contact's ends."""
    return x * x * (3.0 - 2.0 * x)


def plant_feet(positions: np.ndarray, lengths: np.ndarray,
               settings: ContactSettings | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Positions (T, J, 3) on the floor with planted feet, and the contact mask (T, 2) (left, right).

    Over each contact the ankle keeps the floor position it had when the contact began; weights ramp
    over ``blend`` frames at both ends. The knee and ankle come from two-bone IK with the reference
    ``lengths``, the toe keeps its predicted direction from the ankle.
    """
    s = settings or ContactSettings()
    pos = put_on_floor(project_bones(positions, lengths)).astype(np.float64)
    mask = np.zeros((len(pos), 2), bool)
    for side, names in enumerate(LEGS):
        _, _, ankle, toe = (JOINT_INDEX[n] for n in names)
        target = pos[:, ankle].copy()
        weight = np.zeros(len(pos))
        for start, end in segments(contacts(pos, ankle, toe, s), s.min_frames):
            mask[start:end, side] = True
            anchor = pos[start, ankle].copy()
            anchor[1] = min(anchor[1], float(pos[start:end, ankle, 1].mean()))
            lo, hi = max(0, start - s.blend), min(len(pos), end + s.blend)
            target[lo:hi, [0, 2]] = anchor[[0, 2]]
            ramp = np.ones(hi - lo)
            ramp[: start - lo] = ease(np.linspace(0.0, 1.0, start - lo + 2)[1:-1])
            if hi - end:
                ramp[-(hi - end):] = ease(np.linspace(1.0, 0.0, hi - end + 2)[1:-1])
            weight[lo:hi] = np.maximum(weight[lo:hi], ramp)
        if not weight.any():
            continue
        pos = solve_leg(pos, names, pos[:, ankle] * (1 - weight[:, None]) + target * weight[:, None], lengths)
    return pos.astype(np.float32), mask


def solve_leg(positions: np.ndarray, names: tuple[str, str, str, str], goal: np.ndarray,
              lengths: np.ndarray) -> np.ndarray:
    """``positions`` (T, J, 3) with one leg (hip, knee, ankle, toe joint names) re-solved so its ankle
    reaches ``goal`` (T, 3): two-bone IK from the fixed hip, the knee bending the way it was, the toe
    keeping its direction from the ankle; the leg's bones keep their ``lengths``."""
    hip, knee, ankle, toe = (JOINT_INDEX[n] for n in names)
    pos = positions.copy()
    toe_dir = pos[:, toe] - pos[:, ankle]
    new_knee, new_ankle = two_bone_ik(pos[:, hip], goal, pos[:, knee], float(lengths[knee]), float(lengths[ankle]))
    pos[:, knee], pos[:, ankle] = new_knee, new_ankle
    pos[:, toe] = new_ankle + toe_dir / np.maximum(np.linalg.norm(toe_dir, axis=-1, keepdims=True), 1e-8
                                                   ) * float(lengths[toe])
    return pos


def physical_stats(positions: np.ndarray) -> dict[str, float]:
    """Bone-length drift (mean over bones of std/mean length), foot skating (horizontal ankle speed in
    m/s over frames where the ankle is less than ``SKATE_HEIGHT`` above its flat-foot height, weighted by
    2 - 2^(h / SKATE_HEIGHT) as in text-to-motion work, so a foot just lifting counts little), floor penetration (fraction of
    frames with the lowest foot more than 5 cm below the clip's own floor, :func:`floor_height`), and jerk (mean |d^3 x / dt^3|, m/s^3)."""
    pos = np.asarray(positions, dtype=np.float64)
    child = np.array([c for c, _ in BONES])
    parent = np.array([p for _, p in BONES])
    lengths = np.linalg.norm(pos[:, child] - pos[:, parent], axis=-1)
    drift = float((lengths.std(0) / np.maximum(lengths.mean(0), 1e-6)).mean())
    floor = floor_height(pos)
    skating = []
    for ankle in (JOINT_INDEX["l_ankle"], JOINT_INDEX["r_ankle"]):
        a = pos[:, ankle]
        speed = np.linalg.norm(np.diff(a[:, [0, 2]], axis=0), axis=-1) * FPS
        h = a[1:, 1] - floor - _ankle_rest(pos, ankle, floor)
        low = h < SKATE_HEIGHT
        skating.extend((speed[low] * np.clip(2.0 - 2.0 ** (h[low] / SKATE_HEIGHT), 0.0, 1.0)).tolist())
    lowest = pos[:, _FEET, 1].min(-1) - floor
    jerk = float(np.linalg.norm(np.diff(pos, n=3, axis=0), axis=-1).mean() * FPS ** 3) if len(pos) > 3 else 0.0
    return {"bone_drift": drift, "foot_skate": float(np.mean(skating)) if skating else 0.0,
            "below_floor_frac": float((lowest < -0.05).mean()), "jerk": jerk}


def _ankle_rest(pos: np.ndarray, ankle: int, floor: float) -> float:
    """How high this ankle sits above the floor when the foot is flat: its 5th-percentile height."""
    return float(np.percentile(pos[:, ankle, 1] - floor, 5.0))
