"""BVH reading (hand-computed cases, every class of bad input) and canonical BVH writing."""

from __future__ import annotations

import numpy as np
import pytest

from motion.bvh import read_bvh_text, write_bvh
from motion.bvh_write import bvh_text
from motion.data import Motion, MotionError
from motion.fk import euler_to_matrix
from motion.formats import MotionFileError, load_motion, load_motion_bytes
from motion.skeleton import JOINTS, PARENTS


def two_joint(root_channels: str, child_channels: str, rows: list[str], root_offset: str = "0 0 0",
              frame_time: str = "0.04") -> str:
    return f"""HIERARCHY
ROOT Root
{{
  OFFSET {root_offset}
  CHANNELS {root_channels}
  JOINT Child
  {{
    OFFSET 0 10 0
    CHANNELS {child_channels}
    End Site
    {{
      OFFSET 0 5 0
    }}
  }}
}}
MOTION
Frames: {len(rows)}
Frame Time: {frame_time}
""" + "\n".join(rows) + "\n"


def test_six_and_three_channel_joints_with_end_site() -> None:
    text = two_joint("6 Xposition Yposition Zposition Zrotation Xrotation Yrotation",
                     "3 Xrotation Yrotation Zrotation",
                     ["1 2 3 90 0 0 90 0 0", "0 0 0 0 0 0 0 0 0"])
    m = read_bvh_text(text)
    assert m.joint_names == ["Root", "Child", "Child_end"]
    assert m.parents == [-1, 0, 1]
    assert m.fps == 25.0
    assert m.meta["end_sites"] == ["Child_end"]
    assert np.allclose(m.positions[0], [[1, 2, 3], [-9, 2, 3], [-9, 2, 8]], atol=1e-5)
    assert np.allclose(m.positions[1], [[0, 0, 0], [0, 10, 0], [0, 15, 0]], atol=1e-5)


@pytest.mark.parametrize("order", ["XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX"])
def test_every_rotation_order_matches_the_matrix_product(order: str) -> None:
    angles = np.array([30.0, -45.0, 60.0])
    channels = " ".join(f"{a}rotation" for a in order)
    text = two_joint(f"3 {channels}", "3 Xrotation Yrotation Zrotation", [" ".join(["30", "-45", "60", "0 0 0"])])
    expected = euler_to_matrix(angles[None], order)[0] @ np.array([0.0, 15.0, 0.0])
    assert np.allclose(read_bvh_text(text).positions[0, 2], expected, atol=1e-4)


def test_position_channels_root_adds_offset_other_joints_replace_it() -> None:
    text = two_joint("6 Xposition Yposition Zposition Zrotation Xrotation Yrotation",
                     "6 Xposition Yposition Zposition Zrotation Xrotation Yrotation",
                     ["0 5 0 0 0 0 0 20 0 0 0 0"], root_offset="0 100 0")
    pos = read_bvh_text(text).positions[0]
    assert np.allclose(pos[:, 1], [105.0, 125.0, 130.0])


def test_cr_only_line_ends_and_keywords_in_any_case() -> None:
    """Old Mac exports end lines with CR alone; hand-edited files write ``End site`` or ``Joint``."""
    base = two_joint("3 Zrotation Xrotation Yrotation", "3 Zrotation Xrotation Yrotation",
                     ["0 0 0 0 0 0", "90 0 0 0 0 0"])
    variant = (base.replace("End Site", "End site").replace("JOINT", "Joint").replace("OFFSET", "Offset")
               .replace("CHANNELS", "channels").replace("ROOT", "root").replace("MOTION", "Motion")
               .replace("Frame Time", "Frame time").replace("\n", "\r"))
    expected, m = read_bvh_text(base), read_bvh_text(variant)
    assert m.joint_names == expected.joint_names == ["Root", "Child", "Child_end"]
    assert np.allclose(m.positions, expected.positions)
    assert np.allclose(m.positions[1, 2], [-15.0, 0.0, 0.0], atol=1e-4)


def test_more_complete_rows_than_frames_declares_are_all_read_and_noted() -> None:
    """An off-by-one ``Frames:`` (seen in real exports): every complete row is motion, so none is dropped,
    and the clip's metadata says what was tolerated."""
    text = GOOD.replace("1 2 3 4 5 6", "1 2 3 4 5 6\n90 0 0 0 0 0")
    m = read_bvh_text(text)
    assert m.n_frames == 3
    assert np.allclose(m.positions[2, 2], [-15.0, 0.0, 0.0], atol=1e-4)
    assert m.meta["read_notes"] == ["Frames says 2 but 3 complete rows of values follow: all 3 read"]
    assert "read_notes" not in read_bvh_text(GOOD).meta


def test_crlf_tabs_and_irregular_spacing() -> None:
    text = two_joint("3 Zrotation Xrotation Yrotation", "3 Zrotation Xrotation Yrotation",
                     ["0\t0 \t 0  0 0 0", "90 0 0 0 0 0"]).replace("\n", "\r\n").replace("  ", "\t")
    m = read_bvh_text(text)
    assert m.positions.shape == (2, 3, 3)
    assert np.allclose(m.positions[1, 2], [-15.0, 0.0, 0.0], atol=1e-4)


def test_frame_rate_snaps_rounded_frame_times() -> None:
    rows = ["0 0 0 0 0 0"]
    assert read_bvh_text(two_joint("3 Zrotation Xrotation Yrotation", "3 Zrotation Xrotation Yrotation",
                                   rows, frame_time="0.0333333")).fps == 30.0
    assert read_bvh_text(two_joint("3 Zrotation Xrotation Yrotation", "3 Zrotation Xrotation Yrotation",
                                   rows, frame_time="0.016667")).fps == 60.0


GOOD = two_joint("3 Zrotation Xrotation Yrotation", "3 Zrotation Xrotation Yrotation",
                 ["0 0 0 0 0 0", "1 2 3 4 5 6"])


@pytest.mark.parametrize(("text", "message"), [
    (GOOD[:-8], "truncated"),
    (GOOD[:GOOD.index("MOTION")], "no MOTION block"),
    (GOOD.replace("1 2 3 4 5 6", "1 2 3 4 5 6 7"), "frame 2 has 7 values"),
    (GOOD.replace("Frames: 2", "Frames: 3"), "only 2 frames are present"),
    (GOOD.replace("1 2 3 4 5 6", "1 2 3 4 5 6\n1 2 3 4 5"), "frame 3 has 5 values"),
    (GOOD.replace("1 2 3 4 5 6", "1 2 x 4 5 6"), "non-numeric value 'x'"),
    (GOOD.replace("1 2 3 4 5 6", "1 2 nan 4 5 6"), "frame 2 holds a NaN"),
    (GOOD.replace("1 2 3 4 5 6", "1 2 inf 4 5 6"), "frame 2 holds a NaN or infinite"),
    (GOOD.replace("Frames: 2", "Frames: 0"), "bad frame count"),
    (GOOD.replace("Frame Time: 0.04", "Frame Time: 0"), "absurd Frame Time"),
    (GOOD.replace("Frame Time: 0.04", "Frame Time: 0.0001"), "absurd Frame Time"),
    (GOOD.replace("Frame Time: 0.04", "Frame Time: 5"), "absurd Frame Time"),
    (GOOD.replace("Frame Time: 0.04", "Frame Time: -1"), "absurd Frame Time"),
    (GOOD.replace("JOINT Child\n  {", "JOINT Child\n"), "malformed HIERARCHY"),
    (GOOD.replace("JOINT Child", "ROOT Child"), "unexpected ROOT"),
    (GOOD.replace("  }\n}\nMOTION", "  }\nMOTION"), "unbalanced braces"),
    (GOOD.replace("CHANNELS 3 Zrotation Xrotation Yrotation\n  JOINT", "CHANNELS 3 Zrotation Wrotation Yrotation\n  JOINT"), "declares CHANNELS"),
    (GOOD.replace("OFFSET 0 10 0", "OFFSET 0 ten 0"), "OFFSET value must be a number"),
    (GOOD.replace("HIERARCHY", "HIERARCHIES"), "not a BVH file"),
])
def test_bad_input_raises_motion_file_error_naming_the_file(text: str, message: str) -> None:
    with pytest.raises(MotionFileError, match=message) as info:
        load_motion_bytes(text.encode(), "clip.bvh")
    assert str(info.value).startswith("clip.bvh: ")


def test_binary_junk_and_empty_files() -> None:
    with pytest.raises(MotionFileError, match="binary data"):
        load_motion_bytes(b"HIERARCHY\x00\x01\x02" * 10, "junk.bvh")
    with pytest.raises(MotionFileError, match="not a BVH file|malformed"):
        load_motion_bytes(bytes(range(1, 256)) * 4, "junk2.bvh")
    with pytest.raises(MotionFileError, match="empty"):
        load_motion_bytes(b"  \n", "empty.bvh")


def rigid_canonical_motion(n_frames: int = 40) -> Motion:
    """A canonical motion with rigid bones: FK of the canonical skeleton under random joint rotations."""
    rng = np.random.default_rng(3)
    from motion.bvh_write import _template
    from motion.fk import forward_kinematics
    offsets = np.zeros((len(JOINTS), 3))
    for j in range(1, len(JOINTS)):
        offsets[j] = _template(JOINTS[j]) * rng.uniform(0.1, 0.45)
    t = np.linspace(0, 1, n_frames)[:, None, None]
    angles = 40.0 * np.sin(2 * np.pi * (t * rng.uniform(0.5, 2, (1, len(JOINTS), 3)) + rng.uniform(0, 1, (1, len(JOINTS), 3))))
    rotations = euler_to_matrix(angles, "ZXY")
    translations = np.broadcast_to(offsets, (n_frames, len(JOINTS), 3)).copy()
    translations[:, 0] = np.stack([np.linspace(0, 2, n_frames), np.full(n_frames, 0.9), np.zeros(n_frames)], axis=1)
    positions = forward_kinematics(PARENTS, translations, rotations)
    return Motion(positions.astype(np.float32), 25.0, list(JOINTS), list(PARENTS))


@pytest.mark.parametrize("exact", [True, False])
def test_write_read_round_trip_within_a_millimetre(tmp_path, exact: bool) -> None:
    motion = rigid_canonical_motion()
    path = tmp_path / "clip.bvh"
    write_bvh(motion, path, exact=exact)
    back = load_motion(path)
    assert back.fps == 25.0 and back.n_frames == motion.n_frames
    idx = [back.joint_names.index(n) for n in JOINTS]
    error_m = np.abs(back.positions[:, idx] / 100.0 - motion.positions).max()
    assert error_m < 1e-3


def test_exact_mode_reproduces_non_rigid_motion(tmp_path) -> None:
    motion = rigid_canonical_motion()
    wobble = 1.0 + 0.1 * np.sin(np.arange(motion.n_frames))[:, None, None]
    stretched = Motion(motion.positions * wobble.astype(np.float32), 25.0, list(JOINTS), list(PARENTS))
    back = read_bvh_text(bvh_text(stretched, exact=True))
    idx = [back.joint_names.index(n) for n in JOINTS]
    assert np.abs(back.positions[:, idx] / 100.0 - stretched.positions).max() < 1e-3


def test_writer_refuses_non_canonical_motion(tmp_path) -> None:
    motion = Motion(np.zeros((2, 2, 3)), 25.0, ["a", "b"], [-1, 0])
    with pytest.raises(MotionError, match="canonical"):
        write_bvh(motion, tmp_path / "x.bvh")


@pytest.mark.parametrize("prop_first", [False, True])
def test_a_prop_root_beside_the_performer_is_left_out_and_noted(tmp_path, prop_first: bool) -> None:
    """Some exports carry a prop (or camera) as a second ROOT: the performer's hierarchy is read, the rest noted."""
    from motion.bvh import split_bvh
    from motion.canonical import to_canonical

    motion = rigid_canonical_motion()
    write_bvh(motion, tmp_path / "clip.bvh")
    hierarchy, body = split_bvh((tmp_path / "clip.bvh").read_text())
    header, _, frames = body.partition("Frame Time:")
    frame_time, *rows = frames.strip("\n").split("\n")
    prop = "ROOT Prop1\n{\n  OFFSET 30 100 0\n  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation\n" \
           "  End Site\n  {\n    OFFSET 0 150 0\n  }\n}\n"
    performer = hierarchy[hierarchy.index("ROOT"):]
    values = " 30 100 0 0 0 0"
    rows = [(values + " " + r) if prop_first else (r + values) for r in rows if r.strip()]
    text = ("HIERARCHY\n" + (prop + performer if prop_first else performer + prop) + "MOTION\n" + header.strip()
            + "\nFrame Time:" + frame_time + "\n" + "\n".join(rows) + "\n")
    back = read_bvh_text(text)
    assert "Prop1" not in back.joint_names and back.parents.count(-1) == 1
    assert any("2 ROOT hierarchies" in n and "'Prop1'" in n for n in back.meta["read_notes"])  # type: ignore[union-attr]
    single = load_motion(tmp_path / "clip.bvh")
    np.testing.assert_allclose(back.positions, single.positions, atol=1e-4)
    assert to_canonical(back).positions.shape == (motion.n_frames, len(JOINTS), 3)
