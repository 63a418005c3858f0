"""Zero-configuration rig recognition: which source joint is which canonical joint, from names and hierarchy.

Animation tools retarget between rigs by normalising joint names and matching them against alias lists
(HumanIK characterisation, Unity's Humanoid avatar, Blender's auto-rig matchers); this module does the
same for the 19 joints of :mod:`motion.skeleton`:

1. **Names.** :func:`normalise_name` strips namespaces and rig prefixes (``mixamorig7:``, ``Character1_``,
   ``Bip01 ``, ``DEF-``, ``CC_Base_``, ``RL_``), finds the side marker (``Left``/``Right``, ``L_``, ``_l``,
   ``.L``, a lone ``l``/``r`` before a capital as in ``lThighBend``/``LUArm``, CMU's ``lfemur``) and
   returns the side and a compact lower-case base name (``LeftUpLeg`` -> ``("l", "upleg")``).
2. **Limb chains.** On each side the distal joint is found by alias (wrist before hand, ankle before
   foot); the joints above it are taken from the hierarchy, skipping twist/roll/helper joints and
   zero-length bones: elbow = parent of the wrist, shoulder (upper-arm joint, never the collar) = parent
   of the elbow, knee = parent of the ankle, hip = parent of the knee. So ``LeftShoulder`` (Mixamo's
   collar) and ``left_shoulder`` (SMPL's upper-arm joint) both end up right. A limb whose wrist or ankle
   has no alias is found from its upper joints' aliases, and a missing end joint is the End Site (or
   first child) below the elbow/knee.
3. **Trunk.** pelvis = mean of the two hips (as in every built-in rig); the neck is the lowest
   ``neck``-named ancestor of the head; the head is the ``head``/``face`` joint or the top of the
   chain above the neck. Spine and chest are points along the spine polyline (pelvis -> spine joints
   -> neck) at the arc-length fractions the corpus rigs have (SPINE_FRACTION, CHEST_FRACTION: medians
   over the train split of the built-in mappings, measured by ``/tmp``-free code in
   :func:`spine_fractions`), so recognised rigs and built-in rigs agree on what "spine" and "chest" mean.
4. **Interpolation, recorded.** No neck: between chest-top and head (NECK_T). No toe: ahead of the ankle
   along the foot (the ankle's End Site or, failing that, the ankle itself). One spine joint: it stands
   for both spine and chest. Each filled joint is listed in :attr:`Recognition.interpolated`.

Units, up axis, root handling and plausibility are decided afterwards from the mapped positions
(:mod:`motion.orientation`, :mod:`motion.plausibility`); this module only decides *which* joints.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from motion.data import MotionError
from motion.rigmap import JointSource
from motion.skeleton import JOINTS

# Arc-length fractions of the canonical spine and chest along pelvis -> neck, medians of the built-in
# corpus mappings on train clips (bandai 0.41/0.62, cmu 0.38/0.66, ballroom 0.49/0.67; see
# tests/test_recognise.py::test_spine_fractions_match_the_corpus_rigs, which recomputes them).
SPINE_FRACTION = 0.41
CHEST_FRACTION = 0.64
# No neck joint: the neck sits this far from the chest-top (the arms' branching joint) towards the head.
NECK_T = 0.35

_PREFIXES = re.compile(
    r"^(?:mixamorig\d*[:_]?|character\d*_|bip\d+\s*|biped\d*[_ ]|def[-_]|org[-_]|mch[-_]|cc_base_|rl_|"
    r"b_|bn_|jnt_|j_(?=[a-z])|sk_|rig_|skel_|root_(?=[a-z]))",
    re.IGNORECASE,
)
_HELPER = re.compile(r"(?i:twist|roll|share|helper|adjust|corrective|pole|null|nub|dummy|weapon|prop\d*$)"
                     r"|(?:^|[_.\s-])(?i:ik)(?:$|[_.\s-])|IK")

# Side-less base names (compact, lower case) of each role, most specific first.
ARM_END = ("wrist", "hand", "handjoint")
ELBOW = ("forearm", "lowerarm", "farm", "elbow", "radius", "forearmbend", "forearmjoint", "lowarm", "ulna")
UPPER_ARM = ("upperarm", "uparm", "uarm", "arm", "humerus", "shldr", "shldrbend", "shoulder", "upperarmjoint")
COLLAR = ("clavicle", "collar", "shoulder", "clav", "collarbone")
LEG_END = ("ankle", "foot", "footjoint")
KNEE = ("knee", "leg", "lowerleg", "calf", "shin", "tibia", "lowleg", "loleg", "kneejoint")
UPPER_LEG = ("upleg", "upperleg", "thigh", "femur", "hip", "thighbend", "upperlegjoint", "hipjoint", "uleg")
TOE = ("toe", "toes", "toebase", "ball", "toe0", "toe01", "toesjoint", "foot")
HEAD = ("head", "face", "headjoint")
NECK_WORD = "neck"

# Known naming conventions by telltale base names (side-stripped), for reports and error messages.
CONVENTIONS: dict[str, frozenset[str]] = {
    "Mixamo / HumanIK": frozenset({"hips", "spine", "spine1", "spine2", "neck", "head", "shoulder", "arm", "forearm",
                                   "hand", "upleg", "leg", "foot", "toebase"}),
    "CMU ASF/AMC": frozenset({"root", "lowerback", "upperback", "thorax", "lowerneck", "upperneck", "head",
                              "clavicle", "humerus", "radius", "wrist", "femur", "tibia", "foot", "toes"}),
    "CMU cgspeed (MotionBuilder/3dsMax)": frozenset({"hips", "hipjoint", "upleg", "leg", "foot", "toebase",
                                                     "lowerback", "spine", "spine1", "neck", "neck1", "head",
                                                     "shoulder", "arm", "forearm", "hand"}),
    "SMPL / SMPL-X": frozenset({"pelvis", "hip", "knee", "ankle", "foot", "spine1", "spine2", "spine3", "neck",
                                "head", "collar", "shoulder", "elbow", "wrist"}),
    "Unreal mannequin": frozenset({"root", "pelvis", "spine01", "spine02", "spine03", "neck01", "head",
                                   "clavicle", "upperarm", "lowerarm", "hand", "thigh", "calf", "foot", "ball"}),
    "Unity Humanoid": frozenset({"hips", "spine", "chest", "upperchest", "neck", "head", "shoulder", "upperarm",
                                 "lowerarm", "hand", "upperleg", "lowerleg", "foot", "toes"}),
    "Xsens MVN": frozenset({"pelvis", "l5", "l3", "t12", "t8", "neck", "head", "shoulder", "upperarm", "forearm",
                            "hand", "upperleg", "lowerleg", "foot", "toe"}),
    "OptiTrack Motive": frozenset({"hip", "ab", "chest", "neck", "head", "shoulder", "uarm", "farm", "hand",
                                   "thigh", "shin", "foot", "toe"}),
    "3ds Max Biped": frozenset({"pelvis", "spine", "spine1", "neck", "head", "clavicle", "upperarm", "forearm",
                                "hand", "thigh", "calf", "foot", "toe0"}),
    "Daz Genesis / Poser": frozenset({"hip", "abdomen", "chest", "neck", "head", "collar", "shldr", "forearm",
                                      "hand", "thigh", "shin", "foot", "thighbend", "shldrbend", "abdomenlower"}),
    "Character Creator / iClone": frozenset({"hip", "pelvis", "waist", "spine01", "spine02", "necktwist01", "head",
                                             "clavicle", "upperarm", "forearm", "hand", "thigh", "calf", "foot",
                                             "toebase"}),
    "Rigify / Blender metarig": frozenset({"pelvis", "spine", "spine001", "spine002", "spine003", "neck", "head",
                                           "face", "shoulder", "upperarm", "forearm", "hand", "thigh", "shin",
                                           "foot", "toe"}),
    "Bandai Namco": frozenset({"hips", "spine", "chest", "neck", "head", "shoulder", "upperarm", "lowerarm", "hand",
                               "upperleg", "lowerleg", "foot", "toes"}),
    "Perfume": frozenset({"hips", "chest", "chest2", "chest3", "chest4", "neck", "head", "collar", "shoulder",
                          "elbow", "wrist", "hip", "knee", "ankle", "toe"}),
}


@dataclass(frozen=True)
class Recognition:
    """The outcome of recognising a rig: a source -> canonical mapping and how it was decided."""

    joints: dict[str, JointSource]
    matched: dict[str, str]                 # canonical joint -> source joint it was taken from (direct ones)
    interpolated: dict[str, str]            # canonical joint -> how it was filled
    convention: str                          # closest known naming convention
    by: str                                  # "names" or "names and hierarchy"
    confidence: float                        # 0..1
    notes: list[str] = field(default_factory=list)


def _camel_tokens(text: str) -> list[str]:
    return re.findall(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+", text)


def normalise_name(name: str) -> tuple[str | None, str]:
    """``(side, base)`` of a joint name: side ``"l"``/``"r"``/None, base compact lower case.

    >>> normalise_name("mixamorig7:LeftUpLeg"), normalise_name("thigh_l"), normalise_name("lfemur")
    (('l', 'upleg'), ('l', 'thigh'), ('l', 'femur'))
    """
    text = re.split(r"[:|]", name.strip())[-1]
    for _ in range(3):
        stripped = _PREFIXES.sub("", text)
        if stripped == text or not stripped:
            break
        text = stripped
    side: str | None = None
    low = text.lower()
    word = re.search(r"left|right", low)
    if word:
        side = word.group(0)[0]
        text = text[:word.start()] + text[word.end():]
    else:
        patterns = (
            r"[_.\s-]([lLrR])$",                # thigh_l, thigh.L, Thigh_R
            r"^([lLrR])[_.\s-]",                # L_Thigh, l_hip, "L Thigh"
            r"^([lr])(?=[A-Z])",                # lThighBend, rShldr
            r"^([LR])(?=[A-Z][a-z]|[A-Z]{2}|[A-Z][A-Z][a-z])",  # LHipJoint, LThigh, LUArm, LFArm
            r"(?<=[a-z])([LR])$",               # UpperArmL
            r"^([lr])(?=femur|tibia|foot|toes|humerus|radius|wrist|hand|clavicle|hipjoint|shoulder|elbow|knee"
            r"|ankle|hip|thigh|shin|shldr|collar|forearm|uparm|upleg|leg|arm|toe|fingers|thumb|index|middle|ring"
            r"|pinky)",
        )
        for pattern in patterns:
            m = re.search(pattern, text)
            if m:
                side = m.group(1).lower()
                text = text[:m.start(1)] + text[m.end(1):]
                break
    base = re.sub(r"[^a-z0-9]", "", text.lower())
    return side, base


@dataclass
class _Skeleton:
    names: list[str]
    parents: list[int]
    end_site: list[bool]
    rest: np.ndarray             # (J, 3) positions of a reference frame, for lengths and sides
    sides: list[str | None]
    bases: list[str]

    def children(self, j: int) -> list[int]:
        return [c for c, p in enumerate(self.parents) if p == j]

    def ancestors(self, j: int) -> list[int]:
        out = []
        while self.parents[j] >= 0:
            j = self.parents[j]
            out.append(j)
        return out

    def length(self, a: int, b: int) -> float:
        return float(np.linalg.norm(self.rest[a] - self.rest[b]))

    def helper(self, j: int) -> bool:
        return bool(_HELPER.search(re.split(r"[:|]", self.names[j])[-1]))


def _find(sk: _Skeleton, side: str | None, aliases: Sequence[str], among: Sequence[int] | None = None,
          allow_end: bool = False) -> int | None:
    """The joint of ``side`` whose base is the earliest alias (ties: the one closest to the root)."""
    pool = range(len(sk.names)) if among is None else among
    best: tuple[int, int, int] | None = None
    for j in pool:
        if (sk.end_site[j] and not allow_end) or sk.sides[j] != side or sk.helper(j):
            continue
        if sk.bases[j] in aliases:
            key = (aliases.index(sk.bases[j]), len(sk.ancestors(j)), j)
            best = key if best is None or key < best else best
    return None if best is None else best[2]


def _real_parent(sk: _Skeleton, j: int, scale: float) -> int | None:
    """Parent of ``j`` skipping helper joints and (near) zero-length bones."""
    p = sk.parents[j]
    while p >= 0 and (sk.helper(p) or sk.length(p, j) < 0.02 * scale):
        if sk.parents[p] < 0:
            break
        p = sk.parents[p]
    return p if p >= 0 else None


def _first_child(sk: _Skeleton, j: int) -> int | None:
    """The child of ``j`` that continues its chain (real joints before End Sites, longest bone first)."""
    kids = [c for c in sk.children(j) if not sk.helper(c)]
    if not kids:
        return None
    return max(kids, key=lambda c: (not sk.end_site[c], sk.length(j, c)))


def _limb(sk: _Skeleton, side: str, end_aliases: Sequence[str], mid_aliases: Sequence[str],
          top_aliases: Sequence[str], scale: float) -> tuple[int, int, int] | None:
    """(top, mid, end) joints of one limb of ``side`` (``end`` may be an End Site), or None."""
    end = _find(sk, side, end_aliases)
    mid = _real_parent(sk, end, scale) if end is not None else _find(sk, side, mid_aliases)
    if mid is not None and end is None:
        end = _first_child(sk, mid)
    if mid is None:
        top = _find(sk, side, top_aliases)
        if top is None:
            return None
        mid = _first_child(sk, top)
        if mid is None:
            return None
        end = _first_child(sk, mid)
    else:
        top = _real_parent(sk, mid, scale)
    if top is None or end is None:
        return None
    return top, mid, end


def _sides_by_geometry(sk: _Skeleton) -> None:
    """Give sides to unsided symmetric pairs (``Thigh1``/``Thigh2``) from the rest pose: the pair member
    with the larger coordinate along the pair's main axis is called left (checked later against the toes)."""
    by_base: dict[str, list[int]] = {}
    for j, (side, base) in enumerate(zip(sk.sides, sk.bases, strict=True)):
        if side is None and not sk.end_site[j]:
            stem = re.sub(r"\d+$", "", base)
            by_base.setdefault(stem, []).append(j)
    for stem, members in by_base.items():
        if len(members) != 2 or stem not in (*UPPER_LEG, *KNEE, *LEG_END, *UPPER_ARM, *ELBOW, *ARM_END, *COLLAR):
            continue
        a, b = members
        d = sk.rest[a] - sk.rest[b]
        axis = int(np.argmax(np.abs(d)))
        left, right = (a, b) if d[axis] > 0 else (b, a)
        sk.sides[left], sk.sides[right] = "l", "r"
        sk.bases[left] = sk.bases[right] = stem


def closest_convention(bases: set[str]) -> tuple[str, float, list[str]]:
    """(name, share of its telltale names present, the telltale names missing) of the closest convention."""
    scored = []
    for name, telltales in CONVENTIONS.items():
        found = telltales & bases
        scored.append((len(found) / len(telltales), name, sorted(telltales - bases)))
    share, name, missing = max(scored, key=lambda s: (s[0], s[1]))
    return name, share, missing


def recognise(joint_names: Sequence[str], parents: Sequence[int], positions: np.ndarray,
              end_sites: Sequence[str] = ()) -> Recognition:
    """Map a skeleton onto the canonical joints from its names and hierarchy (see the module docstring).

    positions: (T, J, 3) or (J, 3) source positions (any units/axes); used for bone lengths, to skip
    zero-length helper bones and to side unsided pairs. Raises :class:`UnrecognisedRig` saying what was
    found, the closest known convention, what it lacks, and where to go next.
    """
    pos = np.asarray(positions, dtype=np.float64)
    rest = pos if pos.ndim == 2 else pos[len(pos) // 2]
    ends = set(end_sites)
    parsed = [normalise_name(n) for n in joint_names]
    sk = _Skeleton(list(joint_names), list(parents), [n in ends or n.lower().endswith("_end") for n in joint_names],
                   rest, [p[0] for p in parsed], [p[1] for p in parsed])
    _sides_by_geometry(sk)
    extent = float(np.ptp(rest, axis=0).max()) if len(rest) else 0.0
    scale = extent if extent > 0 else 1.0
    notes: list[str] = []
    by = "names"

    limbs: dict[tuple[str, str], tuple[int, int, int]] = {}
    for side in ("l", "r"):
        arm = _limb(sk, side, ARM_END, ELBOW, UPPER_ARM, scale)
        leg = _limb(sk, side, LEG_END, KNEE, UPPER_LEG, scale)
        if arm is not None:
            limbs[(side, "arm")] = arm
        if leg is not None:
            limbs[(side, "leg")] = leg
    missing_limbs = [f"{'left' if s == 'l' else 'right'} {k}" for s in ("l", "r") for k in ("arm", "leg")
                     if (s, k) not in limbs]
    bases = set(sk.bases)
    if missing_limbs:
        raise UnrecognisedRig(joint_names, bases, f"no {', '.join(missing_limbs)} chain was found")

    joints: dict[str, JointSource] = {}
    matched: dict[str, str] = {}
    interpolated: dict[str, str] = {}

    def direct(canonical: str, j: int) -> None:
        joints[canonical] = JointSource((sk.names[j],), (1.0,))
        matched[canonical] = sk.names[j]

    for side in ("l", "r"):
        sh, el, wr = limbs[(side, "arm")]
        hip, kn, an = limbs[(side, "leg")]
        for canonical, j in ((f"{side}_shoulder", sh), (f"{side}_elbow", el), (f"{side}_wrist", wr),
                             (f"{side}_hip", hip), (f"{side}_knee", kn), (f"{side}_ankle", an)):
            direct(canonical, j)
        if sk.end_site[wr]:
            interpolated[f"{side}_wrist"] = f"End Site of {sk.names[el]} (the rig has no hand joint)"
        toe = _find(sk, side, TOE, among=[c for c in range(len(sk.names)) if an in sk.ancestors(c)])
        if toe is None or toe == an:
            child = _first_child(sk, an)
            toe = child if child is not None and sk.length(an, child) > 0.01 * scale else None
            if toe is not None and sk.end_site[toe]:
                interpolated[f"{side}_toe"] = f"End Site of {sk.names[an]} (no toe joint)"
        if toe is None:
            # No toe and no End Site: ahead of the ankle cannot be known without a foot direction; the
            # ankle stands in, one foot length is missing (recorded).
            joints[f"{side}_toe"] = JointSource((sk.names[an],), (1.0,))
            interpolated[f"{side}_toe"] = f"the ankle {sk.names[an]} stands in (no toe joint and no End Site)"
        else:
            direct(f"{side}_toe", toe)
            if f"{side}_toe" in interpolated:
                matched.pop(f"{side}_toe")

    l_hip, r_hip = limbs[("l", "leg")][0], limbs[("r", "leg")][0]
    joints["pelvis"] = JointSource((sk.names[l_hip], sk.names[r_hip]), (0.5, 0.5))
    interpolated["pelvis"] = "mean of the two hips (as in every built-in rig)"

    # The trunk: the arms branch from the chest-top; the spine chain runs from the legs' branching joint.
    l_sh, r_sh = limbs[("l", "arm")][0], limbs[("r", "arm")][0]
    arm_anc = [a for a in sk.ancestors(l_sh) if a in sk.ancestors(r_sh)]
    leg_anc = [a for a in sk.ancestors(l_hip) if a in sk.ancestors(r_hip)]
    if not arm_anc or not leg_anc:
        raise UnrecognisedRig(joint_names, bases, "the arms and legs do not hang from one trunk")
    chest_top = arm_anc[0]
    limb_joints = {j for chain in limbs.values() for j in chain}
    head = _find(sk, None, HEAD)
    if head is None or chest_top not in sk.ancestors(head):
        head = None
        # The top of the trunk: follow the longest non-limb chain above the chest-top.
        j = chest_top
        while True:
            kids = [c for c in sk.children(j) if c not in limb_joints and not sk.helper(c)
                    and not any(a in sk.ancestors(c) or a == c for a in (l_sh, r_sh))
                    and sk.sides[c] is None]
            if not kids:
                break
            j = max(kids, key=lambda c: sk.length(j, c) + 1e-6 * (not sk.end_site[c]))
            head = j
        by = "names and hierarchy"
        if head is None:
            raise UnrecognisedRig(joint_names, bases, "no head joint and no chain above the shoulders")
        notes.append(f"head: top of the chain above the shoulders ({sk.names[head]})")
    direct("head", head)
    head_chain = list(reversed(sk.ancestors(head)))  # root ... parent of head
    necks = [a for a in head_chain if NECK_WORD in sk.bases[a] and sk.sides[a] is None
             and a not in sk.ancestors(chest_top) and a != chest_top]
    neck_joint = necks[0] if necks else None
    if neck_joint is not None:
        direct("neck", neck_joint)
    else:
        joints["neck"] = JointSource((sk.names[chest_top], sk.names[head]), (1.0 - NECK_T, NECK_T))
        interpolated["neck"] = (f"between the chest-top {sk.names[chest_top]} and the head {sk.names[head]}"
                                f" (t = {NECK_T}; no neck joint)")

    # Spine polyline: pelvis (mean hips) -> trunk joints from the legs' branch point up to the neck.
    top = neck_joint if neck_joint is not None else chest_top
    chain = [a for a in reversed(sk.ancestors(top)) if a not in sk.ancestors(leg_anc[0]) and not sk.helper(a)]
    chain.append(top)
    _spine_points(sk, chain, l_hip, r_hip, joints, interpolated)

    name, share, _ = closest_convention(bases)
    n_interp = sum(1 for k in interpolated if k not in ("pelvis", "spine", "chest"))
    confidence = round(max(0.05, min(1.0, 0.5 + 0.5 * share - 0.08 * n_interp - (0.15 if by != "names" else 0))), 2)
    missing = [j for j in JOINTS if j not in joints]
    if missing:  # pragma: no cover - every branch above fills all joints
        raise UnrecognisedRig(joint_names, bases, f"could not place {', '.join(missing)}")
    return Recognition({j: joints[j] for j in JOINTS}, matched, interpolated, name, by, confidence, notes)


def _spine_points(sk: _Skeleton, chain: list[int], l_hip: int, r_hip: int, joints: dict[str, JointSource],
                  interpolated: dict[str, str]) -> None:
    """Spine and chest at SPINE_FRACTION / CHEST_FRACTION of the arc pelvis -> chain (in the rest frame)."""
    pelvis = (sk.rest[l_hip] + sk.rest[r_hip]) / 2
    points = [pelvis] + [sk.rest[j] for j in chain]
    # Each polyline vertex as weights over source joints.
    vertex_w: list[dict[str, float]] = [{sk.names[l_hip]: 0.5, sk.names[r_hip]: 0.5}]
    vertex_w += [{sk.names[j]: 1.0} for j in chain]
    seg = np.array([np.linalg.norm(points[i + 1] - points[i]) for i in range(len(points) - 1)])
    total = float(seg.sum())
    if len(chain) <= 1 or total <= 0:
        only = chain[0] if chain else l_hip
        for canonical in ("spine", "chest"):
            joints[canonical] = JointSource((sk.names[only],), (1.0,))
        interpolated["spine"] = interpolated["chest"] = f"{sk.names[only]} stands in (a single trunk joint)"
        return
    cum = np.concatenate([[0.0], np.cumsum(seg)]) / total
    for canonical, frac in (("spine", SPINE_FRACTION), ("chest", CHEST_FRACTION)):
        i = int(np.clip(np.searchsorted(cum, frac, side="right") - 1, 0, len(seg) - 1))
        t = float((frac - cum[i]) / max(cum[i + 1] - cum[i], 1e-9))
        w: dict[str, float] = {}
        for name, weight in vertex_w[i].items():
            w[name] = w.get(name, 0.0) + (1.0 - t) * weight
        for name, weight in vertex_w[i + 1].items():
            w[name] = w.get(name, 0.0) + t * weight
        w = {k: round(v, 4) for k, v in w.items() if v > 1e-4}
        norm = sum(w.values())
        w = {k: v / norm for k, v in w.items()}
        joints[canonical] = JointSource(tuple(w), tuple(w.values()))
        interpolated[canonical] = (f"{frac:.0%} of the way up the spine polyline "
                                   f"({' + '.join(f'{v:.2f} {k}' for k, v in w.items())})")


class UnrecognisedRig(MotionError):
    """No mapping could be made: the message lists the joints, the closest convention and what it lacks."""

    def __init__(self, joint_names: Sequence[str], bases: set[str], problem: str) -> None:
        name, share, lacking = closest_convention(bases)
        shown = [n for n in joint_names if not n.lower().endswith("_end")]
        listing = ", ".join(shown[:40]) + (f" and {len(shown) - 40} more" if len(shown) > 40 else "")
        super().__init__(
            f"unrecognised rig: {problem}. Joints found ({len(shown)}): {listing}. The closest known convention "
            f"is {name} ({share:.0%} of its telltale joints present; it lacks {', '.join(lacking[:10]) or 'nothing'})."
            " Run `dancesearch rig FILE --toml` for a starting rig file to edit, and see docs/skeletons.md.")
