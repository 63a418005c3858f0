"""Steps for generated locomotion whose feet glide: gait synthesis after the decoder.

The VAE every generated window decodes through reconstructs a walk's travel but not the alternation of its
steps (docs/experiments.md, "Why generated walks glide"), so a generated walk moves both feet along with the
body and the clean-up (:func:`explore.body.plant_feet`) finds no contact to pin: the feet skate. Where a
motion travels (pelvis ground speed over ``min_speed`` for ``min_seconds``) while its feet are in contact
for less than ``max_contact`` of the time, this module gives it steps, as procedural foot placement in game
animation does: a step cadence from the speed (about 2 steps/s walking, 3 running), footsteps under the
pelvis path at each foot's own lateral offset, every foot standing still on its footstep through its stance
and swinging to the next along an arc, and the legs re-solved by two-bone IK (hip fixed, the knee bending
the way the decoder predicted, bone lengths kept). Stretches that already step, and motion that does not
travel, are left as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from explore.body import FPS, LEGS, ContactSettings, contacts, ease, floor_height, segments, solve_leg
from motion.skeleton import JOINT_INDEX
from motion.windows import facing_angles, rotation_y

SMOOTH_FRAMES = 5
"""The footstep path is averaged over this many frames, so lift-off and touchdown are not kinks."""


@dataclass(frozen=True)
class GaitSettings:
    """When a stretch counts as gliding locomotion, and the shape of the steps given to it."""

    min_speed: float = 0.35      # m/s, pelvis ground speed averaged over 0.5 s
    min_seconds: float = 0.8
    max_contact: float = 0.5     # share of the stretch's frames with a foot in contact, below which it glides
    swing_height: float = 0.08   # m at walking speed; more when running
    blend: int = 6               # frames easing in and out at a stretch's ends


def cadence(speed: np.ndarray) -> np.ndarray:
    """Steps per second at a ground speed (m/s): about 2 walking at 1.2 m/s, 3 running at 3.5 m/s."""
    return np.clip(1.4 + 0.5 * speed, 1.6, 3.2)


def swing_steps(speed: np.ndarray) -> np.ndarray:
    """How long a foot swings, in steps: 0.8 walking (both feet down in between), 1.2 running (both up)."""
    return np.clip(0.8 + 0.2 * (speed - 1.5), 0.8, 1.2)


def _smooth(x: np.ndarray, frames: int) -> np.ndarray:
    kernel = np.ones(frames) / frames
    padded = np.pad(x, (frames // 2, frames - 1 - frames // 2), mode="edge")
    return np.convolve(padded, kernel, mode="valid")


def _ground_speed(ground: np.ndarray) -> np.ndarray:
    """Speed (m/s) of a ground path (T, 2), averaged over 0.5 s."""
    return _smooth(np.linalg.norm(np.diff(ground, axis=0, prepend=ground[:1]), axis=-1) * FPS, int(FPS / 2))


def gliding_stretches(positions: np.ndarray, settings: GaitSettings | None = None) -> list[tuple[int, int]]:
    """``(start, end)`` frames of stretches that travel while their feet are seldom in contact."""
    s = settings or GaitSettings()
    speed = _ground_speed(positions[:, JOINT_INDEX["pelvis"]][:, [0, 2]])
    moving = segments(speed > s.min_speed, int(s.min_seconds * FPS))
    planted = np.zeros(len(positions), bool)
    for _, _, ankle, toe in LEGS:
        planted |= contacts(positions, JOINT_INDEX[ankle], JOINT_INDEX[toe], ContactSettings())
    return [(a, b) for a, b in moving if planted[a:b].mean() < s.max_contact]


def _footsteps(phase: np.ndarray, foot: int, swing: np.ndarray, ground: np.ndarray, heading: np.ndarray,
               lateral: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per frame of a stretch: (cycle index, progress through the swing (1 while standing), footstep of
    each cycle (C, 2) in x/z). Cycle ``c`` swings from footstep ``c - 1`` to ``c`` and then stands on it."""
    q = phase - foot
    cycle = np.floor(q / 2.0).astype(np.int64)
    within = q - 2.0 * cycle
    progress = np.clip(within / swing, 0.0, 1.0)
    first, last = int(cycle.min()) - 1, int(cycle.max())
    steps = []
    for c in range(first, last + 1):
        mid = foot + 2.0 * c + float(np.mean(swing)) + (2.0 - float(np.mean(swing))) / 2.0
        t = float(np.interp(mid, phase, np.arange(len(phase)), left=0.0, right=len(phase) - 1.0))
        i0 = int(np.floor(t))
        i1 = min(i0 + 1, len(phase) - 1)
        a = t - i0
        point = ground[i0] * (1 - a) + ground[i1] * a
        side = rotation_y(heading[i0])[[0, 2], 0]  # the performer's left in x/z
        steps.append(point + lateral * side)
    return cycle - first, progress, np.asarray(steps)


def synthesise_gait(positions: np.ndarray, lengths: np.ndarray, settings: GaitSettings | None = None
                    ) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Positions (T, J, 3) on the floor with steps in every gliding stretch, and those stretches."""
    s = settings or GaitSettings()
    pos = np.asarray(positions, np.float64).copy()
    stretches = gliding_stretches(pos, s)
    if not stretches:
        return pos.astype(np.float32), stretches
    floor = floor_height(pos)
    pelvis = JOINT_INDEX["pelvis"]
    heading = facing_angles(pos)
    for a, b in stretches:
        lo, hi = max(0, a - s.blend), min(len(pos), b + s.blend)
        seg = pos[lo:hi]
        ground = seg[:, pelvis][:, [0, 2]]
        speed = _ground_speed(ground)
        phase = np.cumsum(cadence(speed)) / FPS
        swing = swing_steps(speed)
        weight = np.ones(hi - lo)
        weight[: a - lo] = np.linspace(0.0, 1.0, a - lo + 2)[1:-1]
        if hi - b:
            weight[-(hi - b):] = np.linspace(1.0, 0.0, hi - b + 2)[1:-1]
        across = rotation_y(heading[lo:hi])[:, [0, 2], 0]  # the performer's left in x/z
        lift = s.swing_height * (1.0 + 0.5 * np.clip(speed - 1.5, 0.0, 2.0))
        for foot, names in enumerate(LEGS):
            ankle = JOINT_INDEX[names[2]]
            offset = ((seg[:, ankle] - seg[:, pelvis])[:, [0, 2]] * across).sum(-1)
            sign = 1.0 if foot == 0 else -1.0  # the left foot stands to the performer's left
            lateral = sign * float(np.clip(abs(np.median(offset)), 0.06, 0.15))
            rest = float(np.percentile(seg[:, ankle, 1] - floor, 5.0))
            cycle, progress, steps = _footsteps(phase, foot, swing, ground, heading[lo:hi], lateral)
            prev, nxt = steps[cycle - 1], steps[cycle]  # cycle >= 1: steps start one cycle before the first
            target = np.empty((hi - lo, 3))
            target[:, [0, 2]] = prev + (nxt - prev) * ease(progress)[:, None]
            target[:, 1] = floor + rest + lift * np.sin(np.pi * progress) ** 2
            target = np.stack([_smooth(target[:, k], SMOOTH_FRAMES) for k in range(3)], -1)
            goal = seg[:, ankle] * (1 - weight[:, None]) + target * weight[:, None]
            seg = solve_leg(seg, names, goal, lengths)
        pos[lo:hi] = seg
    return pos.astype(np.float32), stretches
