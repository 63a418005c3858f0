"""Rig mappings: TOML files that say how a source skeleton maps onto the canonical one.

A rig file (built-in ones live in ``motion/rigs/``; users drop more into ``DATA_DIR/rigs/`` or
pass ``--rigs DIR``) holds::

    name = "bandai"                 # unique; a user file with a built-in name replaces it
    description = "..."             # optional
    units = "cm"                    # m, cm, mm, inch, or a number: metres per source unit
    up = "y"                        # the source's up axis, "y" or "z" (Z-up is turned to Y-up)
    drop_first_frame = false        # e.g. a leading T-pose
    mirror = false                  # optional: negate X (a left-handed source)
    floor = "none"                  # optional: "rolling" removes slow vertical drift (see canonical)
    require = ["head_end"]          # optional: extra joints that must exist for detection

    [joints]                        # every canonical joint, each one of:
    pelvis = "Hips"                                  # a source joint
    spine = { lerp = ["Hips", "Chest"], t = 0.5 }     # (1 - t) * first + t * second
    chest = { mean = ["Chest2", "Chest3"] }          # average of several joints
    neck = { weights = { j2 = 0.2, j3 = 0.4, j12 = 0.4 } }   # weighted sum (weights sum to 1)

Detection (:func:`detect_rig`) picks the rig all of whose referenced joints the motion has (the one
referencing most joints if several fit).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from motion.data import MotionError
from motion.skeleton import JOINTS

UNITS = {"m": 1.0, "cm": 0.01, "mm": 0.001, "inch": 0.0254}


class RigError(MotionError):
    """A rig TOML file that is malformed; the message names the file."""


@dataclass(frozen=True)
class JointSource:
    """How one canonical joint is computed: ``weights[k]`` times source joint ``names[k]``, summed."""

    names: tuple[str, ...]
    weights: tuple[float, ...]


@dataclass(frozen=True)
class Rig:
    """One parsed rig mapping (see the module docstring for the file format)."""

    name: str
    scale: float
    up: str
    drop_first_frame: bool
    mirror: bool
    joints: dict[str, JointSource]
    require: tuple[str, ...] = ()
    floor: str = "none"
    description: str = ""
    origin: str = ""

    @property
    def referenced(self) -> set[str]:
        """Every source joint name this rig needs."""
        return {n for source in self.joints.values() for n in source.names} | set(self.require)

    def apply(self, positions: np.ndarray, joint_names: Sequence[str]) -> np.ndarray:
        """Map (T, J, 3) source positions to (T, 19, 3) canonical joints in metres, Y up."""
        index = {n: i for i, n in enumerate(joint_names)}
        missing = sorted(self.referenced - index.keys())
        if missing:
            raise MotionError(f"rig {self.name!r} needs joints the motion lacks: {', '.join(missing)}")
        src = np.asarray(positions, dtype=np.float64)
        out = np.zeros((src.shape[0], len(JOINTS), 3))
        for j, joint in enumerate(JOINTS):
            source = self.joints[joint]
            for name, weight in zip(source.names, source.weights, strict=True):
                out[:, j] += weight * src[:, index[name]]
        out *= self.scale
        if self.up == "z":
            out = np.stack([out[..., 0], out[..., 2], -out[..., 1]], axis=-1)
        if self.mirror:
            out[..., 0] = -out[..., 0]
        return out


def _joint_source(value: object, joint: str, origin: str) -> JointSource:
    if isinstance(value, str):
        return JointSource((value,), (1.0,))
    if isinstance(value, dict) and set(value) <= {"lerp", "t"} and "lerp" in value:
        pair, t = value["lerp"], value.get("t", 0.5)
        if (isinstance(pair, list) and len(pair) == 2 and all(isinstance(n, str) for n in pair)
                and isinstance(t, int | float)):
            return JointSource((pair[0], pair[1]), (1.0 - float(t), float(t)))
    if isinstance(value, dict) and set(value) == {"weights"} and isinstance(value["weights"], dict):
        weights = value["weights"]
        if weights and all(isinstance(w, int | float) and not isinstance(w, bool) for w in weights.values()):
            if abs(sum(weights.values()) - 1.0) > 1e-6:
                raise RigError(f"{origin}: weights of joint {joint!r} must sum to 1")
            return JointSource(tuple(weights), tuple(float(w) for w in weights.values()))
    if isinstance(value, dict) and set(value) == {"mean"}:
        names = value["mean"]
        if isinstance(names, list) and names and all(isinstance(n, str) for n in names):
            return JointSource(tuple(names), tuple(1.0 / len(names) for _ in names))
    raise RigError(f"{origin}: joint {joint!r} must be a joint name, {{lerp = [a, b], t = x}}, "
                   f"{{mean = [...]}} or {{weights = {{a = w, ...}}}}, got {value!r}")


def _scale(units: object, origin: str) -> float:
    if isinstance(units, str) and units in UNITS:
        return UNITS[units]
    if isinstance(units, int | float) and not isinstance(units, bool) and units > 0:
        return float(units)
    raise RigError(f"{origin}: units must be one of {', '.join(UNITS)} or a positive number, got {units!r}")


def parse_rig(document: dict[str, object], origin: str) -> Rig:
    """Build a :class:`Rig` from a parsed TOML document; ``origin`` names it in errors."""
    name, up, joints = document.get("name"), document.get("up", "y"), document.get("joints")
    if not isinstance(name, str) or not name:
        raise RigError(f"{origin}: 'name' must be a non-empty string")
    if up not in ("y", "z"):
        raise RigError(f"{origin}: 'up' must be \"y\" or \"z\", got {up!r}")
    if not isinstance(joints, dict):
        raise RigError(f"{origin}: missing [joints] table")
    unknown, missing = sorted(set(joints) - set(JOINTS)), [j for j in JOINTS if j not in joints]
    if unknown or missing:
        raise RigError(f"{origin}: [joints] must list exactly the canonical joints "
                       f"(unknown: {unknown or 'none'}; missing: {missing or 'none'})")
    require = document.get("require", [])
    if not isinstance(require, list) or not all(isinstance(r, str) for r in require):
        raise RigError(f"{origin}: 'require' must be a list of joint names")
    floor = document.get("floor", "none")
    if floor not in ("none", "rolling"):
        raise RigError(f"{origin}: 'floor' must be \"none\" or \"rolling\", got {floor!r}")
    flags = {k: document.get(k, False) for k in ("drop_first_frame", "mirror")}
    if not all(isinstance(v, bool) for v in flags.values()):
        raise RigError(f"{origin}: drop_first_frame and mirror must be true or false")
    return Rig(name=name, scale=_scale(document.get("units", "m"), origin), up=str(up),
               drop_first_frame=bool(flags["drop_first_frame"]), mirror=bool(flags["mirror"]),
               joints={j: _joint_source(joints[j], j, origin) for j in JOINTS},
               require=tuple(require), floor=str(floor), description=str(document.get("description", "")), origin=origin)


def _load_file(text: str, origin: str) -> Rig:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RigError(f"{origin}: invalid TOML ({exc})") from None
    return parse_rig(document, origin)


def builtin_rigs() -> list[Rig]:
    """The rigs shipped in ``motion/rigs/*.toml``."""
    folder = resources.files("motion") / "rigs"
    return [_load_file(f.read_text(encoding="utf-8"), f"motion/rigs/{f.name}")
            for f in sorted(folder.iterdir(), key=lambda f: f.name) if f.name.endswith(".toml")]


def load_rigs(extra_dirs: Iterable[str | Path] = ()) -> list[Rig]:
    """Built-in rigs plus every ``*.toml`` in ``extra_dirs`` (later files replace same-named rigs).

    Missing directories are skipped; malformed files raise :class:`RigError`.
    """
    rigs = {rig.name: rig for rig in builtin_rigs()}
    for folder in extra_dirs:
        folder = Path(folder)
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            rig = _load_file(path.read_text(encoding="utf-8"), str(path))
            rigs[rig.name] = rig
    return list(rigs.values())


def find_rig(joint_names: Sequence[str], rigs: Sequence[Rig]) -> Rig | None:
    """The rig file whose referenced joints all exist in ``joint_names`` (most specific first), or None."""
    present = set(joint_names)
    fitting = [r for r in rigs if r.referenced <= present]
    return max(fitting, key=lambda r: (len(r.referenced), r.name)) if fitting else None


def detect_rig(joint_names: Sequence[str], rigs: Sequence[Rig]) -> Rig:
    """The rig whose referenced joints all exist in ``joint_names`` (most specific first).

    Raises :class:`MotionError` naming the closest rig and the joints it missed when none fits.
    """
    present = set(joint_names)
    fitting = [r for r in rigs if r.referenced <= present]
    if fitting:
        return max(fitting, key=lambda r: (len(r.referenced), r.name))
    if not rigs:
        raise MotionError("no rig mappings are loaded")
    closest = min(rigs, key=lambda r: (len(r.referenced - present) / len(r.referenced), r.name))
    missing = sorted(closest.referenced - present)
    shown = ", ".join(missing[:12]) + (f" and {len(missing) - 12} more" if len(missing) > 12 else "")
    raise MotionError(f"no rig mapping fits this skeleton of {len(present)} joints; the closest is "
                      f"{closest.name!r}, which needs joints that are missing: {shown}")
