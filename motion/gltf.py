"""glTF 2.0 / GLB skeletal animation reading (Rokoko, Uthana, Kinetix, Blender and three.js exports).

Containers: ``.glb`` (binary: header, JSON chunk, BIN chunk, every length checked) and ``.gltf``
(JSON) whose buffers are embedded as ``data:`` URIs or, when the file is loaded from a path,
external files next to it (relative URIs only; nothing outside the file's folder is opened). The
JSON is decoded into :mod:`pygltflib`'s data model; accessors are read here with NumPy and every
index, offset, stride and count is checked against the data, so a broken file raises
:class:`motion.data.MotionError` instead of reading garbage.

Skeleton: the joints of the first skin, or, in a file without skins, the animated nodes and the
nodes below them (unanimated mesh and camera nodes excluded). Joints are ordered parents first (a
depth-first walk of the node tree in file order) and each joint's parent is its nearest ancestor
that is also a joint. Joint names are the node names (``node<i>`` when unnamed; repeated names get
``.1``, ``.2``, ...).

Transforms: every node's local transform is translation * rotation * scale (or its ``matrix``);
global transforms compose the whole node tree, so parents of the skeleton root that carry
transforms - e.g. Blender's ``Armature`` node with a scale of 0.01 or a Z-up to Y-up rotation - are
applied. Positions are the joints' global positions, in the file's units and axes (glTF says
metres, Y up, but what matters is what the exporter wrote), computed for all frames at once.

Animation: one animation becomes the clip. By default it is the longest one (ties: the first in
the file); ``animation=`` picks one by index or name. ``meta["animations"]`` lists every animation's
name so callers can load the others. Channels (translation, rotation quaternions x y z w, scale;
morph-target weights are ignored) are sampled on one uniform time grid: the frame rate is 1 / the
median interval between the distinct keyframe times of the clip (snapped to a whole number when
within 0.01 of one, as for BVH), so baked exports are sampled exactly at their keyframes; when keys
are sparser than ``MIN_KEY_FPS`` (hand-keyed animation) the clip is sampled at ``DEFAULT_FPS``
instead. The grid runs from the first to the last keyframe time of the clip. Interpolation follows
each sampler: LINEAR (slerp for rotations), STEP (the value of the last key at or before the time)
and CUBICSPLINE (cubic Hermite with the file's tangents; rotations renormalised). Before its first
key a channel holds its first value, after its last key its last value.

meta: ``format`` "gltf", ``container`` ("glb" or "gltf"), ``animation`` (name), ``animation_index``,
``animations`` (all names), ``durations`` (seconds, per animation), ``skin`` (name, or None when the
node tree was used), ``start_time`` (seconds of the first frame) and ``keyframes`` (distinct key times).
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pygltflib

from motion.data import Motion, MotionError

GLB_MAGIC = b"glTF"
MIN_KEY_FPS = 10.0
DEFAULT_FPS = 30.0
MAX_FPS = 1000.0
MAX_SAMPLES = 20_000_000  # frames x nodes evaluated; bounds memory on absurd time ranges
_CHUNK_JSON, _CHUNK_BIN = 0x4E4F534A, 0x004E4942
_COMPONENTS = {5120: "<i1", 5121: "<u1", 5122: "<i2", 5123: "<u2", 5125: "<u4", 5126: "<f4"}
_NORMALIZE = {5120: 127.0, 5121: 255.0, 5122: 32767.0, 5123: 65535.0}
_TYPE_SIZES = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT2": 4, "MAT3": 9, "MAT4": 16}
_PATH_SIZES = {"translation": 3, "rotation": 4, "scale": 3}
_INTERPOLATIONS = ("LINEAR", "STEP", "CUBICSPLINE")

__all__ = ["read_gltf_bytes", "quaternion_to_matrix", "matrix_to_quaternion", "slerp"]


# --- quaternions (x, y, z, w), vectorised -------------------------------------------------------

def quaternion_to_matrix(quat: np.ndarray) -> np.ndarray:
    """(..., 4) unit quaternions (x, y, z, w) -> (..., 3, 3) rotation matrices (column vectors)."""
    q = np.asarray(quat, dtype=np.float64)
    x, y, z, w = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    out = np.empty(q.shape[:-1] + (3, 3))
    out[..., 0, 0] = 1 - 2 * (y * y + z * z)
    out[..., 0, 1] = 2 * (x * y - z * w)
    out[..., 0, 2] = 2 * (x * z + y * w)
    out[..., 1, 0] = 2 * (x * y + z * w)
    out[..., 1, 1] = 1 - 2 * (x * x + z * z)
    out[..., 1, 2] = 2 * (y * z - x * w)
    out[..., 2, 0] = 2 * (x * z - y * w)
    out[..., 2, 1] = 2 * (y * z + x * w)
    out[..., 2, 2] = 1 - 2 * (x * x + y * y)
    return out


def matrix_to_quaternion(matrices: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 4) unit quaternions (x, y, z, w) with w >= 0."""
    m = np.asarray(matrices, dtype=np.float64)
    trace = m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    # Four candidate magnitudes (Shepperd): use the largest for numerical stability.
    cand = np.stack([1 + 2 * m[..., 0, 0] - trace, 1 + 2 * m[..., 1, 1] - trace,
                     1 + 2 * m[..., 2, 2] - trace, 1 + trace], axis=-1)
    best = np.argmax(cand, axis=-1)
    root = np.sqrt(np.maximum(np.take_along_axis(cand, best[..., None], axis=-1)[..., 0], 1e-300))
    s = 0.5 / root
    q = np.empty(m.shape[:-2] + (4,))
    options = [
        (0.5 * root, (m[..., 0, 1] + m[..., 1, 0]) * s, (m[..., 0, 2] + m[..., 2, 0]) * s,
         (m[..., 2, 1] - m[..., 1, 2]) * s),
        ((m[..., 0, 1] + m[..., 1, 0]) * s, 0.5 * root, (m[..., 1, 2] + m[..., 2, 1]) * s,
         (m[..., 0, 2] - m[..., 2, 0]) * s),
        ((m[..., 0, 2] + m[..., 2, 0]) * s, (m[..., 1, 2] + m[..., 2, 1]) * s, 0.5 * root,
         (m[..., 1, 0] - m[..., 0, 1]) * s),
        ((m[..., 2, 1] - m[..., 1, 2]) * s, (m[..., 0, 2] - m[..., 2, 0]) * s,
         (m[..., 1, 0] - m[..., 0, 1]) * s, 0.5 * root),
    ]
    for k, comps in enumerate(options):
        pick = best == k
        for c in range(4):
            q[..., c] = np.where(pick, comps[c], q[..., c]) if k else comps[c]
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    return np.where(q[..., 3:] < 0, -q, q)


def slerp(q0: np.ndarray, q1: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Spherical interpolation (shortest path) between unit quaternions (..., 4) at fractions s (...)."""
    dot = np.sum(q0 * q1, axis=-1)
    q1 = np.where(dot[..., None] < 0, -q1, q1)
    dot = np.abs(dot)
    theta = np.arccos(np.clip(dot, -1.0, 1.0))
    sin = np.sin(theta)
    near = sin < 1e-6
    safe = np.where(near, 1.0, sin)
    w0 = np.where(near, 1.0 - s, np.sin((1.0 - s) * theta) / safe)
    w1 = np.where(near, s, np.sin(s * theta) / safe)
    out = w0[..., None] * q0 + w1[..., None] * q1
    return out / np.linalg.norm(out, axis=-1, keepdims=True)


# --- container and buffers ----------------------------------------------------------------------

def _split_glb(data: bytes) -> tuple[bytes, bytes | None]:
    """(JSON chunk, BIN chunk or None) of a GLB file, every length checked."""
    if len(data) < 20:
        raise MotionError(f"truncated GLB: {len(data)} bytes, not even a header and a chunk header")
    _, version, length = struct.unpack_from("<4sII", data, 0)
    if version != 2:
        raise MotionError(f"GLB version {version} is not supported (need glTF 2.0)")
    if length > len(data):
        raise MotionError(f"truncated GLB: the header says {length} bytes but the file has {len(data)}")
    offset, json_chunk, bin_chunk = 12, None, None
    while offset < length:
        if offset + 8 > length:
            raise MotionError(f"truncated GLB: chunk header at byte {offset} is cut off")
        chunk_length, chunk_type = struct.unpack_from("<II", data, offset)
        start, end = offset + 8, offset + 8 + chunk_length
        if end > length:
            raise MotionError(f"truncated GLB: a chunk of {chunk_length} bytes at byte {offset} runs past "
                              f"the end of the file ({length} bytes)")
        if json_chunk is None:
            if chunk_type != _CHUNK_JSON:
                raise MotionError("malformed GLB: the first chunk is not the JSON chunk")
            json_chunk = data[start:end]
        elif chunk_type == _CHUNK_BIN and bin_chunk is None:
            bin_chunk = data[start:end]
        offset = end
    if json_chunk is None:
        raise MotionError("malformed GLB: no JSON chunk")
    return json_chunk, bin_chunk


def _parse_json(text: bytes) -> pygltflib.GLTF2:
    try:
        document = json.loads(text.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MotionError(f"invalid glTF JSON ({exc})") from None
    if not isinstance(document, dict) or not isinstance(document.get("asset"), dict):
        raise MotionError("not a glTF file: the JSON has no 'asset' object")
    version = str(document["asset"].get("version", ""))
    if not version.startswith("2."):
        raise MotionError(f"glTF version {version or '(missing)'} is not supported (need 2.0)")
    for key in ("nodes", "skins", "animations", "accessors", "bufferViews", "buffers"):
        if not isinstance(document.get(key, []), list):
            raise MotionError(f"malformed glTF: '{key}' must be a list")
    try:
        return pygltflib.GLTF2.from_json(json.dumps(document), infer_missing=True)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise MotionError(f"malformed glTF JSON ({type(exc).__name__}: {exc})") from None


@dataclass
class _Buffers:
    """Buffer bytes, loaded on first use."""

    gltf: pygltflib.GLTF2
    glb_bin: bytes | None
    base_dir: Path | None
    max_bytes: int | None

    def __post_init__(self) -> None:
        self.cache: dict[int, bytes] = {}

    def get(self, index: int) -> bytes:
        if index in self.cache:
            return self.cache[index]
        buffers = self.gltf.buffers
        if not isinstance(index, int) or not 0 <= index < len(buffers):
            raise MotionError(f"bad buffer index {index!r} ({len(buffers)} buffers)")
        buffer = buffers[index]
        uri = buffer.uri
        if uri is None:
            if self.glb_bin is None or index != 0:
                raise MotionError(f"buffer {index} has no uri and there is no GLB binary chunk for it")
            data = self.glb_bin
        elif not isinstance(uri, str):
            raise MotionError(f"buffer {index} has a bad uri")
        elif uri.startswith("data:"):
            data = _data_uri(uri, index)
        else:
            data = self._external(uri, index)
        length = buffer.byteLength
        if not isinstance(length, int) or length < 0:
            raise MotionError(f"buffer {index} has a bad byteLength {length!r}")
        if len(data) < length:
            raise MotionError(f"buffer {index} is truncated: byteLength {length} but {len(data)} bytes")
        self.cache[index] = data
        return data

    def _external(self, uri: str, index: int) -> bytes:
        name = urllib.parse.unquote(uri)
        if self.base_dir is None:
            raise MotionError(f"buffer {index} is an external file {name!r}, which cannot be read here "
                              "(upload a .glb or a .gltf with embedded buffers)")
        if "://" in name or Path(name).is_absolute():
            raise MotionError(f"buffer {index} points outside the file's folder: {name!r}")
        base = self.base_dir.resolve()
        path = (base / name).resolve()
        if base not in path.parents:
            raise MotionError(f"buffer {index} points outside the file's folder: {name!r}")
        try:
            size = path.stat().st_size
            if self.max_bytes is not None and size > self.max_bytes:
                raise MotionError(f"buffer file {name!r} is larger than the limit of {self.max_bytes} bytes")
            return path.read_bytes()
        except OSError as exc:
            raise MotionError(f"cannot read buffer file {name!r} ({exc.strerror or exc})") from None


def _data_uri(uri: str, index: int) -> bytes:
    head, sep, payload = uri.partition(",")
    if not sep or not head.endswith(";base64"):
        raise MotionError(f"buffer {index}: only base64 data: URIs are supported")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MotionError(f"buffer {index}: bad base64 data ({exc})") from None


def _index(value: Any, count: int, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < count:
        raise MotionError(f"bad {what} index {value!r} (the file has {count})")
    return value


def _view_array(buffers: _Buffers, view_index: Any, offset: Any, count: int, n_comp: int,
                component: int, what: str) -> np.ndarray:
    gltf = buffers.gltf
    view = gltf.bufferViews[_index(view_index, len(gltf.bufferViews), f"{what} bufferView")]
    data = buffers.get(view.buffer)  # type: ignore[arg-type]
    view_offset, view_length = view.byteOffset or 0, view.byteLength
    if not isinstance(view_length, int) or not isinstance(view_offset, int) or view_offset < 0 or view_length < 0:
        raise MotionError(f"{what}: bufferView {view_index} has a bad byteOffset or byteLength")
    if view_offset + view_length > len(data):
        raise MotionError(f"{what}: bufferView {view_index} runs past the end of buffer {view.buffer} "
                          f"({view_offset} + {view_length} > {len(data)} bytes)")
    dtype = np.dtype(_COMPONENTS[component])
    element = dtype.itemsize * n_comp
    stride = view.byteStride or element
    if not isinstance(offset, int) or offset < 0 or not isinstance(stride, int) or stride < element:
        raise MotionError(f"{what}: bad byteOffset {offset!r} or byteStride {stride!r}")
    needed = offset + (count - 1) * stride + element
    if needed > view_length:
        raise MotionError(f"{what}: {count} elements need {needed} bytes but bufferView {view_index} "
                          f"has {view_length}")
    chunk = data[view_offset:view_offset + view_length]
    return np.ndarray((count, n_comp), dtype=dtype, buffer=chunk, offset=offset,
                      strides=(stride, dtype.itemsize)).astype(np.float64)


def _accessor(buffers: _Buffers, index: Any, what: str) -> np.ndarray:
    """Accessor ``index`` as a (count, components) float64 array (normalised integers scaled)."""
    gltf = buffers.gltf
    acc = gltf.accessors[_index(index, len(gltf.accessors), f"{what} accessor")]
    what = f"{what} accessor {index}"
    component, kind, count = acc.componentType, acc.type, acc.count
    if component not in _COMPONENTS or kind not in _TYPE_SIZES:
        raise MotionError(f"{what}: bad componentType {component!r} or type {kind!r}")
    if not isinstance(count, int) or count < 1:
        raise MotionError(f"{what}: bad count {count!r}")
    n_comp = _TYPE_SIZES[kind]
    if acc.bufferView is None:
        values = np.zeros((count, n_comp))
    else:
        values = _view_array(buffers, acc.bufferView, acc.byteOffset or 0, count, n_comp, component, what)
    if acc.sparse is not None:
        values = _apply_sparse(buffers, acc.sparse, values, n_comp, component, what)
    if acc.normalized and component in _NORMALIZE:
        values = np.maximum(values / _NORMALIZE[component], -1.0)
    return values


def _apply_sparse(buffers: _Buffers, sparse: Any, values: np.ndarray, n_comp: int, component: int,
                  what: str) -> np.ndarray:
    try:
        n, idx, val = int(sparse.count), sparse.indices, sparse.values
        if isinstance(idx, dict):
            idx = pygltflib.AccessorSparseIndices(**idx)
        if isinstance(val, dict):
            val = pygltflib.AccessorSparseValues(**val)
        index_type = int(idx.componentType)
    except (TypeError, ValueError, AttributeError):
        raise MotionError(f"{what}: malformed sparse section") from None
    if n < 1 or n > len(values) or index_type not in (5121, 5123, 5125):
        raise MotionError(f"{what}: bad sparse count {n} or index type {index_type}")
    rows = _view_array(buffers, idx.bufferView, idx.byteOffset or 0, n, 1, index_type, f"{what} sparse")
    new = _view_array(buffers, val.bufferView, val.byteOffset or 0, n, n_comp, component, f"{what} sparse")
    rows_int = rows[:, 0].astype(np.int64)
    if rows_int.max() >= len(values):
        raise MotionError(f"{what}: sparse index {rows_int.max()} is past the {len(values)} elements")
    values = values.copy()
    values[rows_int] = new
    return values


# --- nodes --------------------------------------------------------------------------------------

def _vector(value: Any, size: int, default: tuple[float, ...], what: str) -> np.ndarray:
    if value is None:
        return np.asarray(default, dtype=np.float64)
    try:
        out = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise MotionError(f"{what} must be {size} numbers") from None
    if out.shape != (size,) or not np.isfinite(out).all():
        raise MotionError(f"{what} must be {size} finite numbers, got {value!r}"[:200])
    return out


def _node_parents(gltf: pygltflib.GLTF2) -> list[int]:
    n = len(gltf.nodes)
    parents = [-1] * n
    for i, node in enumerate(gltf.nodes):
        children = node.children or []
        if not isinstance(children, list):
            raise MotionError(f"node {i}: 'children' must be a list")
        for child in children:
            _index(child, n, f"node {i} child node")
            if parents[child] >= 0 or child == i:
                raise MotionError(f"malformed node tree: node {child} has more than one parent")
            parents[child] = i
    return parents


def _walk_order(gltf: pygltflib.GLTF2, parents: list[int]) -> list[int]:
    """All nodes, depth first in file order, parents before children; a cycle is an error."""
    order: list[int] = []
    for root in (i for i, p in enumerate(parents) if p < 0):
        stack = [root]
        while stack:
            node = stack.pop()
            order.append(node)
            stack.extend(reversed(gltf.nodes[node].children or []))
    if len(order) != len(parents):
        raise MotionError("malformed node tree: the node hierarchy has a cycle")
    return order


def _node_name(gltf: pygltflib.GLTF2, index: int) -> str:
    name = gltf.nodes[index].name
    return name.strip() if isinstance(name, str) and name.strip() else f"node{index}"


@dataclass
class _Local:
    """A node's local transform over frames: translation (F|1, 3), linear part (F|1, 3, 3)."""

    translation: np.ndarray
    linear: np.ndarray


def _rest(gltf: pygltflib.GLTF2, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """(translation, rotation quaternion, scale, matrix or None) of a node at rest."""
    node = gltf.nodes[index]
    what = f"node {index} ({_node_name(gltf, index)!r})"
    matrix = None
    if node.matrix is not None:
        matrix = _vector(node.matrix, 16, (), f"{what} matrix").reshape(4, 4).T  # column-major
    t = _vector(node.translation, 3, (0.0, 0.0, 0.0), f"{what} translation")
    r = _vector(node.rotation, 4, (0.0, 0.0, 0.0, 1.0), f"{what} rotation")
    s = _vector(node.scale, 3, (1.0, 1.0, 1.0), f"{what} scale")
    norm = np.linalg.norm(r)
    if norm < 1e-8:
        raise MotionError(f"{what} rotation is a zero quaternion")
    return t, r / norm, s, matrix


def _decompose(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Translation, rotation quaternion and scale of an affine 4x4 matrix (for animated matrix nodes)."""
    linear = matrix[:3, :3]
    scale = np.linalg.norm(linear, axis=0)
    if np.linalg.det(linear) < 0:
        scale[0] = -scale[0]
    rot = linear / np.where(np.abs(scale) > 1e-12, scale, 1.0)
    return matrix[:3, 3].copy(), matrix_to_quaternion(rot), scale


# --- animation sampling -------------------------------------------------------------------------

@dataclass
class _Channel:
    node: int
    path: str
    times: np.ndarray
    values: np.ndarray  # (keys, C) or (keys, 3, C) for CUBICSPLINE
    mode: str


def _animation_name(gltf: pygltflib.GLTF2, index: int) -> str:
    name = gltf.animations[index].name
    return name if isinstance(name, str) and name else f"animation{index}"


def _channels(gltf: pygltflib.GLTF2, buffers: _Buffers, index: int) -> list[_Channel]:
    anim = gltf.animations[index]
    label = f"animation {_animation_name(gltf, index)!r}"
    out: list[_Channel] = []
    seen: set[tuple[int, str]] = set()
    samplers = anim.samplers or []
    for c, channel in enumerate(anim.channels or []):
        target = channel.target
        if isinstance(target, dict):
            target = pygltflib.AnimationChannelTarget(**target)
        path = getattr(target, "path", None)
        node = getattr(target, "node", None)
        if path not in _PATH_SIZES or node is None:
            continue  # morph weights, or an extension's target (KHR_animation_pointer)
        node = _index(node, len(gltf.nodes), f"{label} channel {c} target node")
        if (node, path) in seen:
            continue  # the spec forbids two channels on one property; the first one wins
        seen.add((node, path))
        sampler = samplers[_index(channel.sampler, len(samplers), f"{label} channel {c} sampler")]
        if isinstance(sampler, dict):
            sampler = pygltflib.AnimationSampler(**sampler)
        mode = sampler.interpolation or "LINEAR"
        if mode not in _INTERPOLATIONS:
            raise MotionError(f"{label} channel {c}: unknown interpolation {mode!r}")
        what = f"{label} channel {c} ({path} of node {_node_name(gltf, node)!r})"
        times = _accessor(buffers, sampler.input, f"{what} input")
        values = _accessor(buffers, sampler.output, f"{what} output")
        if times.shape[1] != 1:
            raise MotionError(f"{what}: keyframe times must be SCALAR")
        times = times[:, 0]
        size = _PATH_SIZES[path]
        per_key = 3 if mode == "CUBICSPLINE" else 1
        if values.shape[1] != size or len(values) != per_key * len(times):
            raise MotionError(f"{what}: {len(times)} keyframe times need {per_key * len(times)} "
                              f"{'VEC4' if size == 4 else 'VEC3'} values, got {len(values)} of "
                              f"{values.shape[1]} components")
        if not (np.isfinite(times).all() and np.isfinite(values).all()):
            raise MotionError(f"{what} holds NaN or infinite values")
        if np.any(np.diff(times) < 0):
            raise MotionError(f"{what}: keyframe times are not increasing")
        if path == "rotation":
            norms = np.linalg.norm(values if per_key == 1 else values.reshape(-1, 3, 4)[:, 1], axis=-1)
            if np.any(norms < 1e-8):
                raise MotionError(f"{what} holds a zero quaternion")
        if per_key == 3:
            values = values.reshape(len(times), 3, size)
        out.append(_Channel(node, path, times, values, mode))
    return out


def _sample(channel: _Channel, grid: np.ndarray, eps: float) -> np.ndarray:
    """Values (F, C) of one channel at the grid times."""
    times, mode, rotation = channel.times, channel.mode, channel.path == "rotation"
    values = channel.values[:, 1] if mode == "CUBICSPLINE" else channel.values
    if rotation:
        values = values / np.linalg.norm(values, axis=-1, keepdims=True)
    n = len(times)
    k = np.clip(np.searchsorted(times, grid + eps, side="right") - 1, 0, n - 1)
    if mode == "STEP" or n == 1:
        return values[k]
    k1 = np.minimum(k + 1, n - 1)
    dt = times[k1] - times[k]
    s = np.clip((grid - times[k]) / np.where(dt > 0, dt, 1.0), 0.0, 1.0)
    s = np.where(dt > 0, s, 0.0)
    if mode == "LINEAR":
        if rotation:
            return slerp(values[k], values[k1], s)
        return values[k] + s[:, None] * (values[k1] - values[k])
    s2, s3 = s * s, s * s * s
    d = dt[:, None]
    out = ((2 * s3 - 3 * s2 + 1)[:, None] * values[k] + (s3 - 2 * s2 + s)[:, None] * d * channel.values[k, 2]
           + (-2 * s3 + 3 * s2)[:, None] * values[k1] + (s3 - s2)[:, None] * d * channel.values[k1, 0])
    if rotation:
        norm = np.linalg.norm(out, axis=-1, keepdims=True)
        out = out / np.where(norm > 1e-12, norm, 1.0)
    return out


def _time_grid(channels: list[_Channel]) -> tuple[np.ndarray, float, int]:
    """(sample times, fps, number of distinct keyframe times) for the clip's channels."""
    keys = np.unique(np.concatenate([c.times for c in channels]).round(6))
    if len(keys) == 1:
        return keys.copy(), DEFAULT_FPS, 1
    step = float(np.median(np.diff(keys)))
    fps = 1.0 / step
    if abs(fps - round(fps)) < 0.01:
        fps = float(round(fps))
    if fps < MIN_KEY_FPS:
        fps = DEFAULT_FPS
    if fps > MAX_FPS:
        raise MotionError(f"keyframes are {step:.3g} s apart: a frame rate above {MAX_FPS:g} fps is not supported")
    n_frames = int(round((keys[-1] - keys[0]) * fps)) + 1
    return keys[0] + np.arange(n_frames) / fps, fps, len(keys)


# --- the reader ---------------------------------------------------------------------------------

def _pick_animation(gltf: pygltflib.GLTF2, buffers: _Buffers, animation: int | str | None,
                    ) -> tuple[int, list[float]]:
    names = [_animation_name(gltf, i) for i in range(len(gltf.animations))]
    durations = []
    for i in range(len(gltf.animations)):
        spans = [(c.times[0], c.times[-1]) for c in _channels(gltf, buffers, i)]
        durations.append(float(max(e for _, e in spans) - min(s for s, _ in spans)) if spans else 0.0)
    if animation is None:
        return int(np.argmax(durations)), durations  # argmax: the first of equal maxima
    if isinstance(animation, int) and not isinstance(animation, bool):
        if not 0 <= animation < len(names):
            raise MotionError(f"no animation {animation}: the file has {len(names)} ({', '.join(names)})")
        return animation, durations
    if animation in names:
        return names.index(animation), durations
    raise MotionError(f"no animation named {animation!r}: the file has {', '.join(map(repr, names))}")


def _joints(gltf: pygltflib.GLTF2, parents: list[int], order: list[int],
            channels: list[_Channel]) -> tuple[list[int], str | None]:
    """Joint node indices (parents first) and the skin's name (None when the node tree is used)."""
    rank = {node: i for i, node in enumerate(order)}
    if gltf.skins:
        skin = gltf.skins[0]
        joints = skin.joints or []
        if not isinstance(joints, list) or not joints:
            raise MotionError("the first skin has no joints")
        for j in joints:
            _index(j, len(gltf.nodes), "skin joint node")
        if len(set(joints)) != len(joints):
            raise MotionError("the first skin lists a joint twice")
        name = skin.name if isinstance(skin.name, str) and skin.name else "skin0"
        return sorted(joints, key=rank.__getitem__), name
    animated = {c.node for c in channels}
    chosen: set[int] = set()
    for node in order:  # parents first, so a node's parent has already been decided
        node_obj = gltf.nodes[node]
        inherited = parents[node] >= 0 and parents[node] in chosen
        is_geometry = node_obj.mesh is not None or node_obj.camera is not None
        if node in animated or (inherited and not is_geometry):
            chosen.add(node)
    return [n for n in order if n in chosen], None


def _local_transforms(gltf: pygltflib.GLTF2, nodes: list[int], channels: list[_Channel],
                      grid: np.ndarray, eps: float) -> dict[int, _Local]:
    by_node: dict[int, dict[str, _Channel]] = {}
    for c in channels:
        by_node.setdefault(c.node, {})[c.path] = c
    local: dict[int, _Local] = {}
    for node in nodes:
        t, r, s, matrix = _rest(gltf, node)
        animated = by_node.get(node, {})
        if matrix is not None and not animated:
            local[node] = _Local(matrix[None, :3, 3], matrix[None, :3, :3])
            continue
        if matrix is not None:
            t, r, s = _decompose(matrix)
        trans = _sample(animated["translation"], grid, eps) if "translation" in animated else t[None]
        quat = _sample(animated["rotation"], grid, eps) if "rotation" in animated else r[None]
        scale = _sample(animated["scale"], grid, eps) if "scale" in animated else s[None]
        local[node] = _Local(trans, quaternion_to_matrix(quat) * scale[:, None, :])
    return local


def read_gltf_bytes(data: bytes, animation: int | str | None = None, base_dir: str | Path | None = None,
                    max_bytes: int | None = None) -> Motion:
    """Parse a ``.gltf`` (JSON) or ``.glb`` (binary) file's bytes into a :class:`Motion`.

    ``animation`` picks the clip by index or name (default: the longest, see the module docstring);
    ``base_dir`` is the folder external buffer files are read from (None: external buffers are an
    error, as for uploads); ``max_bytes`` bounds each external buffer file.
    """
    container = "glb" if data[:4] == GLB_MAGIC else "gltf"
    if container == "glb":
        json_chunk, bin_chunk = _split_glb(data)
    else:
        json_chunk, bin_chunk = data, None
    gltf = _parse_json(json_chunk)
    buffers = _Buffers(gltf, bin_chunk, Path(base_dir) if base_dir is not None else None, max_bytes)
    if not gltf.animations:
        if gltf.skins:
            n = len(gltf.skins[0].joints or [])
            raise MotionError(f"no animation: the file holds a skeleton ({n} joints) but no animation")
        raise MotionError("no skin and no animation: the file holds no skeletal motion (a static model?)")
    index, durations = _pick_animation(gltf, buffers, animation)
    name = _animation_name(gltf, index)
    channels = _channels(gltf, buffers, index)
    if not channels:
        raise MotionError(f"animation {name!r} has no translation, rotation or scale channels")
    parents = _node_parents(gltf)
    order = _walk_order(gltf, parents)
    joints, skin = _joints(gltf, parents, order, channels)
    needed: set[int] = set()
    for j in joints:
        node = j
        while node >= 0 and node not in needed:
            needed.add(node)
            node = parents[node]
    channels = [c for c in channels if c.node in needed]
    if not channels:
        raise MotionError(f"animation {name!r} does not move the skeleton (its channels target other nodes)")
    grid, fps, n_keys = _time_grid(channels)
    nodes = [n for n in order if n in needed]
    if len(grid) * len(nodes) > MAX_SAMPLES:
        raise MotionError(f"animation {name!r} is {grid[-1] - grid[0]:.1f} s long at {fps:g} fps: "
                          f"too many frames ({len(grid)}) to read")
    local = _local_transforms(gltf, nodes, channels, grid, eps=1e-3 / fps)
    g_pos: dict[int, np.ndarray] = {}
    g_lin: dict[int, np.ndarray] = {}
    for node in nodes:  # parents first
        parent = parents[node]
        loc = local[node]
        if parent < 0:
            g_pos[node], g_lin[node] = loc.translation, loc.linear
        else:
            g_pos[node] = g_pos[parent] + np.einsum("tab,tb->ta", g_lin[parent], loc.translation)
            g_lin[node] = g_lin[parent] @ loc.linear
    frames = len(grid)
    positions = np.stack([np.broadcast_to(g_pos[j], (frames, 3)) for j in joints], axis=1)
    if not np.isfinite(positions).all() or np.abs(positions).max() > 1e30:
        raise MotionError("joint positions overflow (absurd transforms in the file)")
    joint_set = set(joints)
    motion_parents = []
    for j in joints:
        p = parents[j]
        while p >= 0 and p not in joint_set:
            p = parents[p]
        motion_parents.append(joints.index(p) if p >= 0 else -1)
    names = _unique([_node_name(gltf, j) for j in joints])
    meta: dict[str, object] = {
        "format": "gltf", "container": container, "animation": name, "animation_index": index,
        "animations": [_animation_name(gltf, i) for i in range(len(gltf.animations))],
        "durations": durations, "skin": skin, "start_time": float(grid[0]), "keyframes": n_keys,
    }
    return Motion(positions.astype(np.float32), fps, names, motion_parents, meta)


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    taken = set(names)
    for name in names:
        if name in seen:
            k = seen[name]
            while f"{name}.{k}" in taken:
                k += 1
            seen[name] = k + 1
            taken.add(f"{name}.{k}")
            out.append(f"{name}.{k}")
        else:
            seen[name] = 1
            out.append(name)
    return out
