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
   When names find no limbs at all (joints named ``b001``, ``bone_12``, another language), the limbs come
   from the shape of the hierarchy alone (:func:`_limbs_by_topology`): the two mirrored chains closest to
   the root are the legs, the next mirrored pair on the trunk the arms, their two longest consecutive bones
   the thigh and shin or upper arm and forearm, and the performer's left is up x forward with forward the
   way the feet point; the head is then the last real joint above the arms' branch, the neck the one joint
   between them. Units that only names tell (CMU's 0.05644 m) cannot be told then (docs/skeletons.md).
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

_HEAD_TOP = re.compile(r"(?i:top|end|tip|nub|site)\d*$")
"""A joint that marks the top of the head (Mixamo's HeadTop_End, Blender's head_end), not the head."""

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
    by: str                                  # "names", "names and hierarchy" or "hierarchy"
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


LIMB_SEARCH_JOINTS = 5
"""Joints from a limb's branch point within which its two long bones lie (branch, collar or hip bone, upper
bone, lower bone, hand or foot): what lies further out (fingers, toes, props) neither decides whether two
chains mirror each other nor which bones are the limb's."""


def _main_chain(sk: _Skeleton, j: int) -> list[int]:
    """``j`` and the joints below it along :func:`_first_child` (the longest bone at each step)."""
    chain = [j]
    while (nxt := _first_child(sk, chain[-1])) is not None and not sk.end_site[nxt]:
        chain.append(nxt)
    return chain


def _chain_length(sk: _Skeleton, chain: list[int]) -> float:
    return sum(sk.length(a, b) for a, b in zip(chain, chain[1:], strict=False))


def _limb_joints(sk: _Skeleton, branch: int, chain: list[int]) -> tuple[int, int, int] | None:
    """(top, mid, end) of a limb chain hanging from ``branch``: the two consecutive longest bones (thigh and
    shin, upper arm and forearm) of branch + chain; a clavicle, hip bone, hand or foot is shorter."""
    path = [branch, *chain][:LIMB_SEARCH_JOINTS]  # past the hand or foot: fingers, toes, props
    if len(path) < 3:
        return None
    best = max(range(len(path) - 2), key=lambda i: sk.length(path[i], path[i + 1]) + sk.length(path[i + 1], path[i + 2]))
    top, mid, end = path[best], path[best + 1], path[best + 2]
    return None if top == branch and sk.children(branch).count(chain[0]) == 0 else (top, mid, end)


def _mirrored_pairs(sk: _Skeleton, scale: float) -> list[tuple[int, int, int]]:
    """(branch joint, child a, child b): two children of one joint starting chains of >= 2 bones of about the
    same length at the same distance from it (limbs), closest to the root first."""
    pairs = []
    for b in range(len(sk.names)):
        kids = [c for c in sk.children(b) if not sk.end_site[c] and not sk.helper(c)]
        chains = {c: _main_chain(sk, c)[:LIMB_SEARCH_JOINTS - 1] for c in kids}
        for i, a in enumerate(kids):
            for c in kids[i + 1:]:
                la, lc = _chain_length(sk, chains[a]), _chain_length(sk, chains[c])
                if len(chains[a]) < 3 or len(chains[c]) < 3 or min(la, lc) < 0.15 * scale:
                    continue
                if abs(la - lc) > 0.15 * max(la, lc) or abs(sk.length(b, a) - sk.length(b, c)) > 0.05 * scale:
                    continue
                pairs.append((len(sk.ancestors(b)), b, a, c))
    return [(b, a, c) for _, b, a, c in sorted(pairs)]


def _limbs_by_topology(sk: _Skeleton, scale: float) -> dict[tuple[str, str], tuple[int, int, int]] | None:
    """Legs and arms when names do not say: the mirrored pair of chains closest to the root are the legs,
    the next mirrored pair outside them (on the trunk, above) the arms. Sides from the pose: the performer's
    left is up x forward, with forward the way the feet point (right-handed axes; a mirrored file is caught
    later by the facing-versus-travel check of :mod:`motion.orientation`)."""
    pairs = _mirrored_pairs(sk, scale)
    if len(pairs) < 2:
        return None
    leg_b, la, lb = pairs[0]
    in_legs = {la, lb} | {j for j in range(len(sk.names)) if la in sk.ancestors(j) or lb in sk.ancestors(j)}
    arms = [p for p in pairs[1:] if p[0] not in in_legs and p[0] != leg_b]
    if not arms:
        return None
    arm_b, aa, ab = arms[0]
    legs = [_limb_joints(sk, leg_b, _main_chain(sk, c)) for c in (la, lb)]
    arm_chains = [_limb_joints(sk, arm_b, _main_chain(sk, c)) for c in (aa, ab)]
    if any(x is None for x in (*legs, *arm_chains)):
        return None
    leg_a, leg_c = legs
    arm_a, arm_c = arm_chains
    assert leg_a is not None and leg_c is not None and arm_a is not None and arm_c is not None
    if leg_a[0] == leg_c[0] or arm_a[0] == arm_c[0]:
        return None
    # The performer's left = up x forward (right-handed axes): up from the legs' to the arms' branch,
    # forward from each ankle to the joint below it (the toes point forward).
    up = sk.rest[arm_b] - sk.rest[leg_b]
    toes = [t for t in (_first_child(sk, leg_a[2]), _first_child(sk, leg_c[2])) if t is not None]
    forward = sum((sk.rest[t] - sk.rest[sk.parents[t]] for t in toes), np.zeros(3))
    forward = forward - up * float(np.dot(forward, up)) / max(float(np.dot(up, up)), 1e-12)
    left = np.cross(up, forward)
    if not np.linalg.norm(left):  # no toes to tell: an arbitrary but consistent side (checked later)
        left = sk.rest[leg_a[0]] - sk.rest[leg_c[0]]
    leg_first = float(np.dot(sk.rest[leg_a[0]] - sk.rest[leg_c[0]], left)) > 0
    arm_first = float(np.dot(sk.rest[arm_a[0]] - sk.rest[arm_c[0]], left)) > 0
    return {("l", "leg"): leg_a if leg_first else leg_c, ("r", "leg"): leg_c if leg_first else leg_a,
            ("l", "arm"): arm_a if arm_first else arm_c, ("r", "arm"): arm_c if arm_first else arm_a}


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
        found = _limbs_by_topology(sk, scale)
        if found is None:
            raise UnrecognisedRig(joint_names, bases, f"no {', '.join(missing_limbs)} chain was found, by names "
                                                      "or by the shape of the hierarchy")
        limbs = found
        by = "hierarchy"
        notes.append("limbs: from the shape of the hierarchy (two mirrored chains below the trunk = legs, two "
                     "above = arms; thigh/shin and upper arm/forearm = the two longest bones of each chain); "
                     "left/right from the rest pose, checked against the motion afterwards")

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
        # The top of the trunk: follow the longest non-limb chain above the chest-top. A collar lies on the
        # way to a shoulder and is never on it (nameless, it has no side, and it can be longer than the neck).
        # A neck named as a twist bone (Character Creator's NeckTwist01) is walked through when it is the
        # only way up; once a real joint stands above the chest-top (a neck, or the head of a rig without
        # one), a head-top marker (an End Site or a joint named ...Top, ..._End) is not the head, and from
        # two joints up (neck, head) a joint where the chain branches is.
        arm_paths = set(sk.ancestors(l_sh)) | set(sk.ancestors(r_sh))
        j, steps = chest_top, 0
        while True:
            kids = [c for c in sk.children(j) if c not in limb_joints
                    and not any(a in sk.ancestors(c) or a == c for a in (l_sh, r_sh))
                    and c not in arm_paths and sk.sides[c] is None]
            kids = [c for c in kids if not sk.helper(c)] or [c for c in kids if not sk.end_site[c]]
            if by == "hierarchy":
                kids = [c for c in kids if not sk.end_site[c]]  # nameless: the head-top End Site is not the head
            if steps >= 1:
                kids = [c for c in kids if not sk.end_site[c] and not _HEAD_TOP.search(sk.names[c])]
            if not kids or (steps >= 2 and len(kids) > 1):  # a face (jaw, eyes, teeth) branches from the head
                break
            j = max(kids, key=lambda c: sk.length(j, c) + 1e-6 * (not sk.end_site[c]))
            head, steps = j, steps + 1
        by = "names and hierarchy" if by == "names" else by
        if head is None:
            raise UnrecognisedRig(joint_names, bases, "no head joint and no chain above the shoulders")
        notes.append(f"head: top of the chain above the shoulders ({sk.names[head]})")
    direct("head", head)
    head_chain = list(reversed(sk.ancestors(head)))  # root ... parent of head
    necks = [a for a in head_chain if NECK_WORD in sk.bases[a] and sk.sides[a] is None
             and a not in sk.ancestors(chest_top) and a != chest_top]
    neck_joint = necks[0] if necks else None
    between = [a for a in head_chain if chest_top in sk.ancestors(a) and not sk.helper(a)]
    if neck_joint is None and by == "hierarchy" and len(between) == 1:
        neck_joint = between[0]  # nameless rig: the one joint between the arms' branch and the head
        notes.append(f"neck: the joint between the shoulders' branch and the head ({sk.names[neck_joint]})")
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
    if by == "hierarchy" and share < 0.25:
        name = "unknown joint names"  # no convention is close: do not pretend one is
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
