"""DeepMimic motion JSON and character files: forward kinematics, the real corpus clips, finding the
character file, classify, malformed input, and the sidecar frame rate winning over the file's."""

from __future__ import annotations

import copy
import gzip
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from indexer.ingest import Ingester, IngestOptions
from indexer.ingest_worker import WorkerConfig, init_worker, process_file
from indexer.metadata import load_manifest, load_metadata
from motion.canonical import to_canonical
from motion.data import MotionError
from motion.deepmimic import CHARACTER_NEEDED, parse_character, read_deepmimic_document
from motion.formats import MotionFileError, classify, load_motion, load_motion_bytes
from motion.skeleton import JOINT_INDEX
from tests.fixtures import write_valid

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
DM = CORPUS / "deepmimic"
CHARACTER = DM / "humanoid3d_jumper60kg.json"
TRAIN_CLIP = "deepmimic/002_01.json.gz"  # a walk, split "train"
SALSA_CLIP = "salsa/060_01.bvh.gz"  # header says 120 fps, the manifest 60; split "train"
S45, C45 = math.sin(math.pi / 4), math.cos(math.pi / 4)


def _joint(jid: int, name: str, kind: str, parent: int, attach: tuple[float, float, float],
           **extra: float) -> dict[str, Any]:
    return {"ID": jid, "Name": name, "Type": kind, "Parent": parent,
            "AttachX": attach[0], "AttachY": attach[1], "AttachZ": attach[2], **extra}


def _tiny_character() -> dict[str, Any]:
    """root -> a (spherical, 1 m up) -> b (revolute, 1 m up) -> c (fixed, 1 m along x)."""
    return {"Skeleton": {"Joints": [
        _joint(0, "root", "none", -1, (0, 0, 0)),
        _joint(1, "a", "spherical", 0, (0, 1, 0)),
        _joint(2, "b", "revolute", 1, (0, 1, 0)),
        _joint(3, "c", "fixed", 2, (1, 0, 0)),
    ]}}


def _frame(dt: float, root: tuple[float, ...], root_q: tuple[float, ...], a_q: tuple[float, ...],
           b: float) -> list[float]:
    return [dt, *root, *root_q, *a_q, b]


IDENTITY = (1.0, 0.0, 0.0, 0.0)
RZ90 = (C45, 0.0, 0.0, S45)  # w x y z: 90 degrees about +z


def _tiny_motion() -> dict[str, Any]:
    return {"Loop": "none", "Frames": [
        _frame(0.1, (1, 2, 3), IDENTITY, RZ90, -math.pi / 2),
        _frame(0.1, (1, 2, 3), IDENTITY, (2.0, 0.0, 0.0, 0.0), math.pi / 2),  # un-normalised identity
        _frame(0.0, (1, 2, 3), (C45, S45, 0.0, 0.0), IDENTITY, 0.0),  # root 90 degrees about +x
    ]}


def _pos(motion: Any, name: str) -> np.ndarray:
    return np.asarray(motion.positions[:, motion.joint_index(name)], dtype=np.float64)


def test_fk_of_a_tiny_character_spherical_and_revolute_joints() -> None:
    motion = read_deepmimic_document(_tiny_motion(), parse_character(_tiny_character()))
    assert motion.joint_names == ["root", "a", "b", "c"] and motion.parents == [-1, 0, 1, 2]
    assert motion.fps == pytest.approx(10.0) and motion.n_frames == 3
    assert motion.meta["format"] == "deepmimic-json" and motion.meta["loop"] == "none"
    np.testing.assert_allclose(_pos(motion, "root"), [[1, 2, 3]] * 3, atol=1e-6)
    # frame 0: a turned 90 degrees about z swings b from +y to -x; b's -90 degrees undoes the turn
    # for c, which then lies 1 m along +x from b.
    np.testing.assert_allclose(motion.positions[0], [[1, 2, 3], [1, 3, 3], [0, 3, 3], [1, 3, 3]], atol=1e-6)
    # frame 1: a straight (quaternion normalised); b's +90 degrees about z turns c from +x to +y.
    np.testing.assert_allclose(motion.positions[1], [[1, 2, 3], [1, 3, 3], [1, 4, 3], [1, 5, 3]], atol=1e-6)
    # frame 2: the root turned 90 degrees about x carries the +y chain onto +z.
    np.testing.assert_allclose(motion.positions[2], [[1, 2, 3], [1, 2, 4], [1, 2, 5], [2, 2, 5]], atol=1e-6)


def test_attach_theta_turns_the_joint_frame_and_bodies_give_end_points() -> None:
    character = _tiny_character()
    character["Skeleton"]["Joints"][2]["AttachThetaZ"] = math.pi / 2  # b's frame turned about z
    character["BodyDefs"] = [
        {"ID": 3, "Name": "c", "Shape": "sphere", "AttachX": 0, "AttachY": 0.5, "AttachZ": 0, "Param0": 0.2},
        {"ID": 1, "Name": "a", "Shape": "box", "AttachX": 0, "AttachY": 0.5, "AttachZ": 0, "Param0": 1.0},
    ]
    motion = read_deepmimic_document({"Frames": [_frame(0.05, (0, 0, 0), IDENTITY, IDENTITY, 0.0)]},
                                     parse_character(character))
    # Only the leaf c gets an end point (a has children); c's frame is b's, turned 90 degrees.
    assert motion.joint_names == ["root", "a", "b", "c", "c_end"] and motion.parents[-1] == 3
    np.testing.assert_allclose(motion.positions[0, 3], [0, 3, 0], atol=1e-6)  # (1, 0, 0) turned to +y
    np.testing.assert_allclose(motion.positions[0, 4], [-0.5, 3, 0], atol=1e-6)
    assert motion.fps == pytest.approx(20.0)  # a single frame: its own duration


def test_box_body_end_point_is_the_front_of_the_box() -> None:
    character = _tiny_character()
    character["BodyDefs"] = [{"ID": 3, "Shape": "box", "AttachX": 0.1, "AttachY": -0.2, "AttachZ": 0,
                              "Param0": 0.4, "Param1": 0.1, "Param2": 0.1}]
    motion = read_deepmimic_document({"Frames": [_frame(0.1, (0, 0, 0), IDENTITY, IDENTITY, 0.0)]},
                                     parse_character(character))
    np.testing.assert_allclose(_pos(motion, "c_end")[0], [1.3, 1.8, 0], atol=1e-6)


def test_uneven_durations_are_resampled_onto_one_rate() -> None:
    doc = {"Frames": [_frame(dt, (x, 0, 0), IDENTITY, IDENTITY, 0.0)
                      for dt, x in [(0.1, 0.0), (0.2, 1.0), (0.1, 3.0), (0.0, 4.0)]]}
    motion = read_deepmimic_document(doc, parse_character(_tiny_character()))
    assert motion.fps == pytest.approx(10.0) and motion.meta["resampled"] is True
    # times 0, .1, .3, .4 -> grid 0, .1, .2, .3, .4: x 0, 1, 2, 3, 4
    np.testing.assert_allclose(_pos(motion, "root")[:, 0], [0, 1, 2, 3, 4], atol=1e-6)


def test_real_clip_is_a_plausible_human() -> None:
    motion = load_motion(CORPUS / TRAIN_CLIP)  # the character lies beside it
    entry = {s["file"]: s for s in json.loads((CORPUS / "manifest.json").read_text())["sequences"]}[TRAIN_CLIP]
    assert entry["split"] == "train" and entry["format"] == "deepmimic-json"
    assert motion.n_frames == entry["frames"] and motion.fps == pytest.approx(30.0)
    assert str(motion.meta["character"]).endswith("humanoid3d_jumper60kg.json")
    assert motion.joint_names[:3] == ["root", "chest", "neck"]
    assert {"neck_end", "left_ankle_end", "right_ankle_end", "left_wrist", "right_knee"} <= set(motion.joint_names)
    head, root = _pos(motion, "neck_end"), _pos(motion, "root")
    feet = np.minimum(_pos(motion, "left_ankle_end")[:, 1], _pos(motion, "right_ankle_end")[:, 1])
    assert np.all(head[:, 1] > root[:, 1] + 0.5)  # walking: the head well above the pelvis
    assert 0.0 < np.median(feet) < 0.15  # the feet near the floor
    stature = head[:, 1] + 0.1 - (feet - 0.03)  # head sphere radius ~0.1, sole ~3 cm below the tip
    assert 1.5 < np.median(stature) < 1.8
    # The character's left is the performer's left: left hip on the left of the walking direction.
    forward = _pos(motion, "left_ankle_end") - _pos(motion, "left_ankle")
    forward[:, 1] = 0.0
    left = _pos(motion, "left_hip") - _pos(motion, "right_hip")
    assert np.mean(np.sum(np.cross([0.0, 1.0, 0.0], forward) * left, axis=-1) > 0) > 0.9


def test_real_clip_maps_onto_the_canonical_skeleton() -> None:
    canon = to_canonical(load_motion(CORPUS / TRAIN_CLIP))
    assert canon.meta["rig"] == "deepmimic" and canon.meta["fps_source"] == "file"
    p = canon.positions.astype(np.float64)
    j = JOINT_INDEX
    assert canon.n_frames == math.floor(84 / 30 * 25) + 1
    assert np.all(p[:, j["head"], 1] > p[:, j["neck"], 1]) and np.all(p[:, j["neck"], 1] > p[:, j["chest"], 1])
    assert np.all(p[:, j["chest"], 1] > p[:, j["spine"], 1]) and np.all(p[:, j["spine"], 1] > p[:, j["pelvis"], 1])
    toe = p[:, j["l_toe"]] - p[:, j["l_ankle"]]  # 65% of the way to the tip of the foot box (less a little from resampling)
    np.testing.assert_allclose(np.linalg.norm(toe, axis=-1), 0.65 * math.hypot(0.1335, 0.0225), atol=2e-3)
    assert np.median(np.linalg.norm(toe[:, [0, 2]], axis=-1)) > 0.07  # mostly ahead, not below
    root = load_motion(CORPUS / TRAIN_CLIP).positions[:, 0]  # the pelvis is the root joint
    np.testing.assert_allclose(p[[0, -1], j["pelvis"]], root[[0, 84]], atol=1e-5)  # 70 / 25 s = 84 / 30 s


def test_layout_of_every_corpus_clip_matches_the_character() -> None:
    character = parse_character(json.loads(CHARACTER.read_text()))
    assert character.values_per_frame == 44  # 1 + 7 + 8 spherical x 4 + 4 revolute x 1
    clips = sorted(DM.glob("*.json.gz"))
    assert len(clips) == 84
    widths = {len(f) for c in clips for f in json.loads(gzip.decompress(c.read_bytes()))["Frames"]}
    assert widths == {44}


def _clip_bytes(frames: int = 4) -> bytes:
    doc = json.loads(gzip.decompress((CORPUS / TRAIN_CLIP).read_bytes()))
    doc["Frames"] = doc["Frames"][:frames]
    return json.dumps(doc).encode()


def test_character_lookup_rules(tmp_path: Path) -> None:
    clip = tmp_path / "take.json"
    clip.write_bytes(_clip_bytes())
    with pytest.raises(MotionFileError) as err:
        load_motion(clip)
    assert str(err.value) == f"{clip}: {CHARACTER_NEEDED}"
    assert 'the JSON with a "Skeleton" key' in CHARACTER_NEEDED and "`character` column" in CHARACTER_NEEDED

    (tmp_path / "hero.json").write_bytes(CHARACTER.read_bytes())  # the one character beside it
    assert str(load_motion(clip).meta["character"]).endswith("hero.json")

    (tmp_path / "villain.json.gz").write_bytes(gzip.compress(CHARACTER.read_bytes()))
    with pytest.raises(MotionFileError, match=r"several DeepMimic character files.*hero\.json, villain\.json\.gz"):
        load_motion(clip)
    # An explicit character (e.g. from a sidecar) wins over what lies beside the clip.
    assert str(load_motion(clip, character=tmp_path / "villain.json.gz").meta["character"]).endswith("villain.json.gz")
    with pytest.raises(MotionFileError, match=r"character file .*nobody\.json.* does not exist"):
        load_motion(clip, character=tmp_path / "nobody.json")


def test_upload_bytes_need_a_character(tmp_path: Path) -> None:
    with pytest.raises(MotionFileError) as err:
        load_motion_bytes(_clip_bytes(), "upload.json")
    assert str(err.value) == f"upload.json: {CHARACTER_NEEDED}"
    motion = load_motion_bytes(gzip.compress(_clip_bytes(6)), "upload.json.gz", character=CHARACTER)
    assert motion.n_frames == 6 and motion.fps == pytest.approx(30.0)


def test_a_character_file_is_not_a_motion() -> None:
    with pytest.raises(MotionFileError, match="DeepMimic character file"):
        load_motion(CHARACTER)


def test_classify(tmp_path: Path) -> None:
    assert classify(CORPUS / TRAIN_CLIP) == "motion"
    assert classify(CHARACTER) == "ignored"
    gz = tmp_path / "char.json.gz"
    gz.write_bytes(gzip.compress(CHARACTER.read_bytes()))
    assert classify(gz) == "ignored"
    plain = tmp_path / "clip.json"
    plain.write_bytes(_clip_bytes())
    assert classify(plain) == "motion"


def _bad(mutate: Any) -> dict[str, Any]:
    doc = copy.deepcopy(_tiny_motion())
    mutate(doc)
    return doc


@pytest.mark.parametrize(("doc", "message"), [
    (_bad(lambda d: d["Frames"][1].pop()), r"frame 1 has 12 values, but the character's joints need 13 "
                                           r"\(1 duration \+ 7 root position and quaternion \+ 4 per spherical "
                                           r"joint x 1 \+ 1 per revolute joint x 1\)"),
    (_bad(lambda d: d["Frames"][2].__setitem__(5, float("nan"))), r"frame 2 holds NaN or infinite values"),
    (_bad(lambda d: d.pop("Frames")), r"missing 'Frames' key"),
    (_bad(lambda d: d.__setitem__("Frames", [])), r"no frames"),
    (_bad(lambda d: d["Frames"][0].__setitem__(3, "x")), r"'Frames' must hold only numbers"),
    (_bad(lambda d: d["Frames"][1].__setitem__(8, 0.0)), r"frame 1: the 'a' quaternion is zero"),
    (_bad(lambda d: d["Frames"][1].__setitem__(0, -0.1)), r"frame 1 has duration -0.1"),
])
def test_malformed_motion(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(MotionError, match=message):
        read_deepmimic_document(doc, parse_character(_tiny_character()))


def _bad_character(mutate: Any) -> dict[str, Any]:
    doc = _tiny_character()
    mutate(doc["Skeleton"]["Joints"])
    return doc


@pytest.mark.parametrize(("doc", "message"), [
    (_bad_character(lambda j: j[2].__setitem__("Type", "ball")), r"joint 'b' has unknown type 'ball'"),
    (_bad_character(lambda j: j[2].__setitem__("Type", "planar")), r"joint 'b' has type 'planar', which is not supported"),
    (_bad_character(lambda j: j[1].pop("Parent")), r"joint 'a' lacks the key 'Parent'"),
    (_bad_character(lambda j: j[3].__setitem__("AttachX", float("nan"))), r"joint 'c' AttachX is NaN"),
    (_bad_character(lambda j: j[3].__setitem__("Parent", 3)), r"joint 'c' has parent 3"),
    (_bad_character(lambda j: j[1].__setitem__("Type", "none")), r"only the root has type 'none'"),
    ({"Joints": []}, r"missing 'Skeleton' key"),
])
def test_malformed_character(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(MotionError, match=message):
        parse_character(doc)


def test_malformed_files_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "c.json").write_text(json.dumps(_tiny_character()))
    clip = tmp_path / "m.json"
    clip.write_text(json.dumps(_bad(lambda d: d["Frames"][0].append(1.0))))
    with pytest.raises(MotionFileError, match=r"m\.json: frame 0 has 14 values, but the character's joints need 13"):
        load_motion(clip)
    clip.write_text(json.dumps(_tiny_motion()).replace("0.1,", "NaN,", 1))  # JSON's NaN token
    with pytest.raises(MotionFileError, match=r"m\.json: frame 0 holds NaN"):
        load_motion(clip)
    (tmp_path / "c.json").write_text('{"Skeleton": {"Joints": [{"Name": "root"}]}, "x": 1}')
    with pytest.raises(MotionFileError, match=r"character file .*c\.json: joint 'root' lacks the key 'Type'"):
        load_motion(clip)


def test_manifest_carries_fps_and_character() -> None:
    entries = dict(load_manifest(CORPUS / "manifest.json"))
    dm = entries[str((CORPUS / TRAIN_CLIP).resolve())]
    assert dm.character == str(CHARACTER.resolve()) and dm.fps is None
    assert entries[str((CORPUS / SALSA_CLIP).resolve())].fps == 60.0


def test_sidecar_fps_wins_over_the_file() -> None:
    from_file = load_motion(CORPUS / SALSA_CLIP)
    assert from_file.fps == pytest.approx(120.0, rel=1e-3)
    assert from_file.meta["fps_source"] == "file" and from_file.meta["file_fps"] == from_file.fps
    motion = load_motion(CORPUS / SALSA_CLIP, fps=60.0)
    assert motion.fps == 60.0 and motion.n_frames == from_file.n_frames
    assert motion.meta["fps_source"] == "sidecar" and motion.meta["file_fps"] == pytest.approx(120.0, rel=1e-3)


def test_ingest_applies_sidecar_fps_and_character(tmp_path: Path, library: Any) -> None:
    clips = tmp_path / "clips"
    bvh = write_valid(clips, 1)[0]  # Frame Time 0.0333333: 30 fps in the file
    dm = clips / "walk.json"
    dm.write_bytes(_clip_bytes(30))
    elsewhere = tmp_path / "characters" / "body.json"
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(CHARACTER.read_bytes())
    sidecar = clips / "labels.csv"
    sidecar.write_text(f"file,fps,character,mood\n{bvh.name},60,,calm\n{dm.name},,../characters/body.json,\n")
    meta = load_metadata([sidecar])

    init_worker(WorkerConfig(str(tmp_path / "store"), metadata=meta), ignore_sigint=False)
    res = process_file(str(bvh))
    assert res.status == "ok", res.reason
    assert (res.orig_fps, res.fps_source) == (60.0, "sidecar") and res.file_fps == pytest.approx(30.0, rel=1e-4)
    assert res.frames == math.floor((40 - 1) / 60 * 25) + 1  # 40 frames at the sidecar's 60 fps
    res = process_file(str(dm))
    assert res.status == "ok", res.reason
    assert (res.rig, res.format, res.fps_source, res.orig_frames) == ("deepmimic", "deepmimic-json", "file", 30)

    init_worker(WorkerConfig(str(tmp_path / "store")), ignore_sigint=False)  # no sidecar, none beside
    res = process_file(str(dm))
    assert res.status == "failed" and res.reason == CHARACTER_NEEDED

    summary = Ingester(library, IngestOptions(workers=0, metadata=meta, progress=False)).run([clips])
    assert (summary.added, summary.failed, summary.ignored) == (2, 0, 1)  # labels.csv ignored
    by_name = {Path(c.path).name: c for c in library.list_clips()}
    assert by_name[bvh.name].orig_fps == 60.0 and by_name[bvh.name].labels == {"mood": "calm"}
    assert by_name[dm.name].rig == "deepmimic" and by_name[dm.name].orig_fps == pytest.approx(30.0)


def test_ingest_corpus_clip_with_the_manifest(library: Any) -> None:
    meta = load_metadata([CORPUS / "manifest.json"])
    summary = Ingester(library, IngestOptions(workers=0, metadata=meta, progress=False)).run([CORPUS / TRAIN_CLIP])
    assert (summary.added, summary.failed) == (1, 0), summary.errors
    clip = library.list_clips()[0]
    assert (clip.source, clip.format, clip.rig, clip.split) == ("deepmimic", "deepmimic-json", "deepmimic", "train")
    assert clip.orig_frames == 85 and clip.labels["description"] == "walk"
