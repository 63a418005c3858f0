"""Mixed read/write load, short (issue 11): 8 reading clients and one client ingesting and deleting, over
a real HTTP server (uvicorn) on the real engine with the fake model, for 8 s: no errors, no read ever
sees a half-ingested or half-deleted clip, and the library is whole afterwards. The same code,
:func:`dancesearch.bench.load.run_mixed_load`, measures 60 s with the shipped model in ``dancesearch bench``
(docs/bench/bench.md, "Mixed read/write load")."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from pydantic import SecretStr

from dancesearch.bench.load import MIXED_API_KEY, run_mixed_load
from dancesearch.bench.queries import TextPool
from dancesearch.service.app import create_app
from dancesearch.service.settings import ServiceSettings
from tests.live_server import live_server

pytestmark = pytest.mark.slow


def _npz(positions: np.ndarray) -> bytes:
    from motion.skeleton import CANONICAL_FPS, JOINTS, PARENTS

    buf = io.BytesIO()
    np.savez(buf, positions=positions.astype(np.float32), fps=np.float64(CANONICAL_FPS),
             joint_names=np.asarray(JOINTS), parents=np.asarray(PARENTS))
    return buf.getvalue()


def test_mixed_read_write_load(tmp_path: Path) -> None:

    from db.config import LibraryLocation
    from db.library import Library
    from search.engine import Engine
    from tests.fake_model import FakeModel, arms, build_library, jump, spin, walk

    location = LibraryLocation.resolve(tmp_path / "lib")
    with Library.open(location) as lib:
        before = len(build_library(lib))
    engine = Engine.open(location, FakeModel(), progress=False, ingest_workers=0)
    app = create_app(ServiceSettings(data_dir=tmp_path / "lib", api_key=SecretStr(MIXED_API_KEY)), lambda _s: engine)
    files = [(f"new_{i}.npz", _npz(make(3.0 + 0.2 * i))) for i, make in enumerate((jump, walk, spin, arms))]
    texts = TextPool(["jumping", "walking forward", "spinning around", "raising both arms", "a happy jump",
                      "a slow walk", "waving", "a waltz turn"])
    with live_server(app) as port:
        result = run_mixed_load(f"http://127.0.0.1:{port}", texts, files, seconds=8.0, readers=8)
    assert result["errors"] == 0, result["error_examples"]
    assert result["inconsistent_reads"] == 0, result["inconsistent_examples"]
    assert result["ingests"] >= 2 and result["deletes"] >= 2, result
    assert result["reads"] > 50 and result["latency"]["p99"] > 0
    assert result["target"]["verdict"] == "MET"
    with Library.open(location) as lib:          # every clip the writer added was deleted again
        clips = lib.list_clips()
        assert len(clips) == before
        assert set(lib.store.keys()) == {c.motion_key for c in clips}
