"""Every corpus source mapped onto the canonical skeleton is a plausible, upright, correctly sided
human; plus rig files (user rigs, errors, detection) and resampling."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from motion.canonical import resample, to_canonical
from motion.data import Motion, MotionError
from motion.formats import load_motion
from motion.npz import write_npz
from motion.rigmap import RigError, builtin_rigs, detect_rig, load_rigs
from motion.skeleton import CANONICAL_FPS, JOINT_INDEX, JOINTS

CORPUS = Path(os.environ.get("DANCESEARCH_CORPUS", Path(__file__).resolve().parents[2] / "shared" / "corpus"))
SOURCES = {
    "bandai": ("bandai/dataset-1/dataset-1_walk_normal_001.bvh.gz", "bandai"),
    "bandai-2": ("bandai/dataset-2/dataset-2_walk_normal_004.bvh.gz", "bandai"),
    "cmu": ("cmu/005_01.bvh.gz", "cmu_iclone"),
    "cmu-boneroot": ("cmu/007_01.bvh.gz", "cmu_iclone"),
    "perfume": ("perfume/kashiyuka.bvh.gz", "perfume"),
    "ballroom": ("ballroom/DANCE_W_22/skeletons.json.gz", "ballroom"),
    "deepmimic": ("deepmimic/002_01.json.gz", "deepmimic"),  # a walk; its character file lies beside it
}
J = JOINT_INDEX


def _canonical(key: str) -> Motion:
    path = CORPUS / SOURCES[key][0]
    if not path.exists():
        pytest.skip(f"corpus file {path} not available")
    return to_canonical(load_motion(path))


def _bone(pos: np.ndarray, a: str, b: str) -> float:
    return float(np.median(np.linalg.norm(pos[:, J[a]] - pos[:, J[b]], axis=-1)))


def _forward(pos: np.ndarray) -> np.ndarray:
    """Horizontal facing from the feet alone (ankle -> toe), independent of the left/right labels."""
    feet = pos[:, J["l_toe"]] - pos[:, J["l_ankle"]] + pos[:, J["r_toe"]] - pos[:, J["r_ankle"]]
    feet[:, 1] = 0.0
    return feet / np.linalg.norm(feet, axis=-1, keepdims=True)


@pytest.mark.parametrize("key", list(SOURCES))
def test_source_maps_to_a_plausible_human(key: str) -> None:
    motion = _canonical(key)
    pos = motion.positions
    assert motion.meta["rig"] == SOURCES[key][1]
    assert motion.fps == CANONICAL_FPS and motion.joint_names == list(JOINTS)
    assert 0.3 < _bone(pos, "l_hip", "l_knee") < 0.6 and 0.3 < _bone(pos, "r_knee", "r_ankle") < 0.6
    assert 0.2 < _bone(pos, "l_shoulder", "l_elbow") < 0.4 and 0.15 < _bone(pos, "r_elbow", "r_wrist") < 0.35
    assert 0.2 < _bone(pos, "l_shoulder", "r_shoulder") < 0.5 and 0.1 < _bone(pos, "l_hip", "r_hip") < 0.35
    assert np.mean(pos[:, J["head"], 1] > pos[:, J["pelvis"], 1] + 0.3) > 0.95
    lowest = pos[:, [J["l_ankle"], J["l_toe"], J["r_ankle"], J["r_toe"]], 1].min(axis=1)
    assert -0.05 < np.percentile(lowest, 5) < 0.15, "feet should rest near y = 0"
    assert 0.7 < np.median(pos[:, J["pelvis"], 1]) < 1.2


@pytest.mark.parametrize("key", list(SOURCES))
def test_left_is_the_performers_left(key: str) -> None:
    pos = _canonical(key).positions
    left_dir = np.cross(np.array([0.0, 1.0, 0.0]), _forward(pos))  # right-handed, Y up: left = up x forward
    for a, b in (("l_hip", "r_hip"), ("l_shoulder", "r_shoulder")):
        side = np.sum((pos[:, J[a]] - pos[:, J[b]]) * left_dir, axis=-1)
        assert np.mean(side > 0) > 0.85, f"{a} is not on the performer's left"


@pytest.mark.parametrize("key", ["bandai", "cmu", "cmu-boneroot", "deepmimic"])
def test_walkers_face_where_they_walk(key: str) -> None:
    pos = _canonical(key).positions
    velocity = np.gradient(pos[:, J["pelvis"]], axis=0)
    velocity[:, 1] = 0.0
    moving = np.linalg.norm(velocity, axis=-1) > 0.01
    assert np.mean(np.sum(velocity[moving] * _forward(pos)[moving], axis=-1) > 0) > 0.8


def test_cmu_t_pose_frame_is_dropped_and_time_resampled() -> None:
    motion = _canonical("cmu")
    source_frames, source_fps = motion.meta["source_frames"], motion.meta["source_fps"]
    assert source_fps == 60.0 and motion.meta["dropped_frames"] == 1
    assert motion.n_frames == int((source_frames - 2) / 60.0 * 25.0) + 1


def test_resample_is_linear_in_time() -> None:
    ramp = np.arange(61, dtype=np.float64)[:, None, None] * np.ones((1, 2, 3))
    out = resample(ramp, 60.0, 25.0)
    assert out.shape == (26, 2, 3)
    assert np.allclose(out[:, 0, 0], np.arange(26) * 60.0 / 25.0)
    assert resample(ramp[:1], 60.0, 25.0).shape == (1, 2, 3)


def _tiny_rig(extra: str = "") -> str:
    names = "\n".join(f'{j} = "S_{j}"' for j in JOINTS if j != "spine")
    return f'name = "tiny"\nunits = "mm"\nup = "z"\n{extra}\n[joints]\n{names}\nspine = {{ lerp = ["S_pelvis", "S_chest"], t = 0.25 }}\n'


def test_user_rig_from_directory_units_up_axis_and_mirror(tmp_path: Path) -> None:
    (tmp_path / "tiny.toml").write_text(_tiny_rig())
    rigs = load_rigs([tmp_path, tmp_path / "missing"])
    assert {r.name for r in builtin_rigs()} < {r.name for r in rigs}
    pos = np.zeros((2, len(JOINTS), 3), dtype=np.float32)
    pos[:, J["head"]] = [100.0, 200.0, 1700.0]  # mm, Z up
    pos[:, J["chest"]] = [0.0, 0.0, 1400.0]
    motion = Motion(pos, 50.0, [f"S_{j}" for j in JOINTS], [-1] * len(JOINTS))
    out = to_canonical(motion, rigs, check=False)  # two joints placed by hand: the mapping arithmetic only
    assert out.meta["rig"] == "tiny"
    assert np.allclose(out.positions[0, J["head"]], [0.1, 1.7, -0.2], atol=1e-6)
    assert np.allclose(out.positions[0, J["spine"]], [0.0, 0.35, 0.0], atol=1e-6)
    (tmp_path / "tiny.toml").write_text(_tiny_rig("mirror = true"))
    assert np.allclose(to_canonical(motion, load_rigs([tmp_path]), check=False).positions[0, J["head"], 0], -0.1)
    with pytest.raises(MotionError, match="implausible"):
        to_canonical(motion, rigs)


def test_npz_with_canonical_names_maps_through_the_canonical_rig(tmp_path: Path) -> None:
    pos = np.random.default_rng(0).normal(size=(5, len(JOINTS), 3)).astype(np.float32)
    write_npz(Motion(pos, 25.0, list(JOINTS), [-1] * len(JOINTS)), tmp_path / "c.npz")
    out = to_canonical(load_motion(tmp_path / "c.npz"), check=False)  # random points: the mapping only
    shift = out.meta["detected"]["floor_shift_m"]  # random feet far below the floor are moved up onto it
    assert out.meta["rig"] == "canonical" and np.allclose(out.positions, pos + np.array([0, shift, 0]), atol=1e-5)


@pytest.mark.parametrize(("text", "message"), [
    ("name = \n", "invalid TOML"),
    ('name = "x"\nup = "x"\n[joints]\n', "'up' must be"),
    ('name = "x"\n[joints]\npelvis = "a"\n', "missing"),
    (_tiny_rig().replace('units = "mm"', 'units = "furlong"'), "units must be"),
    (_tiny_rig().replace('t = 0.25 }', 't = 0.25, u = 1 }'), "joint 'spine' must be"),
    (_tiny_rig().replace('name = "tiny"', 'name = "tiny"\nfloor = "magic"'), "'floor' must be"),
])
def test_malformed_rig_files_name_the_file(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "bad.toml").write_text(text)
    with pytest.raises(RigError, match=message) as info:
        load_rigs([tmp_path])
    assert "bad.toml" in str(info.value)


def test_unknown_skeleton_names_closest_rig_and_missing_joints() -> None:
    names = ["Hips", "Spine", "Chest", "Neck", "Head", "UpperArm_L", "LowerArm_L", "Hand_L"]
    with pytest.raises(MotionError, match=r"closest is 'bandai'.*UpperLeg_L"):
        detect_rig(names, load_rigs())
