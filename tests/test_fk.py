"""Rotation matrices and forward kinematics against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from motion.fk import (
    axis_rotation,
    euler_to_matrix,
    forward_kinematics,
    kabsch,
    matrix_to_euler_zyx,
    minimal_rotation,
)


def test_axis_rotations_turn_axes_right_handed() -> None:
    x, y, z = np.eye(3)
    assert np.allclose(axis_rotation("X", np.array(90.0)) @ y, z)
    assert np.allclose(axis_rotation("Y", np.array(90.0)) @ z, x)
    assert np.allclose(axis_rotation("Z", np.array(90.0)) @ x, y)


def test_euler_order_composes_in_listed_order() -> None:
    v = np.array([0.0, 0.0, 10.0])
    xy = euler_to_matrix(np.array([[90.0, 90.0]]), "XY")[0]   # Rx(90) @ Ry(90)
    yx = euler_to_matrix(np.array([[90.0, 90.0]]), "YX")[0]   # Ry(90) @ Rx(90)
    assert np.allclose(xy @ v, [10.0, 0.0, 0.0])
    assert np.allclose(yx @ v, [0.0, -10.0, 0.0])


def test_euler_batches_over_leading_axes() -> None:
    angles = np.random.default_rng(0).uniform(-180, 180, (4, 5, 3))
    batched = euler_to_matrix(angles, "ZXY")
    assert batched.shape == (4, 5, 3, 3)
    assert np.allclose(batched[2, 3], euler_to_matrix(angles[2, 3][None], "ZXY")[0])


def test_forward_kinematics_two_joint_chain() -> None:
    parents = [-1, 0, 1]
    translations = np.array([[[1.0, 2.0, 3.0], [0.0, 10.0, 0.0], [0.0, 5.0, 0.0]]])
    rotations = np.broadcast_to(np.eye(3), (1, 3, 3, 3)).copy()
    rotations[0, 0] = axis_rotation("Z", np.array(90.0))
    rotations[0, 1] = axis_rotation("X", np.array(90.0))
    pos = forward_kinematics(parents, translations, rotations)[0]
    assert np.allclose(pos, [[1, 2, 3], [-9, 2, 3], [-9, 2, 8]])


def test_forward_kinematics_rejects_children_before_parents() -> None:
    with pytest.raises(ValueError, match="parents must come first"):
        forward_kinematics([-1, 2, 0], np.zeros((3, 3)), None)


def test_zyx_euler_round_trip_including_gimbal_lock() -> None:
    rng = np.random.default_rng(1)
    angles = rng.uniform(-170, 170, (200, 3))
    angles[:5, 1] = [90.0, -90.0, 90.0, -90.0, 89.9999999]
    mats = euler_to_matrix(angles, "ZYX")
    assert np.allclose(euler_to_matrix(matrix_to_euler_zyx(mats), "ZYX"), mats, atol=1e-6)


def test_minimal_rotation_and_kabsch() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(50, 3)), rng.normal(size=(50, 3))
    rot = minimal_rotation(a, b)
    unit = b / np.linalg.norm(b, axis=1, keepdims=True)
    assert np.allclose(np.einsum("tab,tb->ta", rot, a / np.linalg.norm(a, axis=1, keepdims=True)), unit)
    flip = minimal_rotation(np.array([0.0, 1.0, 0.0]), np.array([0.0, -1.0, 0.0]))
    assert np.allclose(flip @ [0.0, 1.0, 0.0], [0.0, -1.0, 0.0]) and np.isclose(np.linalg.det(flip), 1.0)
    truth = euler_to_matrix(rng.uniform(-180, 180, (20, 3)), "ZXY")
    rest = rng.normal(size=(3, 3))
    assert np.allclose(kabsch(rest, np.einsum("tab,kb->tka", truth, rest)), truth)
