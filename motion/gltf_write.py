"""Writing skeletal animation as glTF 2.0 (``.gltf`` with an embedded or external buffer, or ``.glb``).

The file holds one node per joint (rest translation = the joint's offset, rest rotation identity),
a skin listing the joints (inverse bind matrices from the rest pose, no mesh) and one animation per
:class:`Clip`: a rotation channel (quaternions x y z w, sign-continuous over time) for every joint
with rotations and a translation channel for every joint whose translation moves (the BVH root, and
joints with position channels), keyed at every frame with LINEAR or STEP interpolation. An optional
:class:`Armature` node above the root carries a translation, rotation and scale, the way Blender
exports an armature object (e.g. a scale of 0.01 for a centimetre rig, or a Z-up to Y-up rotation).

Sources: a BVH (:func:`clip_from_bvh_text`, joints and End Sites as in :mod:`motion.bvh`, so
:func:`motion.gltf.read_gltf_bytes` gives back the BVH reader's positions) or a canonical motion
(:func:`write_motion_gltf`, through the BVH solver of :mod:`motion.bvh_write`, in centimetres).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pygltflib

from motion.bvh import BvhSkeleton, local_transforms, parse_hierarchy, parse_motion_block, split_bvh
from motion.bvh_write import bvh_text
from motion.data import Motion, MotionError
from motion.gltf import matrix_to_quaternion, quaternion_to_matrix

__all__ = ["Armature", "Clip", "RigSkeleton", "clip_from_bvh", "clip_from_bvh_text", "gltf_bytes",
           "write_gltf", "write_motion_gltf"]

_FLOAT = 5126


@dataclass
class RigSkeleton:
    """Joints parents first: names, parent indices (-1 for the root) and rest offsets (J, 3)."""

    names: list[str]
    parents: list[int]
    offsets: np.ndarray


@dataclass
class Clip:
    """One animation: local rotations (T, J, 3, 3) and translations (T, J, 3) at ``fps``.

    ``moving``: per joint, whether a translation channel is written (otherwise the rest offset holds);
    ``rotating``: per joint, whether a rotation channel is written.
    """

    name: str
    fps: float
    rotations: np.ndarray
    translations: np.ndarray
    moving: list[bool]
    rotating: list[bool]


@dataclass
class Armature:
    """A transform node above the skeleton root (Blender's armature object)."""

    name: str = "Armature"
    translation: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rotation: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0)  # x y z w
    scale: tuple[float, float, float] = (1.0, 1.0, 1.0)
    extras: dict[str, object] = field(default_factory=dict)


def clip_from_bvh(skeleton: BvhSkeleton, values: np.ndarray, fps: float,
                  name: str = "Take") -> tuple[RigSkeleton, Clip]:
    """Local rotations and translations of every joint, as :func:`motion.bvh.skeleton_positions` uses them."""
    translations, rotations, moving, rotating = local_transforms(skeleton, values)
    offsets = np.asarray(skeleton.offsets, dtype=np.float64).reshape(len(skeleton.names), 3)
    rig = RigSkeleton(list(skeleton.names), list(skeleton.parents), offsets)
    return rig, Clip(name, float(fps), rotations, translations, moving, rotating)


def clip_from_bvh_text(text: str, name: str = "Take") -> tuple[RigSkeleton, Clip]:
    """Parse BVH text (see :mod:`motion.bvh`) into a skeleton and one clip."""
    hierarchy, body = split_bvh(text)
    skeleton = parse_hierarchy(hierarchy)
    values, fps, _ = parse_motion_block(body, skeleton.n_channels)
    return clip_from_bvh(skeleton, values, fps, name)


def _continuous(quats: np.ndarray) -> np.ndarray:
    """Flip quaternion signs (T, J, 4) so consecutive frames are on the same hemisphere."""
    if len(quats) < 2:
        return quats
    flips = np.cumsum(np.sum(quats[1:] * quats[:-1], axis=-1) < 0, axis=0) % 2
    out = quats.copy()
    out[1:] *= np.where(flips == 1, -1.0, 1.0)[..., None]
    return out


class _Blob:
    """The one buffer: each accessor gets its own 4-byte aligned bufferView."""

    def __init__(self, gltf: pygltflib.GLTF2) -> None:
        self.gltf, self.data = gltf, bytearray()

    def add(self, array: np.ndarray, kind: str, bounds: bool = False) -> int:
        flat = np.ascontiguousarray(array, dtype="<f4")
        view = pygltflib.BufferView(buffer=0, byteOffset=len(self.data), byteLength=flat.nbytes)
        self.data += flat.tobytes()
        self.data += b"\x00" * (-len(self.data) % 4)
        self.gltf.bufferViews.append(view)
        count = flat.shape[0]
        rows = flat.reshape(count, -1)
        accessor = pygltflib.Accessor(bufferView=len(self.gltf.bufferViews) - 1, componentType=_FLOAT,
                                      count=count, type=kind)
        if bounds:
            accessor.min = [float(v) for v in rows.min(axis=0)]
            accessor.max = [float(v) for v in rows.max(axis=0)]
        self.gltf.accessors.append(accessor)
        return len(self.gltf.accessors) - 1


def _rest_globals(rig: RigSkeleton, root: np.ndarray) -> np.ndarray:
    out = np.empty((len(rig.names), 4, 4))
    for j, p in enumerate(rig.parents):
        local = np.eye(4)
        local[:3, 3] = rig.offsets[j]
        out[j] = (out[p] if p >= 0 else root) @ local
    return out


def gltf_document(rig: RigSkeleton, clips: Clip | Sequence[Clip], interpolation: str = "LINEAR",
                  armature: Armature | None = None) -> tuple[pygltflib.GLTF2, bytes]:
    """The glTF document (buffer 0 without a uri yet) and the bytes of its one buffer."""
    clips = [clips] if isinstance(clips, Clip) else list(clips)
    if interpolation not in ("LINEAR", "STEP"):
        raise MotionError(f"interpolation must be LINEAR or STEP, got {interpolation!r}")
    if not clips:
        raise MotionError("write_gltf needs at least one clip")
    gltf = pygltflib.GLTF2(asset=pygltflib.Asset(generator="dancesearch motion.gltf_write"))
    blob = _Blob(gltf)
    first = 1 if armature is not None else 0
    root_matrix = np.eye(4)
    if armature is not None:
        gltf.nodes.append(pygltflib.Node(name=armature.name, translation=list(armature.translation),
                                         rotation=list(armature.rotation), scale=list(armature.scale),
                                         extras=dict(armature.extras)))
        root_matrix[:3, :3] = quaternion_to_matrix(np.asarray(armature.rotation, float)) * np.asarray(armature.scale)
        root_matrix[:3, 3] = armature.translation
    for j, name in enumerate(rig.names):
        kids = [first + c for c, p in enumerate(rig.parents) if p == j]
        gltf.nodes.append(pygltflib.Node(name=name, translation=[float(v) for v in rig.offsets[j]],
                                         children=kids))
    roots = [first + j for j, p in enumerate(rig.parents) if p < 0]
    if armature is not None:
        gltf.nodes[0].children = roots
    gltf.scenes = [pygltflib.Scene(name="Scene", nodes=[0] if armature is not None else roots)]
    gltf.scene = 0
    inverse_bind = np.linalg.inv(_rest_globals(rig, root_matrix))
    ibm = blob.add(np.swapaxes(inverse_bind, -1, -2).reshape(len(rig.names), 16), "MAT4")  # column-major
    gltf.skins = [pygltflib.Skin(name="Skeleton", inverseBindMatrices=ibm, skeleton=roots[0],
                                 joints=[first + j for j in range(len(rig.names))])]
    for clip in clips:
        n_frames = clip.rotations.shape[0]
        if clip.rotations.shape[1:] != (len(rig.names), 3, 3) or clip.translations.shape != (n_frames, len(rig.names), 3):
            raise MotionError(f"clip {clip.name!r} does not match the skeleton's {len(rig.names)} joints")
        times = blob.add((np.arange(n_frames) / clip.fps)[:, None], "SCALAR", bounds=True)
        quats = _continuous(matrix_to_quaternion(clip.rotations))
        anim = pygltflib.Animation(name=clip.name)
        for j in range(len(rig.names)):
            for path, wanted, data, kind in (("translation", clip.moving[j], clip.translations[:, j], "VEC3"),
                                             ("rotation", clip.rotating[j], quats[:, j], "VEC4")):
                if not wanted:
                    continue
                anim.samplers.append(pygltflib.AnimationSampler(input=times, output=blob.add(data, kind),
                                                                interpolation=interpolation))
                target = pygltflib.AnimationChannelTarget(node=first + j, path=path)
                anim.channels.append(pygltflib.AnimationChannel(sampler=len(anim.samplers) - 1, target=target))
        gltf.animations.append(anim)
    gltf.buffers = [pygltflib.Buffer(byteLength=len(blob.data))]
    return gltf, bytes(blob.data)


def gltf_bytes(rig: RigSkeleton, clips: Clip | Sequence[Clip], binary: bool = True,
               interpolation: str = "LINEAR", armature: Armature | None = None) -> bytes:
    """The file's bytes: GLB when ``binary``, else glTF JSON with the buffer as a base64 data: URI."""
    gltf, data = gltf_document(rig, clips, interpolation, armature)
    if binary:
        gltf.set_binary_blob(data)
        return b"".join(gltf.save_to_bytes())
    gltf.buffers[0].uri = "data:application/octet-stream;base64," + base64.b64encode(data).decode("ascii")
    return gltf.gltf_to_json().encode("utf-8")


def write_gltf(rig: RigSkeleton, clips: Clip | Sequence[Clip], path: str | Path, interpolation: str = "LINEAR",
               armature: Armature | None = None, external_bin: bool = False) -> None:
    """Write ``.glb`` (binary) or ``.gltf`` (JSON; the buffer embedded, or ``<stem>.bin`` next to it
    with ``external_bin``), chosen by the suffix of ``path``."""
    path = Path(path)
    if path.suffix.lower() == ".glb" or not external_bin:
        path.write_bytes(gltf_bytes(rig, clips, path.suffix.lower() == ".glb", interpolation, armature))
        return
    gltf, data = gltf_document(rig, clips, interpolation, armature)
    bin_path = path.with_suffix(".bin")
    bin_path.write_bytes(data)
    gltf.buffers[0].uri = bin_path.name
    path.write_text(gltf.gltf_to_json(), encoding="utf-8")


def write_motion_gltf(motion: Motion, path: str | Path, name: str = "motion",
                      interpolation: str = "LINEAR") -> None:
    """Write a canonical motion (metres) as glTF on the canonical skeleton, in centimetres under an
    ``Armature`` node scaled by 0.01, so the file's global joint positions are in metres again."""
    rig, clip = clip_from_bvh_text(bvh_text(motion, exact=True), name)
    write_gltf(rig, clip, path, interpolation, Armature(scale=(0.01, 0.01, 0.01)))
