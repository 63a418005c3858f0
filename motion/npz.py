"""The positions ``.npz`` format: the simplest way to bring any skeleton into dancesearch.

Arrays: ``positions`` float (T, J, 3); ``fps`` scalar; ``joint_names`` (J,) strings; optional
``parents`` (J,) ints (-1 for roots; all -1 if absent). Units and axes are the rig's (see the rig
TOML files); a canonical motion written with :func:`write_npz` carries the canonical joint names and
maps back through the built-in ``canonical`` rig. No pickles are read (``allow_pickle=False``).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from motion.data import Motion, MotionError


def _field(archive: np.lib.npyio.NpzFile, key: str) -> np.ndarray:
    try:
        return archive[key]
    except KeyError:
        raise MotionError(f"missing array {key!r} (need positions, fps, joint_names)") from None
    except ValueError as exc:  # object arrays need pickle, which is refused
        raise MotionError(f"array {key!r} cannot be read safely: {exc}") from None


def read_npz_bytes(data: bytes) -> Motion:
    """Parse the bytes of a positions ``.npz`` into a :class:`Motion`."""
    try:
        archive = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise MotionError(f"not a readable .npz archive ({exc})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise MotionError("not an .npz archive (a single .npy array)")
    with archive:
        try:
            positions = np.asarray(_field(archive, "positions"), dtype=np.float32)
            fps_array = _field(archive, "fps")
            if fps_array.size != 1:
                raise MotionError(f"fps must be one number, got shape {fps_array.shape}")
            fps = float(fps_array.reshape(-1)[0])
            names = [str(n) for n in _field(archive, "joint_names").reshape(-1)]
            parents = ([int(p) for p in archive["parents"].reshape(-1)] if "parents" in archive.files
                       else [-1] * len(names))
        except (TypeError, ValueError, zipfile.BadZipFile, OSError) as exc:
            raise MotionError(f"malformed .npz content ({exc})") from None
    if positions.ndim != 3 or positions.shape[0] == 0:
        raise MotionError(f"positions must be (frames >= 1, joints, 3), got {positions.shape}")
    if not np.isfinite(positions).all():
        raise MotionError("positions hold NaN or infinite values")
    if any(p >= len(names) or p < -1 for p in parents):
        raise MotionError("parents index outside the joint list")
    return Motion(positions, fps, names, parents, {"format": "npz"})


def write_npz(motion: Motion, path: str | Path) -> None:
    """Write ``motion`` as a positions ``.npz`` (compressed) readable by :func:`read_npz_bytes`."""
    np.savez_compressed(path, positions=motion.positions, fps=np.float64(motion.fps),
                        joint_names=np.asarray(motion.joint_names, dtype=str),
                        parents=np.asarray(motion.parents, dtype=np.int64))
