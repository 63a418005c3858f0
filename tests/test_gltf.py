"""glTF / GLB import (motion.gltf), export (motion.gltf_write) and their place in motion.formats."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from motion.bvh import read_bvh_text
from motion.data import MotionError
from motion.formats import MotionFileError, classify, load_motion, load_motion_bytes
from motion.gltf import matrix_to_quaternion, quaternion_to_matrix, read_gltf_bytes
from motion.gltf_write import Armature, Clip, clip_from_bvh_text, gltf_bytes, write_gltf, write_motion_gltf
from motion.skeleton import JOINTS
from tests.test_bvh import rigid_canonical_motion

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
TRAIN_CLIP = "bandai/dataset-2/dataset-2_raise-up-both-hands_active_014.bvh.gz"
HIERARCHY = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Spine
  {
    OFFSET 0 20 0
    CHANNELS 3 Zrotation Yrotation Xrotation
    JOINT Head
    {
      OFFSET 0 50 2
      CHANNELS 3 Yrotation Xrotation Zrotation
      End Site
      {
        OFFSET 0 15 0
      }
    }
    JOINT LeftArm
    {
      OFFSET 18 45 0
      CHANNELS 6 Xposition Yposition Zposition Xrotation Yrotation Zrotation
      End Site
      {
        OFFSET 30 0 0
      }
    }
  }
  JOINT LeftLeg
  {
    OFFSET 10 -5 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0 -90 0
    }
  }
}
"""
N_CHANNELS = 6 + 3 + 3 + 6 + 3


def synthetic_bvh(n_frames: int = 12, seed: int = 0) -> str:
    """A BVH with several channel orders, End Sites and position channels on a non-root joint."""
    rng = np.random.default_rng(seed)
    values = rng.uniform(-70, 70, size=(n_frames, N_CHANNELS))
    values[:, 0:3] = np.cumsum(rng.normal(0, 3, (n_frames, 3)), axis=0) + [0, 95, 0]
    values[:, 12:15] = [18, 45, 0] + rng.normal(0, 1, (n_frames, 3))  # LeftArm restates its offset
    rows = "\n".join(" ".join(f"{v:.5f}" for v in row) for row in values)
    return f"{HIERARCHY}MOTION\nFrames: {n_frames}\nFrame Time: 0.0333333\n{rows}\n"


def tolerance(positions: np.ndarray) -> float:
    """1e-3 of the body height (the vertical extent of the first frame)."""
    return 1e-3 * float(np.ptp(positions[0, :, 1]))


# --- round trips --------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".glb", ".gltf"])
@pytest.mark.parametrize("interpolation", ["LINEAR", "STEP"])
def test_bvh_round_trip_matches_the_bvh_reader(tmp_path: Path, suffix: str, interpolation: str) -> None:
    text = synthetic_bvh()
    reference = read_bvh_text(text)
    rig, clip = clip_from_bvh_text(text, "dance")
    path = tmp_path / f"clip{suffix}"
    write_gltf(rig, clip, path, interpolation)
    motion = load_motion(path)
    assert motion.joint_names == reference.joint_names
    assert motion.parents == reference.parents
    assert motion.fps == reference.fps == 30.0 and motion.n_frames == reference.n_frames
    assert np.abs(motion.positions - reference.positions).max() < tolerance(reference.positions)
    assert motion.meta["format"] == "gltf" and motion.meta["container"] == suffix[1:]
    assert motion.meta["animation"] == "dance" and motion.meta["animations"] == ["dance"]
    assert motion.meta["skin"] == "Skeleton"


def test_corpus_train_clip_round_trip(tmp_path: Path) -> None:
    manifest = json.loads((CORPUS / "manifest.json").read_text())
    entry = next(s for s in manifest["sequences"] if s["file"] == TRAIN_CLIP)
    assert entry["split"] == "train"
    text = gzip.decompress((CORPUS / TRAIN_CLIP).read_bytes()).decode()
    reference = read_bvh_text(text)
    rig, clip = clip_from_bvh_text(text)
    for binary in (True, False):
        motion = read_gltf_bytes(gltf_bytes(rig, clip, binary=binary))
        assert motion.joint_names == reference.joint_names and motion.n_frames == reference.n_frames
        assert np.abs(motion.positions - reference.positions).max() < tolerance(reference.positions)


def test_gltf_gz_and_external_bin(tmp_path: Path) -> None:
    text = synthetic_bvh()
    reference = read_bvh_text(text)
    rig, clip = clip_from_bvh_text(text)
    (tmp_path / "a.gltf.gz").write_bytes(gzip.compress(gltf_bytes(rig, clip, binary=False)))
    assert np.abs(load_motion(tmp_path / "a.gltf.gz").positions - reference.positions).max() < 0.01
    write_gltf(rig, clip, tmp_path / "b.gltf", external_bin=True)
    assert (tmp_path / "b.bin").is_file()
    assert np.abs(load_motion(tmp_path / "b.gltf").positions - reference.positions).max() < 0.01
    data = (tmp_path / "b.gltf").read_bytes()
    with pytest.raises(MotionFileError, match=r"^upload\.gltf: .*external file 'b\.bin'"):
        load_motion_bytes(data, "upload.gltf")
    document = json.loads(data)
    document["buffers"][0]["uri"] = "../b.bin"
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.gltf").write_text(json.dumps(document))
    with pytest.raises(MotionFileError, match="outside the file's folder"):
        load_motion(tmp_path / "sub" / "c.gltf")


def test_canonical_motion_export_reads_back_in_metres(tmp_path: Path) -> None:
    motion = rigid_canonical_motion(20)
    write_motion_gltf(motion, tmp_path / "result.glb")
    back = load_motion(tmp_path / "result.glb")
    assert back.fps == 25.0 and back.n_frames == 20
    idx = [back.joint_names.index(n) for n in JOINTS]
    assert np.abs(back.positions[:, idx] - motion.positions).max() < 1e-3  # metres: under a millimetre


def test_quaternion_conversions_invert() -> None:
    rng = np.random.default_rng(1)
    quats = rng.normal(size=(500, 4))
    quats /= np.linalg.norm(quats, axis=1, keepdims=True)
    back = matrix_to_quaternion(quaternion_to_matrix(quats))
    assert np.allclose(np.abs(np.sum(back * quats, axis=1)), 1.0, atol=1e-9)
    assert np.allclose(quaternion_to_matrix(back), quaternion_to_matrix(quats), atol=1e-9)


# --- hand-made files ----------------------------------------------------------------------------

def hand_gltf(nodes: list[dict], channels: list[tuple[int, str, list[float], np.ndarray, str]],
              skins: list[dict] | None = None, animations: int = 1) -> dict:
    """A glTF document with one embedded buffer; each channel: (node, path, times, values, mode)."""
    blob, accessors, views = bytearray(), [], []

    def add(array: np.ndarray, kind: str) -> int:
        raw = np.asarray(array, dtype="<f4").tobytes()
        views.append({"buffer": 0, "byteOffset": len(blob), "byteLength": len(raw)})
        blob.extend(raw)
        count = np.asarray(array).shape[0]
        accessors.append({"bufferView": len(views) - 1, "componentType": 5126, "count": count, "type": kind})
        return len(accessors) - 1

    anims = []
    for a in range(animations):
        samplers, chans = [], []
        for node, path, times, values, mode in channels:
            samplers.append({"input": add(np.asarray(times)[:, None], "SCALAR"),
                             "output": add(values, "VEC4" if path == "rotation" else "VEC3"),
                             "interpolation": mode})
            chans.append({"sampler": len(samplers) - 1, "target": {"node": node, "path": path}})
        anims.append({"name": f"take{a}", "samplers": samplers, "channels": chans})
    document = {"asset": {"version": "2.0"}, "nodes": nodes, "accessors": accessors, "bufferViews": views,
                "buffers": [{"byteLength": len(blob), "uri": "data:application/octet-stream;base64,"
                             + base64.b64encode(bytes(blob)).decode()}],
                "scenes": [{"nodes": [0]}], "scene": 0}
    if anims and channels:
        document["animations"] = anims
    if skins:
        document["skins"] = skins
    return document


def encode(document: dict) -> bytes:
    return json.dumps(document).encode()


TWO_NODES: list[dict[str, Any]] = [{"name": "root", "children": [1, 2]}, {"name": "tip", "translation": [0, 1, 0]},
             {"name": "body_mesh", "mesh": 0}]
KEY_TIMES = [0.0, 0.1, 0.2, 0.3, 1.0]
KEY_X = np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0], [3, 0, 0], [10, 0, 0]], dtype=float)


def test_step_holds_values_between_keys_and_linear_interpolates() -> None:
    step = read_gltf_bytes(encode(hand_gltf(TWO_NODES, [(0, "translation", KEY_TIMES, KEY_X, "STEP")])))
    linear = read_gltf_bytes(encode(hand_gltf(TWO_NODES, [(0, "translation", KEY_TIMES, KEY_X, "LINEAR")])))
    for motion in (step, linear):
        # No skin: the animated node and the nodes below it, the mesh node left out.
        assert motion.joint_names == ["root", "tip"] and motion.parents == [-1, 0]
        assert motion.fps == 10.0 and motion.n_frames == 11 and motion.meta["skin"] is None
        assert np.allclose(motion.positions[[0, 1, 2, 3, 10], 0, 0], [0, 1, 2, 3, 10])
    assert np.allclose(step.positions[3:10, 0, 0], 3.0)  # t = 0.3 .. 0.9: the key at 0.3 holds
    assert np.allclose(linear.positions[3:11, 0, 0], 3 + 7 * np.arange(8) / 7)
    assert np.allclose(step.positions[:, 1] - step.positions[:, 0], [0, 1, 0])


def test_rotation_slerp_and_cubicspline() -> None:
    half = np.sqrt(0.5)
    quats = np.array([[0, 0, 0, 1], [0, 0, half, half]])  # identity -> 90 degrees about Z
    motion = read_gltf_bytes(encode(hand_gltf(TWO_NODES, [(0, "rotation", [0.0, 1.0], quats, "LINEAR")])))
    assert motion.fps == 30.0 and motion.n_frames == 31  # sparse keys: sampled at the default rate
    angle = np.deg2rad(90 * np.arange(31) / 30)
    assert np.allclose(motion.positions[:, 1], np.stack([-np.sin(angle), np.cos(angle), 0 * angle], 1),
                       atol=1e-6)
    # CUBICSPLINE: (in-tangent, value, out-tangent) per key; out-tangent 1 at key 0, dt = 1.
    cubic = np.array([[0, 0, 0], [0, 0, 0], [1, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0]], dtype=float)
    motion = read_gltf_bytes(encode(hand_gltf(TWO_NODES, [(0, "translation", [0.0, 1.0], cubic, "CUBICSPLINE")])))
    s = np.arange(31) / 30
    assert np.allclose(motion.positions[:, 0, 0], s ** 3 - 2 * s ** 2 + s, atol=1e-6)


def test_two_animations_longest_by_default_and_selectable() -> None:
    text = synthetic_bvh(12)
    reference = read_bvh_text(text)
    rig, full = clip_from_bvh_text(text, "long")
    short = Clip("short", full.fps, full.rotations[:5], full.translations[:5], full.moving, full.rotating)
    data = gltf_bytes(rig, [short, full])
    motion = read_gltf_bytes(data)
    assert motion.meta["animation"] == "long" and motion.meta["animation_index"] == 1
    assert motion.meta["animations"] == ["short", "long"] and motion.n_frames == 12
    tol = tolerance(reference.positions)
    for choice in ("short", 0):
        picked = read_gltf_bytes(data, animation=choice)
        assert picked.meta["animation"] == "short" and picked.n_frames == 5
        assert np.abs(picked.positions - reference.positions[:5]).max() < tol
    with pytest.raises(MotionError, match="no animation named 'nope': the file has 'short', 'long'"):
        read_gltf_bytes(data, animation="nope")
    with pytest.raises(MotionError, match="no animation 2"):
        read_gltf_bytes(data, animation=2)
    same = gltf_bytes(rig, [Clip("a", full.fps, full.rotations, full.translations, full.moving, full.rotating),
                            Clip("b", full.fps, full.rotations, full.translations, full.moving, full.rotating)])
    assert read_gltf_bytes(same).meta["animation"] == "a"  # equal durations: the first


def test_armature_parent_scale_and_z_up_rotation_are_composed() -> None:
    text = synthetic_bvh()
    reference = read_bvh_text(text).positions.astype(np.float64)
    rig, clip = clip_from_bvh_text(text)
    half = np.sqrt(0.5)
    armature = Armature(translation=(1.0, 2.0, 3.0), rotation=(half, 0.0, 0.0, half), scale=(0.01, 0.01, 0.01))
    motion = read_gltf_bytes(gltf_bytes(rig, clip, armature=armature))
    assert "Armature" not in motion.joint_names and motion.parents[0] == -1
    rot_x90 = np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]], dtype=float)  # +90 degrees about X: Y up -> Z up
    expected = np.array([1.0, 2.0, 3.0]) + 0.01 * reference @ rot_x90.T
    assert np.abs(motion.positions - expected).max() < 1e-3 * np.ptp(expected[0, :, 2])
    # The BVH's up axis (+Y, centimetres) is the file's +Z in metres, and its +Z is the file's -Y.
    assert np.allclose(motion.positions[..., 2], 3.0 + 0.01 * reference[..., 1], atol=1e-4)
    assert np.allclose(motion.positions[..., 1], 2.0 - 0.01 * reference[..., 2], atol=1e-4)


# --- errors -------------------------------------------------------------------------------------

def skinned_document() -> dict:
    rig, clip = clip_from_bvh_text(synthetic_bvh(4))
    return json.loads(gltf_bytes(rig, clip, binary=False))


def _mutated(change: Callable[[dict[str, Any]], object]) -> bytes:
    document = skinned_document()
    change(document)
    return encode(document)


def _glb() -> bytes:
    rig, clip = clip_from_bvh_text(synthetic_bvh(4))
    return gltf_bytes(rig, clip)


BAD_FILES = {
    "truncated glb": (lambda: _glb()[:-40], "x.glb", "truncated GLB"),
    "glb header only": (lambda: _glb()[:16], "x.glb", "truncated GLB"),
    "gzipped glb": (lambda: gzip.compress(_glb()), "x.glb.gz", "gzip-compressed .glb is not supported"),
    "not json": (lambda: b"{nope", "x.gltf", "invalid glTF JSON"),
    "no asset": (lambda: b'{"nodes": []}', "x.gltf", "no 'asset'"),
    "glTF 1": (lambda: b'{"asset": {"version": "1.0"}}', "x.gltf", "version 1.0 is not supported"),
    "no skin, no animation": (lambda: encode(hand_gltf(TWO_NODES, [])), "x.gltf", "no skin and no animation"),
    "skin, no animation": (lambda: _mutated(lambda d: d.pop("animations")), "x.gltf",
                           r"no animation: the file holds a skeleton \(8 joints\)"),
    "bad accessor index": (lambda: _mutated(lambda d: d["animations"][0]["samplers"][0].update(output=999)),
                           "x.gltf", "bad .*output accessor index 999"),
    "short bufferView": (lambda: _mutated(lambda d: d["bufferViews"][2].update(byteLength=8)), "x.gltf",
                         "need .* bytes but bufferView 2 has 8"),
    "view past buffer": (lambda: _mutated(lambda d: d["bufferViews"][2].update(byteOffset=10 ** 6)), "x.gltf",
                         "runs past the end of buffer 0"),
    "bad base64": (lambda: _mutated(lambda d: d["buffers"][0].update(uri="data:;base64,@@@")), "x.gltf",
                   "bad base64"),
    "bad interpolation": (lambda: _mutated(lambda d: d["animations"][0]["samplers"][0].update(
        interpolation="BEZIER")), "x.gltf", "unknown interpolation 'BEZIER'"),
    "node cycle": (lambda: _mutated(lambda d: d["nodes"][-1].update(children=[0])), "x.gltf",
                   "cycle|more than one parent"),
    "nan": (lambda: encode(hand_gltf(TWO_NODES, [(0, "translation", KEY_TIMES, KEY_X * np.nan, "LINEAR")])),
            "x.gltf", "NaN or infinite"),
    "times backwards": (lambda: encode(hand_gltf(TWO_NODES, [(0, "translation", KEY_TIMES[::-1], KEY_X, "STEP")])),
                        "x.gltf", "not increasing"),
    "weights only": (lambda: _mutated(lambda d: [c["target"].update(path="weights")
                                                 for c in d["animations"][0]["channels"]]),
                     "x.gltf", "no translation, rotation or scale channels"),
    "bad rest rotation": (lambda: _mutated(lambda d: d["nodes"][1].update(rotation=[0, 0, 1])), "x.gltf",
                          "rotation must be 4"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_malformed_files_raise_motion_file_error_naming_the_file(case: str) -> None:
    make, name, message = BAD_FILES[case]
    with pytest.raises(MotionFileError, match=rf"^{name.replace('.', '[.]')}: .*({message})") as info:
        load_motion_bytes(make(), name)
    assert info.value.path == name


def test_known_unsupported_formats_are_motion_and_explain_how_to_convert(tmp_path: Path) -> None:
    for name in ("take.fbx", "walk.c3d", "walk.trc", "subject.asf", "walk_01.amc", "take.FBX"):
        (tmp_path / name).write_bytes(b"Kaydara FBX Binary  \x00")
        assert classify(tmp_path / name) == "motion", name
    for name in ("a.gltf", "b.glb", "c.gltf.gz"):
        (tmp_path / name).write_bytes(b"")
        assert classify(tmp_path / name) == "motion", name
    (tmp_path / "notes.txt").write_text("hi")
    assert classify(tmp_path / "notes.txt") == "ignored"
    (tmp_path / "__MACOSX").mkdir()
    for name in ("._walk.bvh", "__MACOSX/._walk.bvh", "__MACOSX/walk.bvh"):  # AppleDouble twins of unpacked zips
        (tmp_path / name).write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        ")
        assert classify(tmp_path / name) == "ignored", name
    assert classify(tmp_path / "walk.bvh") == "motion"
    with pytest.raises(MotionFileError) as info:
        load_motion(tmp_path / "take.fbx")
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'take.fbx'}: ")
    for part in ("FBX (.fbx) motion files are not supported", "BVH (.bvh)", "glTF/GLB", "DeepMimic JSON",
                 "positions .npz", "Blender: File > Import > FBX, then File > Export > BVH or glTF"):
        assert part in message, part
    with pytest.raises(MotionFileError, match="ASF/AMC"):
        load_motion_bytes(b"#!OML:ASF", "subject.asf")
    with pytest.raises(MotionFileError, match=r"notes\.txt: unsupported file type \(expected"):
        load_motion(tmp_path / "notes.txt")
