"""Windows, heading-relative features, augmentations and normalisation."""

from __future__ import annotations

import numpy as np
import pytest

from motion.augment import AugmentConfig, augment, mirror, rotate, scale
from motion.normalize import Normalizer
from motion.skeleton import JOINT_INDEX, JOINTS, N_JOINTS
from motion.windows import (
    extract_window,
    facing_angles,
    make_windows,
    to_window_frame,
    window_features,
    window_starts,
)


def _standing_pose() -> np.ndarray:
    """A T-ish pose facing +Z: the performer's left is +X."""
    pose = np.zeros((N_JOINTS, 3), np.float32)
    for name in JOINTS:
        x = 0.2 if name.startswith("l_") else -0.2 if name.startswith("r_") else 0.0
        y = {"head": 1.7, "neck": 1.5, "chest": 1.3, "spine": 1.1, "pelvis": 1.0}.get(name, 1.0)
        for part, h in (("shoulder", 1.45), ("elbow", 1.2), ("wrist", 1.0), ("hip", 0.95),
                        ("knee", 0.5), ("ankle", 0.08), ("toe", 0.02)):
            if name.endswith(part):
                y = h
        pose[JOINT_INDEX[name]] = (x, y, 0.1 if name.endswith("toe") else 0.0)
    return pose


def test_window_starts_cover_clip() -> None:
    assert window_starts(0) == []
    assert window_starts(10) == [0]
    assert window_starts(50) == [0]
    assert window_starts(90) == [0, 20, 40]
    assert window_starts(95) == [0, 20, 40, 45]  # tail covered by an end-aligned window
    with pytest.raises(ValueError):
        window_starts(10, size=0)


def test_extract_window_pads_and_warps() -> None:
    pos = np.arange(10, dtype=np.float32)[:, None, None] * np.ones((1, 2, 3), np.float32)
    w = extract_window(pos, 5, size=8)
    assert w.shape == (8, 2, 3)
    np.testing.assert_allclose(w[:, 0, 0], [5, 6, 7, 8, 9, 9, 9, 9])
    fast = extract_window(pos, 0, size=4, speed=1.5)
    np.testing.assert_allclose(fast[:, 0, 0], [0, 1.5, 3, 4.5])


def test_make_windows_shapes() -> None:
    pos = np.random.default_rng(0).normal(size=(95, N_JOINTS, 3)).astype(np.float32)
    wins, starts = make_windows(pos)
    assert wins.shape == (4, 50, N_JOINTS, 3) and starts == [0, 20, 40, 45]
    np.testing.assert_array_equal(wins[3], pos[45:95])


def test_facing_and_window_frame_invariance() -> None:
    pose = _standing_pose()
    assert abs(facing_angles(pose)) < 1e-6  # facing +Z
    rng = np.random.default_rng(1)
    walk = np.stack([pose + np.array([0, 0, 0.05 * t], np.float32) for t in range(50)])[None]
    feats = to_window_frame(walk)
    # The same walk done facing another way, somewhere else in the room, gives the same features.
    angle = rng.uniform(-np.pi, np.pi)
    moved = rotate(walk, np.array([angle])) + np.array([3.0, 0.0, -2.0], np.float32)
    np.testing.assert_allclose(to_window_frame(moved), feats, atol=1e-5)
    # Travel is kept: the pelvis moves forward (+Z) in the window frame, and height is kept.
    pelvis = feats[0, :, JOINT_INDEX["pelvis"]]
    assert pelvis[-1, 2] - pelvis[0, 2] == pytest.approx(0.05 * 49, abs=1e-4)
    assert pelvis[0, 1] == pytest.approx(1.0)
    assert window_features(walk).shape == (1, 50, N_JOINTS * 3)


def test_mirror_swaps_sides_and_is_an_involution() -> None:
    pose = _standing_pose()
    pose[JOINT_INDEX["l_wrist"], 1] = 2.0  # left hand raised
    win = np.broadcast_to(pose, (1, 3, N_JOINTS, 3)).copy()
    m = mirror(win)
    assert m[0, 0, JOINT_INDEX["r_wrist"], 1] == pytest.approx(2.0)  # now the right hand is up
    assert m[0, 0, JOINT_INDEX["r_wrist"], 0] < 0  # and it is on the performer's right (-X)
    np.testing.assert_allclose(mirror(m), win)


def test_augment_ranges() -> None:
    pose = _standing_pose()
    win = np.broadcast_to(pose, (64, 5, N_JOINTS, 3)).copy()
    out = augment(win, np.random.default_rng(0), AugmentConfig(mirror_prob=0.0))
    height = out[:, 0, JOINT_INDEX["head"], 1] / pose[JOINT_INDEX["head"], 1]
    assert np.all((height > 0.949) & (height < 1.051)) and height.std() > 0.01
    yaw = np.degrees(facing_angles(out[:, 0]))
    assert np.all(np.abs(yaw) <= 15.01) and yaw.std() > 2
    np.testing.assert_allclose(scale(win, np.full(64, 2.0, np.float32)), win * 2)


def test_normalizer_roundtrip(tmp_path) -> None:
    feats = np.random.default_rng(0).normal(3.0, 2.0, size=(20, 50, 6)).astype(np.float32)
    feats[..., 5] = 1.0  # constant feature: std floored, no division by zero
    norm = Normalizer.fit(feats)
    z = norm.transform(feats)
    assert np.abs(z[..., :5].mean()) < 0.05 and abs(z[..., :5].std() - 1) < 0.05
    assert np.all(np.isfinite(z))
    norm.save(tmp_path / "n.npz")
    again = Normalizer.load(tmp_path / "n.npz")
    np.testing.assert_allclose(again.inverse(z), feats, atol=1e-5)
    with pytest.raises(ValueError):
        Normalizer.fit(np.zeros((0, 50, 6), np.float32))
