"""File classification, transparent gzip, size limits, the .npz and ballroom JSON readers."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from motion.data import Motion, MotionError
from motion.formats import MotionFileError, classify, load_motion, load_motion_bytes
from motion.npz import write_npz

BVH = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  End Site
  {
    OFFSET 0 10 0
  }
}
MOTION
Frames: 2
Frame Time: 0.04
0 90 0 0 0 0
1 90 0 0 0 90
"""


def ballroom_document(frames: int = 3) -> dict[str, object]:
    rng = np.random.default_rng(0)
    return {"length": frames, "center": rng.normal(size=(frames, 3)).round(3).tolist(),
            "skeletons": rng.normal(size=(frames, 23, 3)).round(3).tolist()}


def test_motion_error_is_the_base_and_names_the_file() -> None:
    error = MotionFileError("a/b.bvh", "broken")
    assert isinstance(error, MotionError) and str(error) == "a/b.bvh: broken"
    assert (error.path, error.reason) == ("a/b.bvh", "broken")


def test_gzip_is_transparent(tmp_path: Path) -> None:
    (tmp_path / "a.bvh").write_text(BVH)
    (tmp_path / "a.bvh.gz").write_bytes(gzip.compress(BVH.encode()))
    plain, packed = load_motion(tmp_path / "a.bvh"), load_motion(tmp_path / "a.bvh.gz")
    assert np.array_equal(plain.positions, packed.positions)
    assert plain.joint_names == ["Hips", "Hips_end"]
    document = ballroom_document()
    (tmp_path / "skeletons.json.gz").write_bytes(gzip.compress(json.dumps(document).encode()))
    motion = load_motion(tmp_path / "skeletons.json.gz")
    expected = np.asarray(document["center"])[:, None] + np.asarray(document["skeletons"])
    assert motion.fps == 25.0 and motion.joint_names[22] == "j22"
    assert np.allclose(motion.positions, expected, atol=1e-5)


def test_size_limits_apply_to_file_and_uncompressed_content(tmp_path: Path) -> None:
    path = tmp_path / "a.bvh"
    path.write_text(BVH)
    with pytest.raises(MotionFileError, match="larger than the limit"):
        load_motion(path, max_bytes=50)
    bomb = gzip.compress(BVH.encode() + b" " * 5_000_000)
    assert len(bomb) < 20_000
    with pytest.raises(MotionFileError, match="uncompressed content is larger"):
        load_motion_bytes(bomb, "bomb.bvh.gz", max_bytes=100_000)
    assert load_motion_bytes(gzip.compress(BVH.encode()), "ok.bvh.gz", max_bytes=len(BVH)).n_frames == 2


@pytest.mark.parametrize(("data", "name", "message"), [
    (b"\x1f\x8b\x08\x00garbage", "x.bvh.gz", "corrupt gzip"),
    (gzip.compress(BVH.encode())[:-10], "x.bvh.gz", "corrupt gzip"),
    (BVH.encode(), "x.bvh.gz", "named .gz but not gzip"),
    (BVH.encode(), "x.fbx", "unsupported file type"),
    (b"PK\x03\x04", "x.npz.gz", "compressed .npz is not supported"),
    (b"not a zip", "x.npz", "not a readable .npz"),
    (b"{\"skeletons\": [[1, 2]]}", "skeletons.json", "'skeletons' has shape"),
    (b"{\"skeletons\": [[[1, 2, 3]]", "skeletons.json", "invalid JSON"),
    (b"[1, 2, 3]", "skeletons.json", "no 'skeletons' key"),
    (b"{\"skeletons\": []}", "skeletons.json", "shape|no frames"),
])
def test_bad_files_raise_motion_file_error(data: bytes, name: str, message: str) -> None:
    with pytest.raises(MotionFileError, match=message) as info:
        load_motion_bytes(data, name)
    assert str(info.value).startswith(f"{name}: ")


def test_ballroom_checks_length_and_nan(tmp_path: Path) -> None:
    document = ballroom_document()
    document["length"] = 5
    with pytest.raises(MotionFileError, match="'length' says 5"):
        load_motion_bytes(json.dumps(document).encode(), "skeletons.json")
    document = ballroom_document()
    document["skeletons"][0][0][0] = float("nan")  # type: ignore[index]
    with pytest.raises(MotionFileError, match="NaN"):
        load_motion_bytes(json.dumps(document).replace("NaN", "NaN").encode(), "skeletons.json")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MotionFileError, match="cannot read file"):
        load_motion(tmp_path / "nope.bvh")


def test_npz_round_trip_and_validation(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    motion = Motion(rng.normal(size=(7, 4, 3)).astype(np.float32), 30.0, ["a", "b", "c", "d"], [-1, 0, 1, 1])
    write_npz(motion, tmp_path / "m.npz")
    back = load_motion(tmp_path / "m.npz")
    assert np.array_equal(back.positions, motion.positions)
    assert (back.fps, back.joint_names, back.parents) == (30.0, motion.joint_names, motion.parents)
    np.savez(tmp_path / "noparents.npz", positions=motion.positions, fps=25, joint_names=np.array(motion.joint_names))
    assert load_motion(tmp_path / "noparents.npz").parents == [-1] * 4
    np.savez(tmp_path / "nofps.npz", positions=motion.positions, joint_names=np.array(motion.joint_names))
    with pytest.raises(MotionFileError, match="missing array 'fps'"):
        load_motion(tmp_path / "nofps.npz")
    np.savez(tmp_path / "names.npz", positions=motion.positions, fps=25, joint_names=np.array(["a"]))
    with pytest.raises(MotionFileError, match="4 joints in positions but 1 names"):
        load_motion(tmp_path / "names.npz")
    np.savez(tmp_path / "pickle.npz", positions=motion.positions, fps=25,
             joint_names=np.array([{"x": 1}], dtype=object))
    with pytest.raises(MotionFileError, match="cannot be read safely"):
        load_motion(tmp_path / "pickle.npz")


def test_classify(tmp_path: Path) -> None:
    files = {
        "a.bvh": BVH, "b.BVH.gz": "", "c.npz": "", "broken.bvh": "garbage",
        "README.md": "", "LICENSE": "", "manifest.json": '{"skeletons": 1}', "config.json": "{}",
        "labels.csv": "", "other.json": '{"x": 1}', "dance.json": '{"length": 1, "skeletons": []}',
        "skeletons.json": "{broken", "notes.txt": "",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "packed.json.gz").write_bytes(gzip.compress(b'{"center": [], "skeletons": []}'))
    (tmp_path / "meta.json.gz").write_bytes(gzip.compress(b'{"title": "x"}'))
    motion = {p.name for p in tmp_path.iterdir() if classify(p) == "motion"}
    assert motion == {"a.bvh", "b.BVH.gz", "c.npz", "broken.bvh", "dance.json", "skeletons.json", "packed.json.gz"}
