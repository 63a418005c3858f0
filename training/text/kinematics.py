"""Words for what a window's joints do, read from the joints themselves (PoseScript / MotionScript style).

The corpus labels name ~200 label sets; people search for "kick", "squat", "arms above the head",
"spinning", "jumping". Those are visible in the joints of thousands of windows, so every window is
described automatically: :func:`window_facts` measures body-part relations and movements on a 2 s
window of canonical positions (metres, Y up, 25 fps, any heading) and returns the facts that hold;
:func:`kinematic_captions` phrases a random subset of them in varied, randomised words. Each fact has
training phrasings and disjoint held-out phrasings (``split="eval"``), so the evaluation's kinematic
queries (:data:`FACTS` ``eval`` lists) are words the model never trained on; relevance for those queries
is the same fact measured on the test windows.

Thresholds are in body-normalised metres (positions scaled so that legs + spine + head = 1.45 m, see
:func:`motion.orientation.body_length`) and were set by looking at train windows of labelled clips
(Bandai walk/run/kick/wave/raise-hands, CMU jumps/cartwheels, DeepMimic flips and get-ups).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from motion.orientation import BODY_LENGTH_M, body_length
from motion.skeleton import CANONICAL_FPS
from motion.skeleton import JOINT_INDEX as J
from motion.windows import facing_angles

Split = str


@dataclass(frozen=True)
class Fact:
    """One kinematic fact: training and held-out verb phrases (third person, no subject)."""

    key: str
    train: tuple[str, ...]
    eval: tuple[str, ...]

    def pick(self, split: Split) -> tuple[str, ...]:
        return self.train if split == "train" else self.eval


def _fact(key: str, train: Sequence[str], eval_: Sequence[str]) -> Fact:
    assert not set(train) & set(eval_), key
    return Fact(key, tuple(train), tuple(eval_))


FACTS: dict[str, Fact] = {f.key: f for f in (
    _fact("still", ["stands still", "stays in place without moving much", "holds still"],
          ["remains motionless", "keeps still on the spot"]),
    _fact("walk", ["walks", "is walking", "takes steps", "walks along"], ["strolls", "goes on foot"]),
    _fact("walk_slow", ["walks slowly", "takes slow steps", "walks at a slow pace"],
          ["shuffles along slowly", "ambles unhurriedly"]),
    _fact("walk_fast", ["walks quickly", "walks briskly", "strides fast"], ["hurries along on foot", "speed-walks"]),
    _fact("run", ["runs", "is running", "jogs fast", "sprints"], ["dashes", "races along"]),
    _fact("forward", ["moves forward", "travels forwards", "heads straight ahead"], ["advances", "progresses ahead"]),
    _fact("backward", ["moves backwards", "walks backward", "steps back"], ["retreats", "backs away"]),
    _fact("sideways_left", ["moves to the left side", "steps sideways to the left"], ["sidesteps leftwards"]),
    _fact("sideways_right", ["moves to the right side", "steps sideways to the right"], ["sidesteps rightwards"]),
    _fact("turn_left", ["turns left", "turns to the left", "rotates to the left"], ["pivots leftwards", "swivels left"]),
    _fact("turn_right", ["turns right", "turns to the right", "rotates to the right"],
          ["pivots rightwards", "swivels right"]),
    _fact("spin", ["spins around", "turns all the way around", "spins in a full circle"],
          ["twirls round", "does a complete rotation"]),
    _fact("jump", ["jumps", "jumps up with both feet off the ground", "leaps into the air"],
          ["springs up", "bounces off the floor"]),
    _fact("arms_up_both", ["raises both arms above the head", "lifts both hands over the head", "has both arms up high"],
          ["reaches up with both hands", "throws both hands in the air"]),
    _fact("arm_up_left", ["raises the left arm above the head", "lifts the left hand up high"],
          ["reaches up with the left hand"]),
    _fact("arm_up_right", ["raises the right arm above the head", "lifts the right hand up high"],
          ["reaches up with the right hand"]),
    _fact("arms_spread", ["spreads the arms wide", "holds the arms out to the sides", "stretches the arms out"],
          ["opens the arms wide apart", "extends both arms sideways"]),
    _fact("hands_together", ["holds the hands together", "brings the hands together", "keeps both hands close"],
          ["joins the hands", "clasps the hands"]),
    _fact("clap", ["claps the hands", "claps", "applauds"], ["gives a round of applause", "brings the palms together again and again"]),
    _fact("wave_left", ["waves the left hand", "waves with the left arm"], ["signals with the left hand raised"]),
    _fact("wave_right", ["waves the right hand", "waves with the right arm"], ["signals with the right hand raised"]),
    _fact("crouch", ["crouches down", "squats", "bends the knees deeply", "gets low to the ground"],
          ["hunkers down", "drops into a squat"]),
    _fact("knees_bent", ["bends the knees", "keeps the knees bent", "stands in a low stance"], ["flexes the legs"]),
    _fact("bend_forward", ["bends forward", "leans over forwards", "bends at the waist"], ["stoops over", "hunches down forwards"]),
    _fact("lean_back", ["leans back", "bends backwards", "arches the back"], ["tilts the torso backwards"]),
    _fact("lying", ["lies on the ground", "is lying down", "is on the floor"], ["lies flat", "rests on the floor"]),
    _fact("inverted", ["is upside down", "goes upside down with the feet over the head", "turns upside down"],
          ["flips the body head down", "goes head over heels"]),
    _fact("kick_left", ["kicks with the left leg", "kicks the left foot out"], ["swings the left foot out hard"]),
    _fact("kick_right", ["kicks with the right leg", "kicks the right foot out"], ["swings the right foot out hard"]),
    _fact("punch", ["punches", "throws a punch", "jabs with a fist"], ["strikes out with the fist", "boxes at the air"]),
    _fact("one_leg", ["stands on one leg", "balances on one foot", "lifts one leg off the ground"],
          ["keeps one foot raised", "balances on a single leg"]),
)}

SUBJECTS = {"train": ("a person", "someone", "the person", "a figure", "a performer", "a man", "a woman"),
            "eval": ("somebody", "an individual", "the subject", "a human")}
JOINERS = {"train": (" and ", ", then ", ", and "), "eval": (" and also ", ", plus ")}
# Facts that say the same thing more precisely win over the general one in a caption.
_MORE_PRECISE = {"walk": ("walk_slow", "walk_fast"), "turn_left": ("spin",), "turn_right": ("spin",),
                 "knees_bent": ("crouch",), "hands_together": ("clap",), "arm_up_left": ("arms_up_both",),
                 "arm_up_right": ("arms_up_both",)}


def _normalised(window: np.ndarray) -> np.ndarray:
    p = np.asarray(window, dtype=np.float64)
    length = body_length(p)
    return p * (BODY_LENGTH_M / length) if length > 0 else p


def window_facts(window: np.ndarray, fps: float = CANONICAL_FPS) -> list[str]:
    """Keys of :data:`FACTS` that hold in a window (S, 19, 3) of canonical positions."""
    p = _normalised(window)
    n = len(p)
    if n < 5:
        return []
    dt = 1.0 / fps
    duration = (n - 1) * dt
    facts: list[str] = []
    pelvis, head, neck = p[:, J["pelvis"]], p[:, J["head"]], p[:, J["neck"]]
    floor = min(0.0, float(np.percentile(p[:, [J["l_ankle"], J["r_ankle"], J["l_toe"], J["r_toe"]], 1].min(1), 5)))
    feet_h = np.stack([p[:, [J["l_ankle"], J["l_toe"]], 1].min(1), p[:, [J["r_ankle"], J["r_toe"]], 1].min(1)], 1) - floor
    heading = np.unwrap(facing_angles(p))
    facing = np.stack([np.sin(heading), np.cos(heading)], -1)  # (x, z)
    disp = pelvis[-1, [0, 2]] - pelvis[0, [0, 2]]
    speed = float(np.linalg.norm(disp) / duration)
    joint_speed = float(np.linalg.norm(np.diff(p, axis=0), axis=-1).mean() / dt)
    upright = head[:, 1] - pelvis[:, 1] > 0.35
    flight = (feet_h.min(1) > 0.10)

    # Whole-body orientation first: lying and inverted windows get no locomotion words.
    if np.mean(head[:, 1] < pelvis[:, 1] - 0.15) > 0.2:
        facts.append("inverted")
    if np.mean((head[:, 1] < 0.55) & (np.abs(head[:, 1] - pelvis[:, 1]) < 0.3)) > 0.5:
        facts.append("lying")
    if not facts:
        # Locomotion from the pelvis path and the feet.
        if speed < 0.12 and joint_speed < 0.15:
            facts.append("still")
        elif speed >= 0.3:
            run = speed >= 2.0 or (speed >= 1.3 and np.mean(flight) > 0.12)
            if run:
                facts.append("run")
            else:
                facts.append("walk")
                facts.append("walk_slow" if speed < 0.7 else "walk_fast" if speed > 1.45 else "walk")
            mean_facing = facing.mean(0)
            cosine = float(np.dot(mean_facing, disp) / (np.linalg.norm(mean_facing) * np.linalg.norm(disp) + 1e-9))
            if cosine > 0.75:
                facts.append("forward")
            elif cosine < -0.75:
                facts.append("backward")
            else:
                leftward = float(mean_facing[1] * disp[0] - mean_facing[0] * disp[1])  # > 0: towards the left (+x at facing +z)
                facts.append("sideways_left" if leftward > 0 else "sideways_right")
        turn = float(np.degrees(heading[-1] - heading[0]))
        if abs(turn) >= 300:
            facts.append("spin")
        if abs(turn) >= 60:
            facts.append("turn_left" if turn > 0 else "turn_right")
        # A jump: both feet off the floor for 3+ frames with the pelvis rising.
        run_len, best = 0, 0
        for f in flight:
            run_len = run_len + 1 if f else 0
            best = max(best, run_len)
        if best >= 3 and "run" not in facts and pelvis[:, 1].max() - np.median(pelvis[:, 1]) > 0.08:
            facts.append("jump")
        # Legs: crouching, bent knees, standing on one leg, kicks.
        # Pelvis height over leg length (thigh + shin): about 1.08 standing straight on train clips.
        leg = np.median(np.linalg.norm(p[:, J["l_hip"]] - p[:, J["l_knee"]], axis=-1)
                        + np.linalg.norm(p[:, J["l_knee"]] - p[:, J["l_ankle"]], axis=-1))
        ratio = (pelvis[:, 1] - floor) / max(float(leg), 1e-6)
        if np.mean(ratio < 0.65) > 0.3 and upright.mean() > 0.5:
            facts.append("crouch")
        elif np.mean(ratio < 0.9) > 0.5 and upright.mean() > 0.5:
            facts.append("knees_bent")
        one_leg = np.mean((feet_h.max(1) > 0.25) & (feet_h.min(1) < 0.08))
        if one_leg > 0.5 and speed < 0.3:
            facts.append("one_leg")
        for side in ("l", "r"):
            ankle = p[:, J[f"{side}_ankle"]]
            ankle_speed = np.linalg.norm(np.diff(ankle, axis=0), axis=-1) / dt
            high = (ankle[1:, 1] - floor > 0.45) & (ankle_speed > 3.0)
            if high.sum() >= 2 and "run" not in facts:
                facts.append("kick_left" if side == "l" else "kick_right")
    # Trunk: bending forward or leaning back (relative to the facing direction).
    trunk = neck - pelvis
    horiz = trunk[:, 0] * facing[:, 0] + trunk[:, 2] * facing[:, 1]
    tilt = np.degrees(np.arctan2(horiz, trunk[:, 1]))
    if "lying" not in facts and "inverted" not in facts:
        if np.mean(tilt > 40) > 0.3:
            facts.append("bend_forward")
        elif np.mean(tilt < -20) > 0.3:
            facts.append("lean_back")
    # Arms.
    lw, rw = p[:, J["l_wrist"]], p[:, J["r_wrist"]]
    if upright.mean() > 0.5:
        l_up = np.mean(lw[:, 1] > head[:, 1] + 0.05) > 0.3
        r_up = np.mean(rw[:, 1] > head[:, 1] + 0.05) > 0.3
        if l_up and r_up:
            facts.append("arms_up_both")
        elif l_up:
            facts.append("arm_up_left")
        elif r_up:
            facts.append("arm_up_right")
    span = np.linalg.norm(lw - rw, axis=-1)
    if np.mean(span > 1.25) > 0.4:
        facts.append("arms_spread")
    close = span < 0.18
    settled = speed < 0.6  # running arms cross in front of the chest: not hands held together
    if settled and close.mean() > 0.3:
        facts.append("hands_together")
    meets = int(np.sum(np.diff(close.astype(int)) == 1))
    if settled and meets >= 3:
        facts.append("clap")
    for hand, wrist in (("left", lw), ("right", rw)):
        shoulder = p[:, J["l_shoulder" if hand == "left" else "r_shoulder"]]
        raised = wrist[:, 1] > shoulder[:, 1] + 0.05
        lateral = wrist[:, 0] - shoulder[:, 0]
        vel = np.diff(lateral)
        swings = int(np.sum(np.sign(vel[1:]) != np.sign(vel[:-1])))
        if raised.mean() > 0.5 and swings >= 3 and np.ptp(lateral[raised]) > 0.12:
            facts.append(f"wave_{hand}")
    for side in ("l", "r"):
        wrist, shoulder = p[:, J[f"{side}_wrist"]], p[:, J[f"{side}_shoulder"]]
        reach = (wrist[:, 0] - shoulder[:, 0]) * facing[:, 0] + (wrist[:, 2] - shoulder[:, 2]) * facing[:, 1]
        rel_speed = np.linalg.norm(np.diff(wrist - pelvis, axis=0), axis=-1) / dt
        level = np.abs(wrist[:, 1] - shoulder[:, 1]) < 0.2
        # A punch is a thrust: the wrist reaches forward at shoulder height from 0.2 m closer 0.2 s earlier.
        thrust = (reach[5:] > 0.42) & level[5:] & (reach[5:] - reach[:-5] > 0.2)
        if thrust.any() and rel_speed.max() > 2.0 and "punch" not in facts and upright.mean() > 0.8:
            facts.append("punch")
    return list(dict.fromkeys(facts))


def _preferred(facts: Sequence[str]) -> list[str]:
    present = set(facts)
    return [f for f in facts if not any(p in present for p in _MORE_PRECISE.get(f, ()))]


def kinematic_captions(facts: Sequence[str], rng: random.Random, n: int, split: Split = "train") -> list[str]:
    """``n`` captions (distinct where possible) combining 1-3 of ``facts`` in randomised words."""
    usable = _preferred(facts)
    if not usable:
        return []
    out: list[str] = []
    for _ in range(n * 3):
        k = rng.randint(1, min(3, len(usable)))
        chosen = rng.sample(usable, k)
        phrases = [rng.choice(FACTS[f].pick(split)) for f in chosen]
        text = rng.choice(SUBJECTS[split]) + " " + phrases[0]
        for phrase in phrases[1:]:
            text += rng.choice(JOINERS[split]) + phrase
        text = text[0].upper() + text[1:] + "."
        if text not in out:
            out.append(text)
        if len(out) == n:
            break
    return out


def vocabulary() -> list[str]:
    """Every training phrasing as a sentence: the kinematic words a model trained with these captions
    knows (written into the model directory for :meth:`DanceSearchModel.familiarity`)."""
    return [f"a person {phrase}" for fact in FACTS.values() for phrase in fact.train]


def fact_query(fact: str, rng: random.Random) -> str:
    """A held-out query for one fact (evaluation only): an eval subject and an eval phrase."""
    return f"{rng.choice(SUBJECTS['eval'])} {rng.choice(FACTS[fact].eval)}"
