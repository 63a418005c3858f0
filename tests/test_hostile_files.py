"""Mutated and truncated files of every supported format (issue 11): BVH, BVH.gz, positions NPZ, ballroom
JSON, DeepMimic JSON (with its character file), glTF and GLB, each cut short and damaged in fixed ways and
by hypothesis, through the upload endpoints (a clear 4xx naming the file, never a 5xx) and through
ingest (a recorded error naming the file with a one-line reason, never a crash or a half-written clip).
"""

from __future__ import annotations

import gzip
import io
import json
import random
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from dancesearch.service.app import create_app
from dancesearch.service.settings import ServiceSettings
from tests.fixtures import CORPUS, make_bvh

KEY = "hostile-key"
CHARACTER = CORPUS / "deepmimic" / "humanoid3d_jumper60kg.json"


def _canonical_motion() -> Any:
    from tests.fake_engine import jump

    return jump(3.0)


def _npz() -> bytes:
    from motion.npz import write_npz

    buf = io.BytesIO()
    motion = _canonical_motion()
    np.savez(buf, positions=motion.positions, fps=np.float64(motion.fps), joint_names=np.asarray(motion.joint_names),
             parents=np.asarray(motion.parents))
    assert write_npz  # the same layout write_npz produces (uncompressed here so byte damage reaches the arrays)
    return buf.getvalue()


def _gltf(binary: bool, tmp: Path) -> bytes:
    from motion.gltf_write import write_motion_gltf

    path = tmp / ("m.glb" if binary else "m.gltf")
    write_motion_gltf(_canonical_motion(), path)
    return path.read_bytes()


def _ballroom() -> bytes:
    doc = json.loads(gzip.decompress((CORPUS / "ballroom" / "DANCE_C_2" / "skeletons.json.gz").read_bytes())) \
        if (CORPUS / "ballroom" / "DANCE_C_2" / "skeletons.json.gz").exists() else None
    if doc is None:
        found = next((CORPUS / "ballroom").rglob("skeletons.json*"))
        raw = found.read_bytes()
        doc = json.loads(gzip.decompress(raw) if found.suffix == ".gz" else raw)
    doc["skeletons"] = doc["skeletons"][:60]
    doc["center"] = doc.get("center", [[0, 0, 0]])[:60]
    doc["length"] = 60
    return json.dumps(doc).encode()


def _deepmimic() -> bytes:
    doc = json.loads(gzip.decompress((CORPUS / "deepmimic" / "002_01.json.gz").read_bytes()))
    doc["Frames"] = doc["Frames"][:40]
    return json.dumps(doc).encode()


@pytest.fixture(scope="module")
def originals(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, bytes]]:
    """format -> (file name, valid bytes), each readable as it is."""
    tmp = tmp_path_factory.mktemp("formats")
    return {
        "bvh": ("take.bvh", make_bvh(60, shift=3.0).encode()),
        "bvh.gz": ("take.bvh.gz", gzip.compress(make_bvh(60, shift=7.0).encode(), mtime=0)),
        "npz": ("take.npz", _npz()),
        "ballroom": ("skeletons.json", _ballroom()),
        "deepmimic": ("walk.json", _deepmimic()),
        "gltf": ("take.gltf", _gltf(False, tmp)),
        "glb": ("take.glb", _gltf(True, tmp)),
    }


def _flip(data: bytes, seed: int, count: int) -> bytes:
    rng = random.Random(seed)
    out = bytearray(data)
    for _ in range(count):
        i = rng.randrange(len(out))
        out[i] ^= 1 << rng.randrange(8)
    return bytes(out)


MUTATIONS: dict[str, Callable[[bytes], bytes]] = {
    "empty": lambda d: b"",
    "one_byte": lambda d: d[:1],
    "cut_10": lambda d: d[: len(d) // 10],
    "cut_half": lambda d: d[: len(d) // 2],
    "cut_90": lambda d: d[: len(d) * 9 // 10],
    "cut_last": lambda d: d[:-1],
    "flip_1": lambda d: _flip(d, 1, 1),
    "flip_16": lambda d: _flip(d, 2, 16),
    "flip_head": lambda d: _flip(d[:64], 3, 8) + d[64:],
    "zero_middle": lambda d: d[: len(d) // 3] + b"\0" * (len(d) // 3) + d[2 * len(d) // 3:],
    "doubled": lambda d: d + d,
    "junk_tail": lambda d: d + bytes(range(256)),
    "reversed": lambda d: d[::-1],
}


def _cases(originals: dict[str, tuple[str, bytes]]) -> Iterator[tuple[str, str, bytes]]:
    for fmt, (name, data) in originals.items():
        for mutation, fn in MUTATIONS.items():
            yield f"{fmt}:{mutation}", name, fn(data)


def _client(tmp_path: Path) -> tuple[TestClient, Any]:
    from db.config import LibraryLocation
    from db.library import Library
    from search.engine import Engine
    from tests.fake_model import FakeModel, build_library

    location = LibraryLocation.resolve(tmp_path / "lib")
    with Library.open(location) as lib:
        build_library(lib)
    engine = Engine.open(location, FakeModel(), progress=False, ingest_workers=0)
    app = create_app(ServiceSettings(data_dir=tmp_path / "lib", api_key=SecretStr(KEY)), lambda _s: engine)
    return TestClient(app, raise_server_exceptions=False), engine


def _assert_clean(resp: Any, name: str, case: str) -> None:
    assert resp.status_code < 500, (case, resp.status_code, resp.text[:300])
    assert resp.headers["content-type"].startswith("application/json"), case
    if resp.status_code >= 400:
        detail = resp.json()["detail"]
        assert isinstance(detail, str) and name in detail, (case, detail)
        assert "Traceback" not in detail and "\n" not in detail.strip(), (case, detail)


def test_originals_are_valid(originals: dict[str, tuple[str, bytes]]) -> None:
    from motion.formats import load_motion_bytes

    for fmt, (name, data) in originals.items():
        character = CHARACTER if fmt == "deepmimic" else None
        assert load_motion_bytes(data, name, character=character).n_frames > 0, fmt


def test_mutated_uploads_get_a_clear_4xx(originals: dict[str, tuple[str, bytes]], tmp_path: Path) -> None:
    client, engine = _client(tmp_path)
    outcomes: dict[int, int] = {}
    with client:
        for case, name, data in _cases(originals):
            for path in ("/api/search/clip", "/api/describe"):
                resp = client.post(path, files={"file": (name, data, "application/octet-stream")})
                _assert_clean(resp, name, f"{case} {path}")
                outcomes[resp.status_code] = outcomes.get(resp.status_code, 0) + 1
    assert outcomes.get(400, 0) > 100, outcomes        # most damage is caught by the readers


def test_fuzzed_uploads_of_every_format(originals: dict[str, tuple[str, bytes]], tmp_path: Path) -> None:
    client, engine = _client(tmp_path)
    formats = sorted(originals)

    @settings(max_examples=70, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(fmt=st.sampled_from(formats), cut=st.floats(0, 1),
           edits=st.lists(st.tuples(st.floats(0, 1), st.binary(min_size=1, max_size=6)), max_size=5))
    def run(fmt: str, cut: float, edits: list[tuple[float, bytes]]) -> None:
        name, original = originals[fmt]
        data = bytearray(original[: max(1, int(len(original) * cut))] if cut < 0.5 else original)
        for where, replacement in edits:
            pos = min(int(where * len(data)), len(data))
            data[pos:pos + len(replacement)] = replacement
        resp = client.post("/api/search/clip", files={"file": (name, bytes(data), "application/octet-stream")})
        _assert_clean(resp, name, fmt)

    with client:
        run()


def test_mutated_files_through_ingest(originals: dict[str, tuple[str, bytes]], tmp_path: Path) -> None:
    """Every mutated file in one archive (DeepMimic clips with their character beside them): each one is
    either ingested whole or recorded as an error naming it with a one-line reason; the library is sound."""
    from db.config import LibraryLocation
    from db.library import Library
    from indexer.ingest import Ingester, IngestOptions

    archive = tmp_path / "archive"
    written: dict[Path, str] = {}
    for case, name, data in _cases(originals):
        fmt, mutation = case.split(":")
        folder = archive / fmt.replace(".", "_") / mutation
        folder.mkdir(parents=True)
        if fmt == "deepmimic":
            shutil.copy(CHARACTER, folder / CHARACTER.name)
        (folder / name).write_bytes(data)
        written[(folder / name).resolve()] = case
    with Library.open(LibraryLocation.resolve(tmp_path / "lib")) as lib:
        summary = Ingester(lib, IngestOptions(workers=0, progress=False)).run([archive])
        errors = {Path(e.path): e.reason for e in lib.list_errors()}
        clips = {Path(c.path): c for c in lib.list_clips()}
        with_windows = {w.clip_id for w in lib.iter_windows()}
        assert all(c.id in with_windows and lib.store.has(c.motion_key) for c in clips.values())
    # Files that no longer look like motion (e.g. a JSON cut to nothing) are ignored, never half-read.
    accounted = {p for p in written if p in errors or p in clips}
    assert summary.failed == len(errors) and summary.added + summary.skipped == len(clips)
    unaccounted = [written[p] for p in written if p not in accounted]
    assert len(unaccounted) <= summary.ignored, unaccounted
    for path, reason in errors.items():
        assert path in written, path
        assert reason.strip() and "Traceback" not in reason and "\n" not in reason.strip(), (written[path], reason)
    assert summary.failed > 50, summary   # most damage is refused, with a reason
    per_format: dict[str, int] = {}
    for path in errors:
        fmt = written[path].split(":")[0]
        per_format[fmt] = per_format.get(fmt, 0) + 1
    assert set(per_format) == set(originals) and min(per_format.values()) >= 5, per_format
