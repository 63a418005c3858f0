"""The content-addressed motion store: layout, round trip, atomic writes, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from db.store import MotionStore, StoreError, motion_key


def _motion(n: int = 10, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 19, 3)).astype(np.float32)


def test_round_trip_and_layout(tmp_path: Path) -> None:
    store = MotionStore(tmp_path / "motions")
    pos = _motion()
    key = store.put(pos)
    assert key == motion_key(pos) and len(key) == 64
    assert store.path_for(key) == tmp_path / "motions" / key[:2] / f"{key}.npy"
    assert store.has(key)
    got = store.get(key)
    assert got.dtype == np.float32 and got.shape == (10, 19, 3)
    np.testing.assert_array_equal(got, pos)
    assert list(store.keys()) == [key]


def test_same_content_same_key_distinct_content_distinct_key(tmp_path: Path) -> None:
    store = MotionStore(tmp_path)
    a = store.put(_motion(seed=1))
    mtime = store.path_for(a).stat().st_mtime_ns
    assert store.put(_motion(seed=1).astype(np.float64)) == a  # float64 input is stored as float32
    assert store.path_for(a).stat().st_mtime_ns == mtime  # not rewritten
    assert store.put(_motion(seed=2)) != a
    assert store.put(_motion(n=5, seed=1)) != a


@pytest.mark.parametrize("shape", [(10, 18, 3), (10, 19), (0, 19, 3)])
def test_rejects_non_canonical_arrays(tmp_path: Path, shape: tuple[int, ...]) -> None:
    with pytest.raises(StoreError, match="shape"):
        MotionStore(tmp_path).put(np.zeros(shape, np.float32))


def test_missing_corrupt_and_invalid_keys(tmp_path: Path) -> None:
    store = MotionStore(tmp_path)
    with pytest.raises(StoreError, match="missing"):
        store.get("ab" * 32)
    key = store.put(_motion())
    store.path_for(key).write_bytes(b"not an npy file")
    with pytest.raises(StoreError, match="unreadable"):
        store.get(key)
    with pytest.raises(StoreError, match="invalid motion key"):
        store.path_for("../../etc/passwd")


def test_failed_write_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = MotionStore(tmp_path)
    pos = _motion()

    def boom(fh: object, arr: object, allow_pickle: bool = False) -> None:
        fh.write(b"\x93NUMPY half")  # type: ignore[attr-defined]
        raise OSError("disk full")

    monkeypatch.setattr(np, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        store.put(pos)
    assert not store.has(motion_key(pos))
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_remove_orphans(tmp_path: Path) -> None:
    store = MotionStore(tmp_path)
    keep = store.put(_motion(seed=1))
    drop = store.put(_motion(seed=2))
    (store.path_for(keep).parent / ".stale-123.tmp").write_bytes(b"x")
    assert store.remove_orphans({keep}) == 2
    assert store.has(keep) and not store.has(drop)
