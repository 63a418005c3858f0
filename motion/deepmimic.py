"""Reader for DeepMimic motion files (DeepMimic, AMP, ASE, ProtoMotions) and their character files.

A motion is ``{"Loop": "wrap" | "none" | ..., "Frames": [[dt, root x, y, z, root w, x, y, z, ...], ...]}``:
each frame starts with its duration in seconds, then the root position and root quaternion
(w, x, y, z), then every further joint in the character's joint order: a quaternion (w, x, y, z)
for a ``spherical`` joint, one angle in radians about the joint's own z axis for a ``revolute``
joint (knees, elbows), nothing for a ``fixed`` joint (wrists). The motion holds no skeleton: that
is in a separate character file ``{"Skeleton": {"Joints": [{"ID", "Name", "Type", "Parent",
"AttachX", "AttachY", "AttachZ", "AttachThetaX", ...}, ...]}, "BodyDefs": [...]}``: each joint
sits at ``Attach`` (metres) in its parent's frame, turned by ``AttachTheta`` (radians, composed
``Rz @ Ry @ Rx``); metres, Y up, the character facing +X with its right side at +Z.

The motion's joints are the character's joints by name plus end points taken from the collision
bodies (``BodyDefs``) of leaf joints, since the skeleton itself stops at the neck and ankles:
``<joint>_end`` is the centre of a sphere body (the head, on ``neck``) or the centre of the front
face of a box body (the tip of the foot, on each ankle). The frame rate is 1 / the median frame
duration (the last frame's duration is 0 in most files and is ignored); uneven durations are
resampled linearly onto that rate.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from motion.data import Motion, MotionError
from motion.fk import axis_rotation, euler_to_matrix, forward_kinematics
from motion.gz import GZIP_MAGIC, inflate, read_head

FORMAT = "deepmimic-json"
# Values each joint type takes per frame (the root, type "none", takes position + quaternion).
PARAMS = {"none": 7, "spherical": 4, "revolute": 1, "fixed": 0}
UNSUPPORTED_TYPES = ("planar", "prismatic")
_UNEVEN_TOLERANCE = 1e-3  # relative spread of frame durations still treated as one rate


def is_motion_document(document: object) -> bool:
    """True for a parsed JSON object that is a DeepMimic motion (has a ``Frames`` key)."""
    return isinstance(document, dict) and "Frames" in document


def is_character_document(document: object) -> bool:
    """True for a parsed JSON object that is a DeepMimic character file (has a ``Skeleton`` key)."""
    return isinstance(document, dict) and "Skeleton" in document


@dataclass(frozen=True)
class EndPoint:
    """A point fixed in a joint's frame, added to the motion as an extra joint."""

    name: str
    joint: int
    offset: tuple[float, float, float]


@dataclass(frozen=True)
class Character:
    """A parsed character: joints in file (ID) order, their types, offsets and attach rotations."""

    names: tuple[str, ...]
    parents: tuple[int, ...]
    types: tuple[str, ...]
    offsets: np.ndarray        # (J, 3) attach points in the parent's frame, metres
    attach_rotations: np.ndarray  # (J, 3, 3)
    end_points: tuple[EndPoint, ...] = ()
    origin: str = ""

    @property
    def values_per_frame(self) -> int:
        """Numbers in one motion frame: the duration plus every joint's parameters."""
        return 1 + sum(PARAMS[t] for t in self.types)

    def layout(self) -> str:
        """The frame layout in words, for error messages."""
        parts = ["1 duration", "7 root position and quaternion"]
        for kind in ("spherical", "revolute"):
            n = sum(t == kind for t in self.types)
            if n:
                parts.append(f"{PARAMS[kind]} per {kind} joint x {n}")
        return " + ".join(parts)


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MotionError(f"{what} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise MotionError(f"{what} is NaN or infinite")
    return float(value)


def _attach_rotation(entry: Mapping[str, Any], what: str) -> np.ndarray:
    theta = [_number(entry.get(f"AttachTheta{axis}", 0.0), f"{what} AttachTheta{axis}") for axis in "ZYX"]
    return euler_to_matrix(np.rad2deg(np.asarray(theta)), "ZYX")


def _end_points(document: Mapping[str, Any], names: Sequence[str], parents: Sequence[int],
                where: str) -> tuple[EndPoint, ...]:
    bodies = document.get("BodyDefs")
    if not isinstance(bodies, list):
        return ()
    has_child = set(parents)
    out = []
    for i, body in enumerate(bodies):
        if not isinstance(body, dict):
            continue
        joint = body.get("ID", i)
        if not isinstance(joint, int) or not 0 <= joint < len(names) or joint in has_child:
            continue
        what = f"{where}: body {body.get('Name', joint)!r}"
        centre = np.array([_number(body.get(f"Attach{a}", 0.0), f"{what} Attach{a}") for a in "XYZ"])
        shape = body.get("Shape")
        if shape == "box":
            length = _number(body.get("Param0", 0.0), f"{what} Param0")
            point = centre + _attach_rotation(body, what) @ np.array([length / 2.0, 0.0, 0.0])
        elif shape == "sphere":
            point = centre
        else:
            continue
        if np.linalg.norm(point) < 1e-6:
            continue  # on the joint itself (the wrists): nothing new
        out.append(EndPoint(f"{names[joint]}_end", joint, (float(point[0]), float(point[1]), float(point[2]))))
    return tuple(out)


def parse_character(document: object, origin: str = "character file") -> Character:
    """A :class:`Character` from a parsed character JSON; ``origin`` names it in errors."""
    if not isinstance(document, dict):
        raise MotionError(f"{origin}: a character file must be a JSON object")
    skeleton = document.get("Skeleton")
    if skeleton is None:
        raise MotionError(f"{origin}: missing 'Skeleton' key: not a DeepMimic character file")
    joints = skeleton.get("Joints") if isinstance(skeleton, dict) else None
    if not isinstance(joints, list) or not joints:
        raise MotionError(f"{origin}: 'Skeleton' must hold a non-empty 'Joints' list")
    entries: list[dict[str, Any]] = []
    for i, joint in enumerate(joints):
        if not isinstance(joint, dict):
            raise MotionError(f"{origin}: joint {i} must be an object")
        for key in ("Name", "Type", "Parent", "AttachX", "AttachY", "AttachZ"):
            if key not in joint:
                raise MotionError(f"{origin}: joint {joint.get('Name', i)!r} lacks the key {key!r}")
        entries.append(joint)
    ids = [j.get("ID", i) for i, j in enumerate(entries)]
    if sorted(ids) != list(range(len(entries))):
        raise MotionError(f"{origin}: joint IDs must be 0 .. {len(entries) - 1} once each, got {ids}")
    entries = [entries[ids.index(k)] for k in range(len(entries))]
    names, parents, types, offsets, rotations = [], [], [], [], []
    for k, joint in enumerate(entries):
        name, kind, parent = joint["Name"], joint["Type"], joint["Parent"]
        what = f"{origin}: joint {name!r}"
        if not isinstance(name, str) or not name:
            raise MotionError(f"{origin}: joint {k} needs a non-empty name")
        if kind in UNSUPPORTED_TYPES:
            raise MotionError(f"{what} has type {kind!r}, which is not supported (only spherical, "
                              f"revolute, fixed and a root of type none)")
        if kind not in PARAMS:
            raise MotionError(f"{what} has unknown type {kind!r} (expected none, spherical, revolute "
                              f"or fixed)")
        if isinstance(parent, bool) or not isinstance(parent, int) or parent >= k or parent < -1:
            raise MotionError(f"{what} has parent {parent!r}: parents must be earlier joints (-1 for "
                              f"the root)")
        if (parent == -1) != (k == 0):
            raise MotionError(f"{what}: the first joint and only it must be the root (parent -1)")
        if (kind == "none") != (k == 0):
            raise MotionError(f"{what} has type {kind!r}: only the root has type 'none', and it must")
        names.append(name)
        parents.append(int(parent))
        types.append(str(kind))
        offsets.append([_number(joint[f"Attach{a}"], f"{what} Attach{a}") for a in "XYZ"])
        rotations.append(_attach_rotation(joint, what))
    if len(set(names)) != len(names):
        raise MotionError(f"{origin}: joint names must be unique")
    ends = _end_points(document, names, parents, origin)
    return Character(tuple(names), tuple(parents), tuple(types), np.asarray(offsets, dtype=np.float64),
                     np.asarray(rotations, dtype=np.float64), ends, origin)


_CACHE: dict[tuple[str, int, int], Character] = {}


def load_character(path: str | Path) -> Character:
    """Read and parse a character file (optionally gzip-compressed); cached by path, size and mtime."""
    path = Path(path)
    try:
        st = path.stat()
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
        if key in _CACHE:
            return _CACHE[key]
        data = path.read_bytes()
    except OSError as exc:
        raise MotionError(f"cannot read the DeepMimic character file {path} "
                          f"({exc.strerror or exc})") from None
    character = parse_character(_json(data, f"character file {path}"), f"character file {path}")
    if len(_CACHE) > 64:
        _CACHE.clear()
    _CACHE[key] = character
    return character


def _json(data: bytes, what: str) -> object:
    if data[:2] == GZIP_MAGIC:
        try:
            data = inflate(data)
        except MotionError as exc:
            raise MotionError(f"{what}: {exc}") from None
    try:
        return json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MotionError(f"{what}: invalid JSON ({exc})") from None


def peek_is_character(path: Path, limit: int = 1 << 20) -> bool:
    """Whether ``path`` is a character JSON: its top-level object has a ``Skeleton`` key."""
    try:
        head = read_head(path, limit)
        if b'"Skeleton"' not in head:
            return False
        return is_character_document(_json(path.read_bytes(), str(path)))
    except (OSError, EOFError, zlib.error, MotionError):
        return False


def _quaternion_matrices(q: np.ndarray, what: str) -> np.ndarray:
    """(T, 3, 3) rotation matrices of (T, 4) quaternions w, x, y, z (normalised here)."""
    norm = np.linalg.norm(q, axis=-1)
    bad = np.flatnonzero(norm < 1e-8)
    if bad.size:
        raise MotionError(f"frame {int(bad[0])}: the {what} quaternion is zero")
    w, x, y, z = (q / norm[:, None]).T
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ], axis=-2)


def _frames(document: Mapping[str, Any], character: Character) -> np.ndarray:
    frames = document.get("Frames")
    if not isinstance(frames, list):
        raise MotionError("'Frames' must be a list of frames")
    if not frames:
        raise MotionError("no frames")
    width = character.values_per_frame
    for i, frame in enumerate(frames):
        if not isinstance(frame, list):
            raise MotionError(f"frame {i} must be a list of numbers")
        if len(frame) != width:
            raise MotionError(f"frame {i} has {len(frame)} values, but the character's joints need "
                              f"{width} ({character.layout()}): is this the right character file?")
    try:
        values = np.asarray(frames, dtype=np.float64)
    except (TypeError, ValueError):
        raise MotionError("'Frames' must hold only numbers") from None
    bad = np.argwhere(~np.isfinite(values))
    if bad.size:
        raise MotionError(f"frame {int(bad[0][0])} holds NaN or infinite values")
    return values


def _frame_times(durations: np.ndarray) -> tuple[float, np.ndarray]:
    """(fps, time of each frame); the last frame's duration only counts for a single frame."""
    steps = durations[:-1] if len(durations) > 1 else durations
    bad = np.flatnonzero(steps <= 0)
    if bad.size:
        raise MotionError(f"frame {int(bad[0])} has duration {steps[bad[0]]:g}: frame durations must "
                          f"be positive")
    fps = 1.0 / float(np.median(steps))
    if fps > 10000:
        raise MotionError(f"frame durations give an implausible frame rate of {fps:g} fps")
    times = np.concatenate([[0.0], np.cumsum(durations[:-1])])
    return fps, times


def _resample(positions: np.ndarray, times: np.ndarray, fps: float) -> np.ndarray:
    n = int(np.floor(times[-1] * fps + 1e-6)) + 1
    grid = np.arange(n) / fps
    flat = positions.reshape(len(times), -1)
    out = np.stack([np.interp(grid, times, flat[:, c]) for c in range(flat.shape[1])], axis=-1)
    return out.reshape((n,) + positions.shape[1:])


def read_deepmimic_document(document: object, character: Character) -> Motion:
    """Build a :class:`Motion` (metres, Y up) from a parsed motion JSON and its character."""
    if not isinstance(document, dict):
        raise MotionError("a DeepMimic motion must be a JSON object")
    if "Frames" not in document:
        raise MotionError("missing 'Frames' key: not a DeepMimic motion")
    values = _frames(document, character)
    n_frames, n_joints = len(values), len(character.names)
    translations = np.broadcast_to(character.offsets, (n_frames, n_joints, 3)).copy()
    translations[:, 0] = values[:, 1:4] + character.offsets[0]
    rotations = np.broadcast_to(character.attach_rotations, (n_frames, n_joints, 3, 3)).copy()
    col = 1
    for j, kind in enumerate(character.types):
        if kind == "none":
            rotations[:, j] = rotations[:, j] @ _quaternion_matrices(values[:, 4:8], "root")
        elif kind == "spherical":
            rotations[:, j] = rotations[:, j] @ _quaternion_matrices(
                values[:, col:col + 4], f"{character.names[j]!r}")
        elif kind == "revolute":
            rotations[:, j] = rotations[:, j] @ axis_rotation("Z", np.rad2deg(values[:, col]))
        col += PARAMS[kind]
    names, parents = list(character.names), list(character.parents)
    for end in character.end_points:
        names.append(end.name)
        parents.append(end.joint)
        translations = np.concatenate(
            [translations, np.broadcast_to(np.asarray(end.offset), (n_frames, 1, 3))], axis=1)
        rotations = np.concatenate([rotations, np.broadcast_to(np.eye(3), (n_frames, 1, 3, 3))], axis=1)
    positions = forward_kinematics(parents, translations, rotations)
    fps, times = _frame_times(values[:, 0])
    uneven = n_frames > 2 and np.ptp(values[:-1, 0]) > _UNEVEN_TOLERANCE * float(np.median(values[:-1, 0]))
    if uneven:
        positions = _resample(positions, times, fps)
    meta: dict[str, object] = {"format": FORMAT, "loop": document.get("Loop"), "character": character.origin,
                               "source_frames": n_frames}
    if uneven:
        meta["resampled"] = True
    return Motion(positions.astype(np.float32), fps, names, parents, meta)


def read_deepmimic_text(text: str, character: Character) -> Motion:
    """Parse DeepMimic motion JSON text; malformed input raises :class:`MotionError`."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MotionError(f"invalid JSON: {exc}") from None
    return read_deepmimic_document(document, character)


CHARACTER_NEEDED = ("DeepMimic motion needs its character file (the JSON with a \"Skeleton\" key): "
                    "put it beside the clip or name it in a sidecar's `character` column")


def _json_files(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir()
                      if p.name.lower().endswith((".json", ".json.gz")) and p.is_file())
    except OSError:
        return []


_FOLDER_CACHE: dict[tuple[str, int], list[Path]] = {}


def characters_in(folder: str | Path) -> list[Path]:
    """The character files (JSON whose top-level object has a ``Skeleton`` key) in ``folder``."""
    folder = Path(folder)
    try:
        key = (str(folder.resolve()), folder.stat().st_mtime_ns)
    except OSError:
        return []
    if key not in _FOLDER_CACHE:
        if len(_FOLDER_CACHE) > 256:
            _FOLDER_CACHE.clear()
        _FOLDER_CACHE[key] = [p for p in _json_files(folder) if peek_is_character(p)]
    return list(_FOLDER_CACHE[key])


def find_character(character: str | Path | None = None, folder: str | Path | None = None) -> Path:
    """The character file for a DeepMimic clip: ``character`` if given (it must exist), else the one
    character file in ``folder`` (the clip's folder). Raises :class:`MotionError` saying what to do
    when there is none or several."""
    if character is not None:
        path = Path(character)
        if not path.is_file():
            raise MotionError(f"the DeepMimic character file {path} named for this clip does not exist")
        return path
    if folder is None:
        raise MotionError(CHARACTER_NEEDED)
    found = characters_in(folder)
    if len(found) == 1:
        return found[0]
    if not found:
        raise MotionError(CHARACTER_NEEDED)
    raise MotionError(f"several DeepMimic character files beside the clip "
                      f"({', '.join(p.name for p in found)}): name the right one in a sidecar's "
                      f"`character` column")
