"""Property tests for the BVH reader: generated files parse to the right shapes and values, and
mutated or truncated files either parse or raise MotionFileError - never any other exception."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from motion.data import Motion
from motion.formats import MotionFileError, load_motion_bytes

ROTATION_ORDERS = ["XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX"]


@st.composite
def bvh_files(draw: st.DrawFn) -> tuple[str, int, int, int, np.ndarray]:
    """(text, joints, end sites, frames, root positions) of a random valid BVH file."""
    n_joints = draw(st.integers(1, 6))
    parents = [-1] + [draw(st.integers(0, j - 1)) for j in range(1, n_joints)]
    six = [True] + [draw(st.booleans()) for _ in range(1, n_joints)]
    orders = [draw(st.sampled_from(ROTATION_ORDERS)) for _ in range(n_joints)]
    n_frames = draw(st.integers(1, 5))
    newline, indent = draw(st.sampled_from(["\n", "\r\n"])), draw(st.sampled_from(["  ", "\t", " \t"]))
    children = {j: [c for c in range(n_joints) if parents[c] == j] for j in range(n_joints)}
    lines: list[str] = ["HIERARCHY"]

    def emit(j: int, depth: int) -> None:
        pad = indent * depth
        lines.append(f"{pad}{'ROOT' if j == 0 else 'JOINT'} J{j}")
        lines.append(pad + "{")
        lines.append(f"{pad}{indent}OFFSET {j} {j + 1}.5 -{j}")
        pos = "Xposition Yposition Zposition " if six[j] else ""
        lines.append(f"{pad}{indent}CHANNELS {6 if six[j] else 3} {pos}{' '.join(a + 'rotation' for a in orders[j])}")
        for c in children[j]:
            emit(c, depth + 1)
        if not children[j]:
            lines.extend([f"{pad}{indent}End Site", f"{pad}{indent}{{", f"{pad}{indent * 2}OFFSET 0 1 0", f"{pad}{indent}}}"])
        lines.append(pad + "}")

    emit(0, 0)
    n_channels = sum(6 if s else 3 for s in six)
    values = np.asarray(draw(st.lists(st.floats(-360, 360, allow_nan=False, width=32),
                                      min_size=n_frames * n_channels, max_size=n_frames * n_channels)))
    values = values.reshape(n_frames, n_channels).round(4)
    lines += ["MOTION", f"Frames: {n_frames}", f"Frame Time: {draw(st.sampled_from(['0.0333333', '0.04', '0.008333']))}"]
    lines += [" ".join(f"{v:.4f}" for v in row) for row in values]
    n_end = sum(1 for j in range(n_joints) if not children[j])
    root = values[:, :3] + np.array([0.0, 1.5, 0.0])
    return newline.join(lines) + newline, n_joints, n_end, n_frames, root


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bvh_files())
def test_generated_files_parse_to_the_right_shapes(case: tuple[str, int, int, int, np.ndarray]) -> None:
    text, n_joints, n_end, n_frames, root = case
    motion = load_motion_bytes(text.encode(), "gen.bvh")
    assert motion.positions.shape == (n_frames, n_joints + n_end, 3)
    assert motion.joint_names[:1] == ["J0"]
    assert sum(n.endswith("_end") for n in motion.joint_names) == n_end
    assert all(p < i for i, p in enumerate(motion.parents))
    assert np.allclose(motion.positions[:, 0], root, atol=1e-3)


def _load_or_motion_error(data: bytes) -> Motion | None:
    try:
        return load_motion_bytes(data, "mutant.bvh")
    except MotionFileError as exc:
        assert str(exc).startswith("mutant.bvh: ") and exc.reason
        return None


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bvh_files(), st.data())
def test_truncations_parse_or_fail_cleanly(case: tuple[str, int, int, int, np.ndarray], data: st.DataObject) -> None:
    text = case[0].encode()
    cut = data.draw(st.integers(0, len(text) - 1))
    motion = _load_or_motion_error(text[:cut])
    if motion is not None:  # a cut can only succeed inside the last frame's final number or its trailing space
        assert motion.n_frames == case[3]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bvh_files(), st.data())
def test_random_mutations_parse_or_fail_cleanly(case: tuple[str, int, int, int, np.ndarray], data: st.DataObject) -> None:
    text = bytearray(case[0].encode())
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(text) - 1))
        action = data.draw(st.sampled_from(["replace", "insert", "delete", "token"]))
        if action == "replace":
            text[pos] = data.draw(st.integers(0, 255))
        elif action == "insert":
            text[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
        elif action == "delete":
            del text[pos:pos + data.draw(st.integers(1, 20))]
        else:
            token = data.draw(st.sampled_from([b"{", b"}", b"nan", b"1e999", b"-", b"End Site", b"JOINT",
                                               b"MOTION\n", b"Frames: 99999999", b"CHANNELS 7", b"\xff\xfe"]))
            text[pos:pos] = b" " + token + b" "
    _load_or_motion_error(bytes(text))
