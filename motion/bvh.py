"""BVH (Biovision Hierarchy) reading and writing.

Reading: any hierarchy, per-joint channel order, 3 or 6 (or any subset of the six) channels per
joint with position channels honoured on every joint, End Sites
kept as extra joints named ``<parent>_end``, CRLF, LF or CR-only line ends, tabs or spaces, keywords
in any letter case (``End site``, ``Joint``: hand-edited and older exporters' files). The MOTION block is
parsed by one NumPy call and forward kinematics runs over all frames at once (:mod:`motion.fk`). More
complete rows of values than ``Frames:`` declares (an off-by-one header, seen in real exports) are all
read and the mismatch is recorded in ``meta["read_notes"]``; fewer are an error (a cut file).
A file with several ROOT hierarchies (a prop, a camera or a second subject exported beside the performer)
is read whole and the hierarchy with the most joints kept, the others named in ``read_notes``.
Position channels: on the ROOT they are added to its OFFSET (the common root OFFSET of zero makes
them absolute; iClone exports put the rest hip height in the OFFSET and small deltas in the
channels); on any other joint they replace the OFFSET (exporters that key every joint, such as
Bandai Namco's, restate the offset there - adding would double it).

Every problem raises :class:`motion.data.MotionError` with a message saying what is wrong;
:mod:`motion.formats` prefixes the file name.

Writing (:func:`write_bvh`, canonical motion -> BVH) lives in :mod:`motion.bvh_write` and is
re-exported here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from motion.bvh_write import write_bvh
from motion.data import Motion, MotionError
from motion.fk import euler_to_matrix, forward_kinematics

_CHANNELS = {f"{axis}{kind}" for axis in "XYZ" for kind in ("position", "rotation")}
_MOTION_HEAD = re.compile(r"\s*Frames\s*:\s*(\S+)\s+Frame\s+Time\s*:\s*(\S+)[ \t]*(?:\r?\n|$)", re.IGNORECASE)
MIN_FPS, MAX_FPS = 1.0, 1000.0
_KEYWORDS = {k.upper(): k for k in ("ROOT", "JOINT", "End", "OFFSET", "CHANNELS")}
"""Hierarchy keywords by their upper-case spelling: files are read whatever case their keywords use."""

__all__ = ["BvhSkeleton", "local_transforms", "parse_hierarchy", "parse_motion_block", "read_bvh_text",
           "skeleton_positions", "split_bvh", "write_bvh"]


@dataclass
class BvhSkeleton:
    """The HIERARCHY block: joints in file order (parents first), End Sites included."""

    names: list[str] = field(default_factory=list)
    parents: list[int] = field(default_factory=list)
    offsets: list[tuple[float, float, float]] = field(default_factory=list)
    channels: list[list[str]] = field(default_factory=list)
    end_site: list[bool] = field(default_factory=list)

    @property
    def n_channels(self) -> int:
        return sum(len(c) for c in self.channels)

    def add(self, name: str, parent: int, end_site: bool) -> int:
        self.names.append(name)
        self.parents.append(parent)
        self.offsets.append((0.0, 0.0, 0.0))
        self.channels.append([])
        self.end_site.append(end_site)
        return len(self.names) - 1


class _Tokens:
    """A cursor over the whitespace-separated tokens of the HIERARCHY block."""

    def __init__(self, text: str) -> None:
        self.items = text.split()
        self.pos = 0

    def next(self, what: str) -> str:
        if self.pos >= len(self.items):
            raise MotionError(f"malformed HIERARCHY: file ends where {what} was expected")
        self.pos += 1
        return self.items[self.pos - 1]

    def number(self, what: str) -> float:
        token = self.next(what)
        try:
            value = float(token)
        except ValueError:
            raise MotionError(f"malformed HIERARCHY: {what} must be a number, got {token[:40]!r}") from None
        if not np.isfinite(value):
            raise MotionError(f"malformed HIERARCHY: {what} is not finite ({token})")
        return value


def _joint_name(tokens: _Tokens, keyword: str) -> str:
    parts: list[str] = []
    while (token := tokens.next(f"the {keyword} name")) != "{":
        parts.append(token)
    if not parts:
        raise MotionError(f"malformed HIERARCHY: {keyword} without a name")
    return " ".join(parts)


def _read_channels(tokens: _Tokens, skeleton: BvhSkeleton, joint: int) -> None:
    count_token = tokens.next("a channel count")
    if not (count_token.isascii() and count_token.isdigit()) or int(count_token) > 6:
        raise MotionError(f"malformed HIERARCHY: bad channel count {count_token[:40]!r} "
                          f"for joint {skeleton.names[joint]!r}")
    names = [tokens.next("a channel name") for _ in range(int(count_token))]
    canonical = [n[0].upper() + n[1:].lower() for n in names]
    bad = [n for n, c in zip(names, canonical, strict=True) if c not in _CHANNELS]
    if bad or len(set(canonical)) != len(canonical):
        raise MotionError(f"malformed HIERARCHY: joint {skeleton.names[joint]!r} declares "
                          f"CHANNELS {count_token} {' '.join(names)}")
    skeleton.channels[joint] = canonical


def parse_hierarchy(text: str) -> BvhSkeleton:
    """Parse the text from ``HIERARCHY`` up to (not including) ``MOTION`` into a :class:`BvhSkeleton`."""
    tokens = _Tokens(text)
    if tokens.next("HIERARCHY").upper() != "HIERARCHY":
        raise MotionError("not a BVH file: it does not start with HIERARCHY")
    skeleton, stack = BvhSkeleton(), list[int]()
    while tokens.pos < len(tokens.items):
        token = tokens.next("a keyword")
        token = _KEYWORDS.get(token.upper(), token)
        if token in ("ROOT", "JOINT"):
            if (token == "ROOT") != (not stack):
                raise MotionError(f"malformed HIERARCHY: unexpected {token} (ROOTs at the top, JOINTs inside them)")
            parent = stack[-1] if stack else -1
            if parent >= 0 and skeleton.end_site[parent]:
                raise MotionError("malformed HIERARCHY: an End Site cannot have children")
            stack.append(skeleton.add(_joint_name(tokens, token), parent, end_site=False))
        elif token == "End":
            if not stack or tokens.next("Site").upper() != "SITE" or tokens.next("{") != "{":
                raise MotionError("malformed HIERARCHY: bad End Site")
            name = f"{skeleton.names[stack[-1]]}_end"
            while name in skeleton.names:
                name += "_"
            stack.append(skeleton.add(name, stack[-1], end_site=True))
        elif token == "OFFSET" and stack:
            skeleton.offsets[stack[-1]] = tuple(tokens.number("an OFFSET value") for _ in range(3))  # type: ignore[assignment]
        elif token == "CHANNELS" and stack and not skeleton.end_site[stack[-1]]:
            _read_channels(tokens, skeleton, stack[-1])
        elif token == "}" and stack:
            stack.pop()
        else:
            raise MotionError(f"malformed HIERARCHY: unexpected {token[:40]!r}")
    if stack or not skeleton.names:
        raise MotionError("malformed HIERARCHY: unbalanced braces or no ROOT")
    if len(set(skeleton.names)) != len(skeleton.names):
        raise MotionError("malformed HIERARCHY: two joints share a name")
    return skeleton


def _frame_rate(frames_token: str, time_token: str) -> tuple[int, float, float]:
    if not (frames_token.isascii() and frames_token.isdigit()) or int(frames_token) == 0:
        raise MotionError(f"bad frame count {frames_token[:40]!r}: need a positive integer")
    try:
        frame_time = float(time_token)
    except ValueError:
        raise MotionError(f"bad Frame Time {time_token[:40]!r}") from None
    if not 1.0 / MAX_FPS <= frame_time <= 1.0 / MIN_FPS:  # also false for NaN, zero and negatives
        raise MotionError(f"absurd Frame Time {time_token}: the frame rate must be between "
                          f"{MIN_FPS:g} and {MAX_FPS:g} frames per second")
    fps = 1.0 / frame_time
    # "Frame Time: 0.033333" means 30 fps: snap rates within 0.01 of an integer.
    return int(frames_token), float(round(fps)) if abs(fps - round(fps)) < 0.01 else fps, frame_time


def _rows(body: str) -> list[list[str]]:
    """The MOTION block's non-empty lines split into values (only when the count is off)."""
    return [line.split() for line in body.splitlines() if line.strip()]


def _row_problem(rows: list[list[str]], n_frames: int, n_channels: int) -> str:
    """Explain why the MOTION rows do not hold n_frames x n_channels values (error path only)."""
    for i, row in enumerate(rows):
        if len(row) != n_channels:
            if i == len(rows) - 1 and len(rows) <= n_frames and len(row) < n_channels:
                return f"file is truncated: frame {i + 1} of {n_frames} has {len(row)} of {n_channels} values"
            return f"frame {i + 1} has {len(row)} values but the hierarchy declares {n_channels} channels"
    if len(rows) < n_frames:
        return f"file is truncated: Frames says {n_frames} but only {len(rows)} frames are present"
    return f"Frames says {n_frames} but {len(rows)} rows of values follow"


def _extra_rows(rows: list[list[str]], n_frames: int, n_channels: int) -> int:
    """How many complete rows follow the declared frames, when every row holds exactly n_channels values
    and there are more than n_frames of them (an off-by-one ``Frames:``); 0 otherwise."""
    if len(rows) <= n_frames or any(len(row) != n_channels for row in rows):
        return 0
    return len(rows) - n_frames


def parse_motion_block(body: str, n_channels: int, notes: list[str] | None = None) -> tuple[np.ndarray, float, float]:
    """Parse the text after ``MOTION``: (frames, channels) float array, frame rate, frame time.

    More complete rows than ``Frames:`` declares are all kept, with a sentence appended to ``notes``."""
    head = _MOTION_HEAD.match(body)
    if head is None:
        raise MotionError("malformed MOTION block: expected 'Frames: N' and 'Frame Time: t'")
    n_frames, fps, frame_time = _frame_rate(head.group(1), head.group(2))
    values_text = body[head.end():]
    try:
        values = np.fromstring(values_text, dtype=np.float64, sep=" ")
    except ValueError:
        bad = next((t for t in values_text.split() if not _is_float(t)), None)
        what = f"non-numeric value {bad[:40]!r}" if bad is not None else "a value NumPy cannot parse"
        raise MotionError(f"{what} in the MOTION block") from None
    if values.size != n_frames * n_channels:
        rows = _rows(values_text)
        extra = _extra_rows(rows, n_frames, n_channels)
        if not extra:
            raise MotionError(_row_problem(rows, n_frames, n_channels))
        if notes is not None:
            notes.append(f"Frames says {n_frames} but {n_frames + extra} complete rows of values follow: "
                         f"all {n_frames + extra} read")
        n_frames += extra
    values = values.reshape(n_frames, n_channels)
    finite = np.isfinite(values)
    if not finite.all():
        frame = int(np.argwhere(~finite)[0, 0])
        raise MotionError(f"frame {frame + 1} holds a NaN or infinite value")
    return values, fps, frame_time


def _is_float(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def local_transforms(skeleton: BvhSkeleton, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[bool], list[bool]]:
    """Per-frame local translations (T, J, 3) and rotations (T, J, 3, 3) from the channel values, and
    which joints have position / rotation channels (exporters such as the glTF writer need to know)."""
    n_frames, n_joints = values.shape[0], len(skeleton.names)
    translations = np.broadcast_to(np.asarray(skeleton.offsets, dtype=np.float64).reshape(n_joints, 3),
                                   (n_frames, n_joints, 3)).copy()
    rotations = np.broadcast_to(np.eye(3), (n_frames, n_joints, 3, 3)).copy()
    moving, rotating = [False] * n_joints, [False] * n_joints
    by_order: dict[str, tuple[list[int], list[list[int]]]] = {}
    column = 0
    for j, channels in enumerate(skeleton.channels):
        rot_cols = []
        for name in channels:
            if name.endswith("position"):
                axis = "XYZ".index(name[0])
                base = skeleton.offsets[j][axis] if skeleton.parents[j] < 0 else 0.0
                translations[:, j, axis] = base + values[:, column]
                moving[j] = True
            else:
                rot_cols.append(column)
            column += 1
        if rot_cols:
            order = "".join(name[0] for name in channels if name.endswith("rotation"))
            joints, cols = by_order.setdefault(order, ([], []))
            joints.append(j)
            cols.append(rot_cols)
            rotating[j] = True
    for order, (joints, cols) in by_order.items():
        rotations[:, joints] = euler_to_matrix(values[:, np.asarray(cols)], order)
    return translations, rotations, moving, rotating


def skeleton_positions(skeleton: BvhSkeleton, values: np.ndarray) -> np.ndarray:
    """Global joint positions (T, J, 3) of every joint (End Sites included) by forward kinematics."""
    translations, rotations, _, _ = local_transforms(skeleton, values)
    return forward_kinematics(skeleton.parents, translations, rotations)


def main_hierarchy(skeleton: BvhSkeleton) -> tuple[list[int], list[str]]:
    """The joints (file order) of the ROOT hierarchy with the most joints, End Sites not counted (the first
    on a tie), and the names of the other ROOTs: some exports carry a prop, a camera or a second subject
    as another ROOT next to the performer's."""
    roots = [j for j, p in enumerate(skeleton.parents) if p < 0]
    tree = list(range(len(skeleton.names)))
    for j, p in enumerate(skeleton.parents):
        if p >= 0:
            tree[j] = tree[p]
    size = {r: sum(1 for j, t in enumerate(tree) if t == r and not skeleton.end_site[j]) for r in roots}
    keep = max(roots, key=lambda r: (size[r], -r))
    return [j for j, t in enumerate(tree) if t == keep], [skeleton.names[r] for r in roots if r != keep]


def split_bvh(text: str) -> tuple[str, str]:
    """The HIERARCHY text and the text after the ``MOTION`` line, with line ends made LF
    (CRLF and old Mac CR-only files read alike)."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    split = re.search(r"^[ \t]*MOTION[ \t]*$", text, flags=re.MULTILINE | re.IGNORECASE)
    if split is None:
        raise MotionError("no MOTION block: the file is truncated or not a BVH file")
    return text[:split.start()], text[split.end():]


def read_bvh_text(text: str) -> Motion:
    """Parse BVH text into a :class:`Motion` in the file's own units and axes.

    meta: ``format`` = "bvh", ``frame_time`` (seconds), ``end_sites`` (names of the End Site joints),
    ``root_offset`` (the ROOT OFFSET, when the root has position channels: canonicalisation reports from
    it whether the channels were absolute or relative, see :mod:`motion.orientation`).
    """
    hierarchy, body = split_bvh(text)
    skeleton = parse_hierarchy(hierarchy)
    if skeleton.n_channels == 0:
        raise MotionError("the hierarchy declares no channels")
    notes: list[str] = []
    values, fps, frame_time = parse_motion_block(body, skeleton.n_channels, notes)
    positions = skeleton_positions(skeleton, values)
    keep, others = main_hierarchy(skeleton)
    if others:
        notes.append(f"{len(others) + 1} ROOT hierarchies: kept {skeleton.names[keep[0]]!r} ({len(keep)} joints), "
                     f"left out {', '.join(repr(o) for o in others)}")
    index = {j: i for i, j in enumerate(keep)}
    names = [skeleton.names[j] for j in keep]
    parents = [index[skeleton.parents[j]] if skeleton.parents[j] >= 0 else -1 for j in keep]
    end_sites = [skeleton.names[j] for j in keep if skeleton.end_site[j]]
    meta: dict[str, object] = {"format": "bvh", "frame_time": frame_time, "end_sites": end_sites}
    if notes:
        meta["read_notes"] = notes
    root = keep[0]
    if any(c.endswith("position") for c in skeleton.channels[root]):
        meta["root_offset"] = [float(v) for v in skeleton.offsets[root]]
    return Motion(positions[:, keep].astype(np.float32), fps, names, parents, meta)

