"""Rig conventions people bring (docs/skeletons.md), as BVH writers: retargeting for tests and evaluation.

:func:`convention_bvh` retargets a canonical motion onto a skeleton of a named convention: its joint
names (prefixes, side markers, separators), hierarchy (spine split, collars, CMU's hip joints, Unreal's
floor root, twist joints, fingers, a missing neck or toe), units, up axis, root convention and rest pose,
and writes it with :func:`motion.bvh_write.tree_bvh_text`. Joint positions are built from the canonical
joints: limb joints are the canonical ones, extra joints (collars, spine segments, twists, fingers) are
placed between or beyond them, so a correct recognition reads the limbs back exactly. The tests check
recognition on every convention (tests/test_recognise.py); the evaluation retargets test clips onto them
to measure cross-rig retrieval (training/eval_v2.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from motion.bvh_write import tree_bvh_text
from motion.data import Motion
from motion.skeleton import JOINT_INDEX as J

UNITS_M = {"m": 1.0, "cm": 0.01, "mm": 0.001, "inch": 0.0254, "cmu": 0.0254 / 0.45}


@dataclass(frozen=True)
class Convention:
    """Names of one convention's joints; ``{S}`` is Left/Right, ``{s}`` l/r, ``{X}`` L/R."""

    name: str
    root: str
    spine: tuple[str, ...]
    neck: tuple[str, ...]
    head: str
    collar: str | None
    shoulder: str
    elbow: str
    wrist: str | None
    upleg: str
    knee: str
    ankle: str
    toe: str | None
    units: str = "cm"
    up: str = "y"
    prefix: str = ""
    floor_root: str | None = None          # Unreal: a root joint on the floor above the pelvis joint
    hipjoint: str | None = None            # CMU: a joint between the root and each thigh
    twists: bool = False                   # twist joints as children of upper arm / thigh
    fingers: bool = True
    end_sites: bool = True
    right_first: bool = False
    tags: tuple[str, ...] = field(default=())


CONVENTIONS: dict[str, Convention] = {c.name: c for c in (
    Convention("mixamo", "Hips", ("Spine", "Spine1", "Spine2"), ("Neck",), "Head", "{S}Shoulder", "{S}Arm",
               "{S}ForeArm", "{S}Hand", "{S}UpLeg", "{S}Leg", "{S}Foot", "{S}ToeBase", prefix="mixamorig:"),
    Convention("mixamo7", "Hips", ("Spine", "Spine1", "Spine2"), ("Neck",), "Head", "{S}Shoulder", "{S}Arm",
               "{S}ForeArm", "{S}Hand", "{S}UpLeg", "{S}Leg", "{S}Foot", "{S}ToeBase", prefix="mixamorig7:", units="m"),
    Convention("cmu_asf", "root", ("lowerback", "upperback", "thorax"), ("lowerneck", "upperneck"), "head",
               "{s}clavicle", "{s}humerus", "{s}radius", "{s}wrist", "{s}femur", "{s}tibia", "{s}foot", "{s}toes",
               units="cmu", up="z", hipjoint="{s}hipjoint"),
    Convention("cgspeed", "Hips", ("LowerBack", "Spine", "Spine1"), ("Neck", "Neck1"), "Head", "{S}Shoulder",
               "{S}Arm", "{S}ForeArm", "{S}Hand", "{S}UpLeg", "{S}Leg", "{S}Foot", "{S}ToeBase", units="cmu",
               hipjoint="{X}HipJoint"),
    Convention("unreal", "pelvis", ("spine_01", "spine_02", "spine_03"), ("neck_01",), "head", "clavicle_{s}",
               "upperarm_{s}", "lowerarm_{s}", "hand_{s}", "thigh_{s}", "calf_{s}", "foot_{s}", "ball_{s}",
               up="z", floor_root="root", twists=True),
    Convention("unity", "Hips", ("Spine", "Chest", "UpperChest"), ("Neck",), "Head", "{S}Shoulder", "{S}UpperArm",
               "{S}LowerArm", "{S}Hand", "{S}UpperLeg", "{S}LowerLeg", "{S}Foot", "{S}Toes", units="m"),
    Convention("xsens", "Pelvis", ("L5", "L3", "T12", "T8"), ("Neck",), "Head", "{S}Shoulder", "{S}UpperArm",
               "{S}ForeArm", "{S}Hand", "{S}UpperLeg", "{S}LowerLeg", "{S}Foot", "{S}Toe", right_first=True),
    Convention("optitrack", "Hip", ("Ab", "Chest"), ("Neck",), "Head", "{X}Shoulder", "{X}UArm", "{X}FArm",
               "{X}Hand", "{X}Thigh", "{X}Shin", "{X}Foot", "{X}Toe", units="m"),
    Convention("vicon_inch_zup", "Hips", ("LowerBack", "Spine", "Spine1"), ("Neck",), "Head", "{S}Shoulder",
               "{S}Arm", "{S}ForeArm", "{S}Hand", "{S}UpLeg", "{S}Leg", "{S}Foot", "{S}ToeBase", units="inch",
               up="z"),
    Convention("biped", "Bip01 Pelvis", ("Bip01 Spine", "Bip01 Spine1", "Bip01 Spine2"), ("Bip01 Neck",),
               "Bip01 Head", "Bip01 {X} Clavicle", "Bip01 {X} UpperArm", "Bip01 {X} Forearm", "Bip01 {X} Hand",
               "Bip01 {X} Thigh", "Bip01 {X} Calf", "Bip01 {X} Foot", "Bip01 {X} Toe0", up="z"),
    Convention("daz_no_toe", "hip", ("abdomenLower", "abdomenUpper", "chestLower", "chestUpper"),
               ("neckLower", "neckUpper"), "head", "{s}Collar", "{s}ShldrBend", "{s}ForearmBend", "{s}Hand",
               "{s}ThighBend", "{s}Shin", "{s}Foot", None, twists=True, end_sites=False),
    Convention("rigify", "DEF-spine", ("DEF-spine.001", "DEF-spine.002", "DEF-spine.003"), ("DEF-neck",),
               "DEF-head", "DEF-shoulder.{X}", "DEF-upper_arm.{X}", "DEF-forearm.{X}", "DEF-hand.{X}",
               "DEF-thigh.{X}", "DEF-shin.{X}", "DEF-foot.{X}", "DEF-toe.{X}", units="m", up="z"),
    Convention("humanik_mm", "Character1_Hips", ("Character1_Spine", "Character1_Spine1"), ("Character1_Neck",),
               "Character1_Head", "Character1_{S}Shoulder", "Character1_{S}Arm", "Character1_{S}ForeArm",
               "Character1_{S}Hand", "Character1_{S}UpLeg", "Character1_{S}Leg", "Character1_{S}Foot",
               "Character1_{S}ToeBase", units="mm"),
    Convention("no_neck_21", "Hips", ("Spine", "Spine1"), (), "Head", "{S}Shoulder", "{S}Arm", "{S}ForeArm",
               "{S}Hand", "{S}UpLeg", "{S}Leg", "{S}Foot", "{S}ToeBase", fingers=False),
    Convention("cc_base", "CC_Base_Hip", ("CC_Base_Waist", "CC_Base_Spine01", "CC_Base_Spine02"),
               ("CC_Base_NeckTwist01",), "CC_Base_Head", "CC_Base_{X}_Clavicle", "CC_Base_{X}_Upperarm",
               "CC_Base_{X}_Forearm", "CC_Base_{X}_Hand", "CC_Base_{X}_Thigh", "CC_Base_{X}_Calf",
               "CC_Base_{X}_Foot", None, up="z"),
)}
CONVENTIONS["smpl"] = Convention("smpl", "pelvis", ("spine1", "spine2", "spine3"), ("neck",), "head",
                                 "{side}_collar", "{side}_shoulder", "{side}_elbow", "{side}_wrist", "{side}_hip",
                                 "{side}_knee", "{side}_ankle", "{side}_foot", units="m", up="z")

# Source up axis -> rotation from canonical (Y up) back to the source axes (inverse of motion.orientation).
_FROM_Y = {"y": np.eye(3), "z": np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])}


def _side(template: str, side: str) -> str:
    return template.format(S="Left" if side == "l" else "Right", s=side, X=side.upper(),
                           side="left" if side == "l" else "right")


def _lerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    return (1 - t) * a + t * b


def build(conv: Convention, positions: np.ndarray, pose: str = "T") -> tuple[list[str], list[int], np.ndarray,
                                                                              np.ndarray, dict[int, np.ndarray]]:
    """(names, parents, positions (T, J, 3) in metres Y up, rest directions, end sites) of the convention."""
    p = np.asarray(positions, dtype=np.float64)
    names: list[str] = []
    parents: list[int] = []
    pos: list[np.ndarray] = []
    dirs: list[tuple[float, float, float]] = []
    ends: dict[int, np.ndarray] = {}

    def add(name: str, parent: int, at: np.ndarray, rest: tuple[float, float, float]) -> int:
        names.append(conv.prefix + name if conv.prefix else name)
        parents.append(parent)
        pos.append(at)
        dirs.append(rest)
        return len(names) - 1

    pelvis = p[:, J["pelvis"]]
    root = -1
    if conv.floor_root:
        floor = pelvis.copy()
        floor[:, 1] = 0.0
        root = add(conv.floor_root, -1, floor, (0, 0, 0))
    hips = add(conv.root, root, pelvis + np.array([0, 0.02, 0]), (0, 1, 0))
    # Spine segments along pelvis -> spine -> chest -> neck; the last one is where the arms branch.
    trunk = [pelvis, p[:, J["spine"]], p[:, J["chest"]], p[:, J["neck"]]]
    k = len(conv.spine)
    parent = hips
    for i, name in enumerate(conv.spine):
        t = 0.15 + 0.8 * (i + 1) / (k + 0.5) if k > 1 else 0.7
        seg = min(int(t * 3), 2)
        parent = add(name, parent, _lerp(trunk[seg], trunk[seg + 1], t * 3 - seg), (0, 1, 0))
    chest_top = parent
    neck_parent = chest_top
    for i, name in enumerate(conv.neck):
        at = p[:, J["neck"]] if i == 0 else _lerp(p[:, J["neck"]], p[:, J["head"]], 0.4)
        neck_parent = add(name, neck_parent, at, (0, 1, 0))
    head = add(conv.head, neck_parent, p[:, J["head"]], (0, 1, 0))
    if conv.end_sites:
        ends[head] = np.array([0.0, 0.1, 0.0])
    sides = ("r", "l") if conv.right_first else ("l", "r")
    for side in sides:
        x = 1.0 if side == "l" else -1.0
        arm_dir = (x, 0.0, 0.0) if pose == "T" else (0.7 * x, -0.7, 0.0)
        top = chest_top
        sh = p[:, J[f"{side}_shoulder"]]
        if conv.collar:
            top = add(_side(conv.collar, side), chest_top, _lerp(pos[chest_top], sh, 0.45), (x, 0.1, 0))
        upper = add(_side(conv.shoulder, side), top, sh, arm_dir)
        el = p[:, J[f"{side}_elbow"]]
        if conv.twists:
            add(_side(conv.shoulder, side) + "Twist", upper, _lerp(sh, el, 0.5), arm_dir)
        elbow = add(_side(conv.elbow, side), upper, el, arm_dir)
        wr = p[:, J[f"{side}_wrist"]]
        wrist = add(_side(conv.wrist or "", side), elbow, wr, arm_dir)
        if conv.fingers:
            direction = wr - el
            direction /= np.maximum(np.linalg.norm(direction, axis=-1, keepdims=True), 1e-9)
            f1 = add(_side(conv.wrist or "", side) + "Index1", wrist, wr + 0.08 * direction, arm_dir)
            f2 = add(_side(conv.wrist or "", side) + "Index2", f1, wr + 0.11 * direction, arm_dir)
            if conv.end_sites:
                ends[f2] = np.array([0.02 * x, 0.0, 0.0])
        elif conv.end_sites:
            ends[wrist] = np.array([0.08 * x, 0.0, 0.0])
    for side in sides:
        x = 1.0 if side == "l" else -1.0
        top = hips
        hip = p[:, J[f"{side}_hip"]]
        if conv.hipjoint:
            top = add(_side(conv.hipjoint, side), hips, _lerp(pos[hips], hip, 0.5), (x, -0.3, 0))
        thigh = add(_side(conv.upleg, side), top, hip, (0.1 * x, -1, 0))
        kn = p[:, J[f"{side}_knee"]]
        if conv.twists:
            add(_side(conv.upleg, side) + "Twist", thigh, _lerp(hip, kn, 0.5), (0, -1, 0))
        knee = add(_side(conv.knee, side), thigh, kn, (0, -1, 0))
        ankle = add(_side(conv.ankle, side), knee, p[:, J[f"{side}_ankle"]], (0, -1, 0))
        if conv.toe:
            toe = add(_side(conv.toe, side), ankle, p[:, J[f"{side}_toe"]], (0, -0.5, 1))
            if conv.end_sites:
                ends[toe] = np.array([0.0, 0.0, 0.05])
        elif conv.end_sites:
            ends[ankle] = p[len(p) // 2, J[f"{side}_toe"]] - p[len(p) // 2, J[f"{side}_ankle"]]
    return names, parents, np.stack(pos, axis=1), np.array(dirs, dtype=np.float64), ends


def convention_bvh(conv: Convention, motion: Motion, *, units: str | None = None, up: str | None = None,
                   root_mode: str = "absolute", pose: str = "T", body_scale: float = 1.0) -> str:
    """BVH text of canonical ``motion`` on the convention's rig.

    root_mode: "absolute" (zero ROOT OFFSET), "offset+absolute" (rest height in the OFFSET and in the
    channels: the Mixamo/Rokoko quirk), "delta" (rest height in the OFFSET, channels relative to it).
    body_scale: size of the performer relative to the motion (0.6 for a child, 2 for a giant export).
    """
    units, up = units or conv.units, up or conv.up
    names, parents, pos, dirs, ends = build(conv, motion.positions, pose)
    pos = pos * body_scale
    turn = _FROM_Y[up]
    metres = UNITS_M[units]
    pos_src = (pos @ turn.T) / metres
    dirs_src = dirs @ turn.T
    ends_src = {j: (e * body_scale @ turn.T) / metres for j, e in ends.items()}
    rest_height = (turn @ np.array([0.0, float(np.median(pos[:, 0, 1])), 0.0])) / metres
    offset = None if root_mode == "absolute" else rest_height
    # A floor root (Unreal) carries the path on the floor; the pelvis below it moves, as in UE exports.
    translated = frozenset({1}) if conv.floor_root else frozenset()
    return tree_bvh_text(names, parents, pos_src, motion.fps, dirs_src, root_offset=offset,
                         absolute_channels=root_mode == "offset+absolute", end_sites=ends_src,
                         translated=translated)
