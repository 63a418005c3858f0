"""The canonical skeleton: 19 joints that every source maps onto, and its conventions.

Conventions of canonical motion: metres, Y up, right-handed, CANONICAL_FPS frames per second,
global positions (root trajectory and turning are kept; windows are made heading-relative later).
"Left" is the performer's left. The joint set is the intersection of what all corpus rigs carry,
so no source needs more than simple interpolation to fill it.
"""

from __future__ import annotations

CANONICAL_FPS = 25.0

JOINTS: tuple[str, ...] = (
    "pelvis",      # 0  root, between the hips
    "spine",       # 1  lower/mid back
    "chest",       # 2  upper back
    "neck",        # 3  base of the neck
    "head",        # 4  head centre
    "l_shoulder",  # 5  left upper-arm joint (glenohumeral), not the collar
    "l_elbow",     # 6
    "l_wrist",     # 7
    "r_shoulder",  # 8
    "r_elbow",     # 9
    "r_wrist",     # 10
    "l_hip",       # 11
    "l_knee",      # 12
    "l_ankle",     # 13
    "l_toe",       # 14 ball of the foot / toe base
    "r_hip",       # 15
    "r_knee",      # 16
    "r_ankle",     # 17
    "r_toe",       # 18
)

PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 3, 2, 5, 6, 2, 8, 9, 0, 11, 12, 13, 0, 15, 16, 17)

N_JOINTS = len(JOINTS)
JOINT_INDEX = {name: i for i, name in enumerate(JOINTS)}

# Index permutation that swaps left and right joints (used for mirroring).
MIRROR_PERMUTATION: tuple[int, ...] = tuple(
    JOINT_INDEX[
        name.replace("l_", "@", 1).replace("r_", "l_", 1).replace("@", "r_", 1)
        if name[:2] in ("l_", "r_") else name
    ]
    for name in JOINTS
)

# Bones as (child, parent) pairs, for rendering and bone-length checks.
BONES: tuple[tuple[int, int], ...] = tuple((i, p) for i, p in enumerate(PARENTS) if p >= 0)
