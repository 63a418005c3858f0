"""Embedding windows on Ray actors (issue 12, :mod:`indexer.ray_embed`): the index a Ray sync builds has
the same window ids, clusters and vectors as the local path's (the shipped model, through the CLI:
``ingest --ray --workers 2`` and ``reindex --ray``); at most ``per_actor`` batches per actor are in
flight and results come back in submission order; an actor killed mid-run has its batches retried on
another, and a batch that keeps killing its actors stops the sync with a clear error and no index saved.

One local Ray runtime of 2 CPUs per module (Ray's start-up is the cost); most tests use the
deterministic fake model of tests/fake_model.py in the actors, so they start in a second or two.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from db import annotations as ann_db
from db.config import LibraryLocation
from db.library import Library
from indexer.embedding import ClipWindows, EmbeddedWindows, LocalWindowEmbedder, WindowWork, embed_work
from indexer.ray_embed import RayEmbedError, RayEmbedOptions, RayWindowEmbedder, actor_device, plan_pool
from indexer.ray_ingest import RayOptions, RayRuntime
from search import indexes as indexes_mod
from search.ann import load as load_index
from search.indexes import WINDOWS, IndexBuildError, IndexManager
from tests.fake_model import FakeModel, add_clip, build_library, jump, walk
from tests.fixtures import write_valid

MODEL = Path(__file__).resolve().parents[1] / "models" / "default"
POISON_FRAMES = 77
"""A clip of this many frames kills the process embedding it (see :class:`PoisonModel`)."""


# ---- models built in the actors (module level, so Ray pickles them by reference) ------------------

def fake_model(device: str) -> FakeModel:
    return FakeModel()


class SlowModel(FakeModel):
    """The fake model, taking ``delay`` seconds per batch (so batches overlap and actors can be killed)."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    def embed_clips(self, clips: Any) -> tuple[np.ndarray, np.ndarray]:
        time.sleep(self.delay)
        return super().embed_clips(clips)


def slow_model(device: str) -> SlowModel:
    return SlowModel(0.15)


class PoisonModel(FakeModel):
    """The fake model, except that its process dies (like an out-of-memory kill) on a clip of POISON_FRAMES."""

    def embed_clips(self, clips: Any) -> tuple[np.ndarray, np.ndarray]:
        if any(len(p) == POISON_FRAMES for p, _ in clips):
            os._exit(1)
        return super().embed_clips(clips)


def poison_model(device: str) -> PoisonModel:
    return PoisonModel()


def broken_model(device: str) -> FakeModel:
    raise ValueError("cannot load the model /nowhere: no config.json")


# ---- fixtures --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def runtime() -> Iterator[RayRuntime]:
    """A local Ray runtime of 2 CPUs, shared by the module (this process is the driver)."""
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'dancesearch[ray]')")
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="WARNING",
             object_store_memory=80 * 2**20)
    try:
        with RayRuntime(RayOptions()) as rt:  # joins the runtime above; leaves it open
            yield rt
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def location(tmp_path_factory: pytest.TempPathFactory) -> LibraryLocation:
    """The fake model's seven clips plus five more jumps and walks: 12 clips of 3-13 windows."""
    loc = LibraryLocation.resolve(tmp_path_factory.mktemp("ray-embed") / "lib")
    with Library.open(loc) as lib:
        build_library(lib)
        for i in range(3):
            add_clip(lib, jump(3.0 + i, 0.2 + 0.05 * i), f"extra_jump_{i}")
        for i in range(2):
            add_clip(lib, walk(4.0 + i, 0.8 + 0.1 * i), f"extra_walk_{i}")
    return loc


def _items(lib: Library, per_item: int = 1) -> list[WindowWork]:
    """Every window of the library as work items of ``per_item`` clips, clip by clip."""
    table = ann_db.window_table(lib)
    keys = ann_db.motion_keys(lib, np.unique(table.clip_ids).tolist())
    clips = [ClipWindows(int(c), keys[int(c)], table.starts[table.clip_ids == c], table.ids[table.clip_ids == c])
             for c in np.unique(table.clip_ids)]
    return [WindowWork(tuple(clips[i:i + per_item])) for i in range(0, len(clips), per_item)]


def _options(lib: Library, factory: Any, **kw: Any) -> RayEmbedOptions:
    return RayEmbedOptions(factory, str(lib.store.root), use_gpu=False, **kw)


def _same_result(got: EmbeddedWindows, want: EmbeddedWindows) -> None:
    assert got.version == want.version and got.skipped == want.skipped
    np.testing.assert_allclose(got.vectors, want.vectors, atol=1e-6)
    np.testing.assert_array_equal(got.clusters, want.clusters)


# ---- without Ray -----------------------------------------------------------------------------

def test_pool_plan_uses_gpus_when_the_cluster_has_them() -> None:
    opts = RayEmbedOptions(fake_model, "/store")
    assert plan_pool({"CPU": 64.0, "GPU": 4.0}, opts) == (4, True)  # one actor per GPU, on CUDA
    assert plan_pool({"CPU": 64.0}, opts) == (16, False)  # CPU actors, at most MAX_ACTORS by default
    assert plan_pool({"CPU": 2.0}, opts) == (2, False)
    assert plan_pool({"CPU": 8.0, "GPU": 2.0}, RayEmbedOptions(fake_model, "/s", use_gpu=False, actors=3)) == (3, False)
    assert plan_pool({"CPU": 2.0}, RayEmbedOptions(fake_model, "/s", actors=5)) == (2, False)  # never unplaceable
    with pytest.raises(RayEmbedError, match="reports no GPU"):
        plan_pool({"CPU": 8.0}, RayEmbedOptions(fake_model, "/s", use_gpu=True))


def test_actor_device_falls_back_to_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    assert actor_device(False) == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert actor_device(True) == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert actor_device(True) == "cuda"


class _OtherModelEmbedder(LocalWindowEmbedder):
    """An embedder whose model is not the index's (e.g. a node loading another model directory)."""

    def describe(self) -> dict[str, Any]:
        return {"on": "elsewhere"}


def test_vectors_of_another_model_are_refused(location: LibraryLocation, tmp_path: Path) -> None:
    with Library.open(location) as lib:
        mgr = IndexManager(lib, FakeModel(), tmp_path / "indexes", progress=False,  # type: ignore[arg-type]
                           window_embedder=_OtherModelEmbedder(FakeModel(version="other"), lib.store))
        with pytest.raises(IndexBuildError, match="embedded by model 'other', but the active model is 'fake-v1'"):
            mgr.sync()
        assert not (tmp_path / "indexes" / WINDOWS).exists()


# ---- on Ray ----------------------------------------------------------------------------------

def test_results_come_in_order_and_in_flight_stays_bounded(runtime: RayRuntime, location: LibraryLocation) -> None:
    with Library.open(location) as lib:
        items = _items(lib)
        expected = [embed_work(FakeModel(), lib.store, item) for item in items]
        submitted: list[int] = []
        with RayWindowEmbedder(runtime, _options(lib, slow_model, actors=2, on_submit=submitted.append)) as emb:
            pulled = 0

            def source() -> Iterator[WindowWork]:
                nonlocal pulled
                for item in items:
                    pulled += 1
                    yield item

            ahead = []
            for n, (item, result) in enumerate(emb.embed(source()), start=1):
                ahead.append(pulled - n + 1)  # read from the source but not yet consumed (this one included)
                assert item is items[n - 1]
                _same_result(result, expected[n - 1])
            assert n == len(items) == 12
            bound = emb.max_in_flight
            stats = emb.describe()
    assert bound == 4 and stats["actors"] == 2 and stats["device"] == "cpu"
    assert max(ahead) <= bound and max(submitted) <= bound, (ahead, submitted)
    assert max(ahead) == bound  # it does read ahead (both actors busy), up to the bound and no further
    assert stats["peak_in_flight"] == bound and stats["batches"] == 12 and stats["retried"] == 0


def test_a_killed_actor_has_its_batches_retried(runtime: RayRuntime, location: LibraryLocation) -> None:
    ray = runtime.ray
    with Library.open(location) as lib:
        items = _items(lib)
        expected = [embed_work(FakeModel(), lib.store, item) for item in items]
        with RayWindowEmbedder(runtime, _options(lib, slow_model, actors=2)) as emb:
            got = []
            for item, result in emb.embed(items):
                if not got:
                    victim = emb.actors[0]
                    assert victim.in_flight > 0  # killed with work queued on it
                    ray.kill(victim.handle)
                got.append((item, result))
            stats = emb.describe()
    assert [item for item, _ in got] == items
    for (_, result), want in zip(got, expected, strict=True):
        _same_result(result, want)
    assert stats["actors_lost"] == 1 and stats["retried"] >= 1 and stats["batches"] == len(items)


def test_a_batch_that_keeps_killing_actors_fails_the_sync_and_saves_nothing(
        runtime: RayRuntime, location: LibraryLocation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "lib"
    shutil.copytree(location.data_dir, data)
    loc = LibraryLocation.resolve(data)
    with Library.open(loc) as lib:
        add_clip(lib, walk(POISON_FRAMES / 25), "poison")  # the last clip: earlier batches are in first
        n_windows = len(ann_db.window_table(lib))
        monkeypatch.setattr(indexes_mod, "ADD_CHUNK", 10)  # batches are added and marked before the failure
        root = tmp_path / "indexes"
        options = _options(lib, poison_model, actors=1, batch_windows=8, max_attempts=2)
        with RayWindowEmbedder(runtime, options) as emb:
            mgr = IndexManager(lib, FakeModel(), root, progress=False, window_embedder=emb)  # type: ignore[arg-type]
            with pytest.raises(RayEmbedError, match=r"died 2 times \(killed, out of memory or node lost") as err:
                mgr.sync()
            stats = emb.describe()
        assert "the index was not saved" in str(err.value)
        assert stats["actors_lost"] == 2 and stats["batches"] > 0
        assert not (root / WINDOWS).exists()  # nothing half-written on disk
        marked = sum(v == "fake-v1" for v in ann_db.window_table(lib).model_versions)
        assert 0 < marked < n_windows
    # The next sync (here, locally) embeds what is missing, the rows marked before the failure included.
    with Library.open(loc) as lib:
        report = IndexManager(lib, FakeModel(), root, progress=False).sync()[WINDOWS]  # type: ignore[arg-type]
        assert report.embedded == n_windows and report.size == n_windows
        assert report.embedded_on == {"on": "local"}


def test_an_actor_that_cannot_load_the_model_is_a_clear_error(runtime: RayRuntime, location: LibraryLocation) -> None:
    with Library.open(location) as lib:
        emb = RayWindowEmbedder(runtime, _options(lib, broken_model, actors=1))
        with pytest.raises(RayEmbedError, match="cannot load the model: ValueError: cannot load the model /nowhere"):
            next(iter(emb.embed(_items(lib))))
        assert emb.actors == []


# ---- the CLI, with the shipped model ---------------------------------------------------------

def _windows(data: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[str | None, ...]]:
    """(window ids, their vectors in the saved index, their clusters and model versions in the DB)."""
    index = load_index(data / "indexes" / WINDOWS)
    with Library.open(LibraryLocation.resolve(data)) as lib:
        table = ann_db.window_table(lib)
    ids = np.sort(index.ids())
    np.testing.assert_array_equal(ids, table.ids)
    return ids, index.vectors_for(ids), table.clusters, table.model_versions


def _local_reference(data: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[str | None, ...]]:
    """The same, for the local path: the shipped model syncing the indexes in this process (its text
    encoder replaced by zeros, which only the descriptions index uses, to keep the test short)."""
    import torch

    from embedders.runtime import DanceSearchModel

    class NoTextModel(DanceSearchModel):
        def minilm(self, texts: Any) -> torch.Tensor:
            return torch.zeros(len(texts), 384)

    with Library.open(LibraryLocation.resolve(data)) as lib:
        report = IndexManager(lib, NoTextModel(MODEL), data / "indexes", progress=False).sync()[WINDOWS]
    assert report.embedded_on == {"on": "local"} and report.embedded == report.size > 0
    return _windows(data)


def test_cli_ingest_and_reindex_on_ray_equal_the_local_path(runtime: RayRuntime, tmp_path: Path, cli: Any) -> None:
    if not (MODEL / "config.json").is_file():
        pytest.skip(f"the shipped model {MODEL} is missing")
    write_valid(tmp_path / "archive", 8, n_frames=300)
    local, on_ray = tmp_path / "local", tmp_path / "ray"
    first = cli("ingest", tmp_path / "archive", "--workers", "0", "--data-dir", local, "--json")
    assert first.exit_code == 0, first.output
    shutil.copytree(local, on_ray)  # the same library (same window ids), not yet indexed
    ids, vectors, clusters, versions = _local_reference(local)

    # ingest --ray: the files are already in (skipped); the index sync that follows embeds on 2 actors.
    res = cli("ingest", tmp_path / "archive", "--ray", "--workers", "2", "--model", MODEL, "--data-dir", on_ray,
              "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout.strip().splitlines()[-1])
    windows = doc["indexed"]["indexes"]["windows"]
    assert windows["embedded_on"]["on"] == "ray" and windows["embedded_on"]["actors"] == 2
    assert windows["embedded_on"]["windows"] == windows["embedded"] == windows["size"] == len(ids)
    r_ids, r_vectors, r_clusters, r_versions = _windows(on_ray)
    np.testing.assert_array_equal(r_ids, ids)
    np.testing.assert_array_equal(r_clusters, clusters)
    assert r_versions == versions and None not in versions
    np.testing.assert_allclose(r_vectors, vectors, atol=1e-5)

    # reindex --ray --re-embed embeds every window on actors again, to the same vectors.
    res = cli("reindex", "--re-embed", "--ray", "--model", MODEL, "--data-dir", on_ray)
    assert res.exit_code == 0, res.output
    assert f"{len(ids)} windows embedded on 2 Ray actors (cpu)" in res.stdout
    r_ids, r_vectors, r_clusters, _ = _windows(on_ray)
    np.testing.assert_array_equal(r_ids, ids)
    np.testing.assert_array_equal(r_clusters, clusters)
    np.testing.assert_allclose(r_vectors, vectors, atol=1e-5)


def test_cli_needs_a_model_to_index_and_ray_for_reindex(tmp_path: Path, cli: Any,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    write_valid(tmp_path / "arch", 1)
    res: Any = cli("ingest", tmp_path / "arch", "--ray", "--data-dir", tmp_path / "lib")
    assert res.exit_code == 2 and "--no-index ingests without syncing the indexes" in res.output
    monkeypatch.setattr("indexer.ray_ingest.ray_available", lambda: False)
    res = cli("reindex", "--ray", "--data-dir", tmp_path / "lib")
    assert res.exit_code == 2 and "pip install 'dancesearch[ray]'" in res.output
