"""Zero-configuration rig recognition, units/axes/root detection and plausibility checks.

Fixtures: corpus test-split motions retargeted onto every convention of motion/conventions.py (names,
prefixes, hierarchy, units, up axis, root convention, rest pose, body size), read back with no rig file.
Tolerance: every limb joint and the head within 2 cm (times the body scale) of the original, relative to
the pelvis, in every frame; the feet on the floor. Nothing here tunes anything: the thresholds of
motion.orientation / motion.plausibility were set on train clips.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from motion.bvh import read_bvh_text
from motion.canonical import to_canonical
from motion.conventions import CONVENTIONS, Convention, convention_bvh
from motion.data import Motion, MotionError
from motion.fk import axis_rotation
from motion.formats import load_motion
from motion.orientation import FOOT_CLEARANCE, floor_height
from motion.plausibility import ImplausibleMotion
from motion.recognise import UnrecognisedRig, normalise_name
from motion.rigmap import load_rigs
from motion.skeleton import JOINT_INDEX as J
from motion.skeleton import JOINTS, PARENTS

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
CLIPS = ["bandai/dataset-2/dataset-2_raise-up-both-hands_active_008.bvh.gz", "cmu/005_12.bvh.gz"]
CHECKED = [J[n] for n in ("head", "l_shoulder", "l_elbow", "l_wrist", "r_shoulder", "r_elbow", "r_wrist",
                          "l_hip", "l_knee", "l_ankle", "r_hip", "r_knee", "r_ankle")]
TOLERANCE_M = 0.02


@pytest.fixture(scope="module")
def originals() -> list[Motion]:
    """Canonical test-split clips (2.4 s each, to keep the battery fast)."""
    return [to_canonical(load_motion(CORPUS / f)).slice_frames(0, 60) for f in CLIPS]


def _relative(positions: np.ndarray) -> np.ndarray:
    return positions[:, CHECKED] - positions[:, [J["pelvis"]]]


def _check_round_trip(conv: Convention, original: Motion, **kwargs: object) -> dict:
    back = to_canonical(read_bvh_text(convention_bvh(conv, original, **kwargs)))  # type: ignore[arg-type]
    detected = back.meta["detected"]
    assert str(back.meta["rig"]).startswith("recognised"), back.meta["rig"]
    scale = float(kwargs.get("body_scale", 1.0)) * float(detected["body_scaled"])  # type: ignore[arg-type]
    n = min(back.n_frames, original.n_frames)
    error = np.abs(_relative(back.positions[:n]) - scale * _relative(original.positions[:n])).max()
    assert error < TOLERANCE_M * max(scale, 1.0), (conv.name, kwargs, error)
    # Absolute positions too (the root path), up to the constant vertical move onto the floor.
    offset = back.positions[:n, CHECKED] - scale * original.positions[:n, CHECKED]
    offset[..., 1] -= np.median(offset[..., 1])
    assert np.abs(offset).max() < TOLERANCE_M * max(scale, 1.0), (conv.name, kwargs, np.abs(offset).max())
    assert abs(floor_height(back.positions) - FOOT_CLEARANCE) < 0.16, (conv.name, kwargs)
    assert back.meta["plausibility"]["head_above_pelvis"] > 0.9
    return detected


@pytest.mark.parametrize("name, side, base", [
    ("mixamorig7:LeftUpLeg", "l", "upleg"), ("thigh_l", "l", "thigh"), ("lfemur", "l", "femur"),
    ("LHipJoint", "l", "hipjoint"), ("Bip01 R Calf", "r", "calf"), ("DEF-upper_arm.L", "l", "upperarm"),
    ("lThighBend", "l", "thighbend"), ("LUArm", "l", "uarm"), ("RFArm", "r", "farm"), ("left_collar", "l", "collar"),
    ("CC_Base_R_Forearm", "r", "forearm"), ("Character1_RightHand", "r", "hand"), ("UpperArmL", "l", "upperarm"),
    ("Hips", None, "hips"), ("LowerBack", None, "lowerback"), ("spine.001", None, "spine001"),
])
def test_names_are_normalised(name: str, side: str | None, base: str) -> None:
    assert normalise_name(name) == (side, base)


@pytest.mark.parametrize("name", sorted(CONVENTIONS))
def test_every_convention_is_recognised_with_no_rig_file(name: str, originals: list[Motion]) -> None:
    conv = CONVENTIONS[name]
    for original in originals:
        detected = _check_round_trip(conv, original)
        assert detected["units"] == conv.units and detected["up"] == conv.up, detected
        assert detected["body_scaled"] == 1.0 and not detected["mirrored_labels"]


@pytest.mark.parametrize(("convention", "head", "renamed"), [
    ("mixamo", "mixamorig:Head", "mixamorig:Kopf"),     # a HeadTop_End joint above it is not the head
    ("cc_base", "CC_Base_Head", "CC_Base_Kopf"),        # the neck is named as a twist bone (NeckTwist01)
    ("biped", "Bip01 Head", "Bip01 Cabeza"),
    ("no_neck_21", "Head", "Kopf"),                     # no neck: the head's End Site is one joint up, not the head
])
def test_a_head_of_an_unknown_name_is_found_by_the_hierarchy(convention: str, head: str, renamed: str,
                                                              originals: list[Motion]) -> None:
    """Rigs name the head in their own language or way; the chain above the shoulders still finds it, and
    the motion maps exactly as with the usual name."""
    text = convention_bvh(CONVENTIONS[convention], originals[0])
    assert head in text
    usual, other = (to_canonical(read_bvh_text(t)) for t in (text, text.replace(head, renamed)))
    assert other.meta["detected"]["matched"]["head"] == renamed
    assert np.abs(other.positions - usual.positions).max() < 1e-4


@pytest.mark.parametrize("variant", [
    {"root_mode": "offset+absolute"}, {"root_mode": "delta"}, {"pose": "A"}, {"body_scale": 0.62},
    {"units": "inch", "up": "z", "body_scale": 0.6}, {"units": "mm"}, {"body_scale": 2.0},
])
def test_export_quirks_are_handled(variant: dict, originals: list[Motion]) -> None:
    for name in ("mixamo", "cgspeed", "smpl", "vicon_inch_zup"):
        conv = CONVENTIONS[name]
        if (name == "cgspeed" and variant.get("units") == "inch") or (
                variant.get("body_scale") == 2.0 and conv.units in ("inch", "cmu")):
            continue  # known limits (docs/skeletons.md): units 2-2.5x apart are indistinguishable from body size:
            # a CMU-named child in inches reads as an adult in CMU units, a 2x giant in inches as centimetres
        detected = _check_round_trip(CONVENTIONS[name], originals[1], **variant)
        if variant.get("root_mode") == "offset+absolute":
            assert "OFFSET was taken out" in detected["root"] or detected["floor_shift_m"] < -0.5, detected
        if variant.get("body_scale") == 2.0:
            assert 0.4 < detected["body_scaled"] < 0.6, detected  # a giant export is brought to human size
        if "units" in variant:
            assert detected["units"] == variant["units"]


@pytest.mark.parametrize("scale", [1.1, 1.15, 1.2, 1.25])
def test_tall_performer_in_inches_is_not_read_as_a_toddler_in_centimetres(scale: float, originals: list[Motion]) -> None:
    """A CMU performer scaled 1.15x (legs + spine + head 1.86 m, about 1.9 m tall) exported in inches used
    to read as a 0.73 m body in centimetres: the inch prior was so strong that any adult over ~1.85 m lost."""
    for name in ("vicon_inch_zup", "mixamo"):
        detected = _check_round_trip(CONVENTIONS[name], originals[1], units="inch", body_scale=scale)
        assert detected["units"] == "inch" and detected["body_scaled"] == 1.0, (name, detected)


@pytest.mark.parametrize("scale", [0.65, 0.7, 0.8])
def test_small_child_in_centimetres_stays_in_centimetres(scale: float, originals: list[Motion]) -> None:
    """The other side of the cm / inch boundary: a child (legs + spine + head 0.85-1.05 m) in centimetres."""
    for name in ("mixamo", "unity"):
        detected = _check_round_trip(CONVENTIONS[name], originals[0], units="cm", body_scale=scale)
        assert detected["units"] == "cm" and detected["body_scaled"] == 1.0, (name, detected)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(sorted(CONVENTIONS)), units=st.sampled_from(["m", "cm", "mm", "inch"]),
       up=st.sampled_from(["y", "z"]), root=st.sampled_from(["absolute", "offset+absolute", "delta"]),
       pose=st.sampled_from(["T", "A"]), scale=st.floats(0.65, 1.25))
def test_random_conventions_read_back(originals: list[Motion], name: str, units: str, up: str, root: str,
                                      pose: str, scale: float) -> None:
    # Known limit (docs/skeletons.md): CMU-named rigs in inches are read in CMU units (2.2x apart).
    assume(not (CONVENTIONS[name].units == "cmu" and units == "inch"))
    detected = _check_round_trip(CONVENTIONS[name], originals[0], units=units, up=up, root_mode=root, pose=pose,
                                 body_scale=scale)
    assert detected["up"] == up


def _opaque(text: str) -> str:
    """The BVH with every joint renamed ``b000``, ``b001``, ...: no name can help."""
    import re

    names = re.findall(r"(?:ROOT|JOINT)\s+(.+)", text)
    for i, name in enumerate(sorted(set(names), key=len, reverse=True)):
        text = re.sub(rf"((?:ROOT|JOINT)\s+){re.escape(name)}\s*$", rf"\g<1>b{i:03d}", text, flags=re.M)
    return text


@pytest.mark.parametrize("name", ["mixamo", "smpl", "unreal", "unity", "biped", "xsens", "optitrack",
                                  "vicon_inch_zup", "rigify", "humanik_mm", "daz_no_toe"])
def test_nameless_rigs_are_recognised_by_their_hierarchy(name: str, originals: list[Motion]) -> None:
    """Joint names that say nothing: legs and arms from the mirrored chains, sides from the way the feet
    point, head and neck from the trunk above the arms (every limb joint and the head within 2 cm). Both
    bodies: on the CMU performer a nameless collar bone (xsens: 8.4 cm) is longer than the neck's (8.0 cm),
    and the head used to be sought up the collar."""
    for k, original in enumerate(originals):
        back = to_canonical(read_bvh_text(_opaque(convention_bvh(CONVENTIONS[name], original))))
        assert back.meta["detected"]["recognised_by"] == "hierarchy"
        assert not back.meta["detected"]["mirrored_labels"]
        scale = float(back.meta["detected"]["body_scaled"])
        n = min(back.n_frames, original.n_frames)
        error = np.abs(_relative(back.positions[:n]) - scale * _relative(original.positions[:n])).max()
        assert error < TOLERANCE_M, (name, k, error)


def test_a_long_prop_joint_under_a_hand_changes_nothing(originals: list[Motion]) -> None:
    """A held object (``Prop1``, 1.5 m) below the right hand, named or not."""
    from motion.bvh_write import tree_bvh_text
    from motion.conventions import UNITS_M, build

    conv, original = CONVENTIONS["mixamo"], originals[1]
    names, parents, pos, dirs, ends = build(conv, original.positions)
    hand = names.index(conv.prefix + "RightHand")
    along = pos[:, hand] - pos[:, parents[hand]]
    prop = pos[:, hand] + 1.5 * along / np.linalg.norm(along, axis=1, keepdims=True)
    at = hand + 1  # joints in depth-first order: the prop right after its hand
    names = [*names[:at], "Prop1", *names[at:]]
    parents = [*parents[:at], hand, *(q + 1 if q >= at else q for q in parents[at:])]
    pos = np.concatenate([pos[:, :at], prop[:, None], pos[:, at:]], axis=1)
    dirs = np.concatenate([dirs[:at], dirs[hand:hand + 1], dirs[at:]])
    ends = {(k + 1 if k >= at else k): v / UNITS_M[conv.units] for k, v in ends.items()}
    text = tree_bvh_text(names, parents, pos / UNITS_M[conv.units], original.fps, dirs, end_sites=ends)
    for variant in (text, _opaque(text)):
        back = to_canonical(read_bvh_text(variant))
        n = min(back.n_frames, original.n_frames)
        error = np.abs(_relative(back.positions[:n]) - _relative(original.positions[:n])).max()
        assert error < TOLERANCE_M, (back.meta["detected"]["recognised_by"], error)


def test_labels_named_from_the_camera_are_swapped_back(originals: list[Motion]) -> None:
    conv = CONVENTIONS["mixamo"]
    swapped = Convention(**{**conv.__dict__, "shoulder": "{S}Arm", "prefix": ""})
    original = originals[1]
    mirrored = Motion(original.positions[:, [JOINTS.index(n.replace("l_", "@").replace("r_", "l_").replace("@", "r_"))
                                             for n in JOINTS]], original.fps, list(JOINTS), list(PARENTS))
    back = to_canonical(read_bvh_text(convention_bvh(swapped, mirrored)))
    assert back.meta["detected"]["mirrored_labels"] is True
    error = np.abs(_relative(back.positions) - _relative(original.positions[: back.n_frames])).max()
    assert error < TOLERANCE_M


WALKER = "bandai/dataset-2/dataset-2_walk-turn-left_active_004.bvh.gz"  # test split: walks a curve across the floor


def _seen_from(motion: Motion, transform: np.ndarray) -> Motion:
    """The canonical motion with every point mapped by ``transform`` (3 x 3), written on the Mixamo rig and
    read back through recognition (no rig file)."""
    moved = Motion(motion.positions @ transform.T, motion.fps, list(JOINTS), list(PARENTS))
    return to_canonical(read_bvh_text(convention_bvh(CONVENTIONS["mixamo"], moved)))


def _pitch(deg: float) -> np.ndarray:
    return axis_rotation("X", np.float64(deg))


def _roll(deg: float) -> np.ndarray:
    return axis_rotation("Z", np.float64(deg))


@pytest.mark.parametrize(("name", "transform", "tilt"), [
    ("camera pitched 8 deg", _pitch(8.0), 8.0), ("camera rolled 15 deg", _roll(15.0), 15.0),
    ("camera pitched 25 deg", _pitch(-25.0), 25.0), ("level", np.eye(3), 0.0),
])
def test_a_tilted_camera_floor_is_levelled(name: str, transform: np.ndarray, tilt: float) -> None:
    """Camera-space exports (a depth camera looking down at the floor) tilt the whole scene; when the feet
    travel across the floor the plane they stand on says by how much, and the clip comes back level."""
    original = to_canonical(load_motion(CORPUS / WALKER)).slice_frames(0, 150)
    back = _seen_from(original, transform)
    assert back.meta["detected"]["floor_tilt_deg"] == pytest.approx(tilt, abs=0.5), name
    error = np.abs(_relative(back.positions) - _relative(original.positions[: back.n_frames])).max()
    assert error < TOLERANCE_M, (name, error)


def test_a_tilted_capture_read_through_a_rig_file_is_levelled_too(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """A rig file describes the rig, not one capture's camera: the tilt is levelled with a rig file (here the
    one `dancesearch rig --toml` writes) exactly as with recognition."""
    walker = to_canonical(load_motion(CORPUS / WALKER)).slice_frames(0, 150)
    path = tmp_path / "kinect_take.bvh"
    path.write_text(convention_bvh(CONVENTIONS["mixamo"],
                                   Motion(walker.positions @ _roll(15.0).T, walker.fps, list(JOINTS), list(PARENTS))))
    assert "floor_tilt_deg 1" in cli("rig", path).output
    (tmp_path / "rigs").mkdir()
    (tmp_path / "rigs" / "kinect.toml").write_text(cli("rig", path, "--toml").output)
    with_file, recognised = to_canonical(load_motion(path), load_rigs([tmp_path / "rigs"])), to_canonical(load_motion(path))
    assert with_file.meta["rig"].startswith("user-")
    assert with_file.meta["detected"]["floor_tilt_deg"] == pytest.approx(15.0, abs=0.5)
    assert np.abs(with_file.positions - recognised.positions).max() < 1e-3


def test_a_slope_under_an_upright_body_and_a_tilt_in_place_are_left_alone(originals: list[Motion]) -> None:
    """A floor that rises under an upright walker (a ramp: the body stays vertical) is not a camera tilt;
    a performer who stays in place gives no plane to measure, so a tilt there is kept (a known limit)."""
    walker = to_canonical(load_motion(CORPUS / WALKER)).slice_frames(0, 150)
    for slope in (6.0, 10.0):  # the whole body carried up the ramp, upright, as its pelvis moves forward
        positions = walker.positions.copy()
        positions[..., 1] += np.tan(np.radians(slope)) * positions[:, :1, 2]
        on_ramp = Motion(positions, walker.fps, list(JOINTS), list(PARENTS))
        assert _seen_from(on_ramp, np.eye(3)).meta["detected"]["floor_tilt_deg"] == 0.0, slope
    in_place = _seen_from(originals[0], _pitch(12.0))
    assert in_place.meta["detected"]["floor_tilt_deg"] == 0.0


def test_an_unrecognised_rig_says_what_it_found_and_where_to_go() -> None:
    text = ("HIERARCHY\nROOT a\n{\n OFFSET 0 0 0\n CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation\n"
            " JOINT b\n {\n  OFFSET 0 10 0\n  CHANNELS 3 Zrotation Xrotation Yrotation\n  End Site\n  {\n   OFFSET 0 5 0\n  }\n }\n}\n"
            "MOTION\nFrames: 2\nFrame Time: 0.04\n0 0 0 0 0 0 0 0 0\n0 0 0 0 0 0 0 0 0\n")
    with pytest.raises(UnrecognisedRig) as err:
        to_canonical(read_bvh_text(text))
    message = str(err.value)
    assert "Joints found (2): a, b" in message and "closest known convention" in message
    assert "dancesearch rig FILE --toml" in message and "docs/skeletons.md" in message


# ---------------------------------------------------------------- plausibility failure classes

def _user_rig(tmp_path: Path, **fields: str) -> list:
    lines = [f"{k} = {v}" for k, v in {"name": '"user"', "units": '"cm"', "up": '"y"', **fields}.items()]
    lines.append("[joints]")
    conv_names = {"pelvis": {"mean": ["mixamorig:LeftUpLeg", "mixamorig:RightUpLeg"]}}
    names = {"spine": "Spine", "chest": "Spine2", "neck": "Neck", "head": "Head"}
    for side, word in (("l", "Left"), ("r", "Right")):
        names.update({f"{side}_shoulder": f"{word}Arm", f"{side}_elbow": f"{word}ForeArm", f"{side}_wrist": f"{word}Hand",
                      f"{side}_hip": f"{word}UpLeg", f"{side}_knee": f"{word}Leg", f"{side}_ankle": f"{word}Foot",
                      f"{side}_toe": f"{word}ToeBase"})
    for joint in JOINTS:
        if joint in conv_names:
            lines.append(f'{joint} = {{ mean = ["mixamorig:LeftUpLeg", "mixamorig:RightUpLeg"] }}')
        else:
            lines.append(f'{joint} = "mixamorig:{names[joint]}"')
    folder = tmp_path / "rigs"
    folder.mkdir(exist_ok=True)
    (folder / "user.toml").write_text("\n".join(lines) + "\n")
    return load_rigs([folder])


@pytest.mark.parametrize("fields, variant, problem", [
    ({"up": '"y"'}, {"up": "z"}, "wrong up axis"),
    ({"units": '"m"'}, {}, "wrong units"),
])
def test_implausible_mappings_are_refused(tmp_path: Path, originals: list[Motion], fields: dict, variant: dict,
                                          problem: str) -> None:
    rigs = _user_rig(tmp_path, **fields)
    motion = read_bvh_text(convention_bvh(CONVENTIONS["mixamo"], originals[1], **variant))
    with pytest.raises(ImplausibleMotion, match=problem):
        to_canonical(motion, rigs)


def test_swapped_labels_in_a_rig_file_are_refused(tmp_path: Path, originals: list[Motion]) -> None:
    rigs = _user_rig(tmp_path)
    text = convention_bvh(CONVENTIONS["mixamo"], originals[1]).replace("Left", "@").replace("Right", "Left")
    with pytest.raises(ImplausibleMotion, match="left and right swapped"):
        to_canonical(read_bvh_text(text.replace("@", "Right")), rigs)
    assert to_canonical(read_bvh_text(convention_bvh(CONVENTIONS["mixamo"], originals[1])), rigs).n_frames > 0


def test_stretching_bones_are_refused(originals: list[Motion]) -> None:
    pos = originals[0].positions.copy()
    pos[:, J["l_wrist"]] += np.linspace(0, 0.6, len(pos))[:, None] * np.array([1.0, 0, 0])
    with pytest.raises(ImplausibleMotion, match="limb bones change length"):
        to_canonical(Motion(pos, 25.0, list(JOINTS), list(PARENTS), {}))


def test_ingest_stores_good_files_beside_refused_ones_and_exits_1(tmp_path: Path, originals: list[Motion],
                                                                  cli) -> None:  # type: ignore[no-untyped-def]
    archive = tmp_path / "archive"
    archive.mkdir()
    (archive / "Salsa_Basic.bvh").write_text(convention_bvh(CONVENTIONS["mixamo"], originals[1]))
    (archive / "take_002.bvh").write_text(convention_bvh(CONVENTIONS["vicon_inch_zup"], originals[0]))
    from motion.npz import write_npz
    pos = originals[0].positions.copy()
    pos[:, J["r_wrist"]] *= np.linspace(1.0, 1.6, len(pos))[:, None]
    write_npz(Motion(pos, 25.0, list(JOINTS), list(PARENTS), {}), archive / "stretchy.npz")
    result = cli("ingest", archive, "--data-dir", tmp_path / "lib", "--workers", 0, "--json")
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert (summary["added"], summary["failed"]) == (2, 1) and result.exit_code == 1
    errors = cli("errors", "--data-dir", tmp_path / "lib", "--json")
    assert "limb bones change length" in json.loads(errors.output)[0]["reason"]
    clips = json.loads(cli("clips", "--data-dir", tmp_path / "lib", "--json").output)
    vicon = next(c for c in clips if c["path"].endswith("take_002.bvh"))
    assert vicon["details"]["units"] == "inch" and vicon["details"]["up"] == "z"
    assert vicon["details"]["fps"]["source"] == "file"


def test_ingest_keeps_every_row_of_a_file_whose_frames_count_is_one_short(tmp_path: Path, originals: list[Motion],
                                                                          cli) -> None:  # type: ignore[no-untyped-def]
    """A real-export quirk: ``Frames:`` one less than the rows (here also with old-Mac CR line ends)."""
    archive = tmp_path / "archive"
    archive.mkdir()
    text = convention_bvh(CONVENTIONS["mixamo"], originals[1])
    rows = int(re.search(r"Frames:\s*(\d+)", text).group(1))  # type: ignore[union-attr]
    (archive / "exact.bvh").write_text(text)
    (archive / "short_header.bvh").write_text(re.sub(r"Frames:\s*\d+", f"Frames: {rows - 1}", text).replace("\n", "\r"))
    result = cli("ingest", archive, "--data-dir", tmp_path / "lib", "--workers", 0, "--json")
    assert result.exit_code == 0 and json.loads(result.output.strip().splitlines()[-1])["added"] == 2
    clips = {Path(c["path"]).name: c for c in json.loads(cli("clips", "--data-dir", tmp_path / "lib", "--json").output)}
    assert clips["short_header.bvh"]["duration"] == pytest.approx(clips["exact.bvh"]["duration"])
    assert clips["short_header.bvh"]["details"]["read_notes"] == [
        f"Frames says {rows - 1} but {rows} complete rows of values follow: all {rows} read"]
    assert "read_notes" not in clips["exact.bvh"]["details"]


def test_ingest_exits_2_when_nothing_went_in(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    archive = tmp_path / "bad"
    archive.mkdir()
    (archive / "broken.bvh").write_text("HIERARCHY\nROOT x\n{\n")
    result = cli("ingest", archive, "--data-dir", tmp_path / "lib", "--workers", 0, "--json")
    assert result.exit_code == 2 and json.loads(result.output.strip().splitlines()[-1])["failed"] == 1


def test_rig_command_explains_and_its_toml_reproduces_the_mapping(tmp_path: Path, originals: list[Motion],
                                                                  cli) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "Hero_Dance.bvh"
    path.write_text(convention_bvh(CONVENTIONS["cgspeed"], originals[1], root_mode="offset+absolute"))
    text = cli("rig", path).output
    assert "recognised: CMU cgspeed" in text and "l_hip        <- LeftUpLeg" in text and "plausible      yes" in text
    toml = cli("rig", path, "--toml").output
    (tmp_path / "rigs").mkdir()
    (tmp_path / "rigs" / "hero.toml").write_text(toml)
    with_file = to_canonical(load_motion(path), load_rigs([tmp_path / "rigs"]))
    recognised = to_canonical(load_motion(path))
    assert with_file.meta["rig"] == "user-hero_dance"
    assert np.abs(with_file.positions - recognised.positions).max() < 1e-3
    broken = tmp_path / "two.bvh"
    broken.write_text("HIERARCHY\nROOT a\n{\n OFFSET 0 0 0\n CHANNELS 3 Xposition Yposition Zposition\n}\n"
                      "MOTION\nFrames: 1\nFrame Time: 0.04\n0 0 0\n")
    assert cli("rig", broken).exit_code == 1


def test_motion_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "x.fbx"
    path.write_bytes(b"Kaydara FBX Binary")
    with pytest.raises(MotionError, match="x.fbx"):
        load_motion(path)
