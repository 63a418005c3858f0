"""Contract tests run against every ANN backend, plus backend-specific and benchmark-helper checks.

A new backend adds one line to ``BACKEND_NAMES`` (and ``APPROXIMATE`` when it is approximate); the
exact NumPy backend is the oracle the others are compared with.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pytest

from search.ann import (
    BACKENDS,
    DimensionError,
    DuplicateIdError,
    IndexLoadError,
    IndexSaveError,
    InvalidInputError,
    Thresholds,
    UnknownBackendError,
    choose_backend,
    create,
    load,
)
from search.ann import faiss_backend as fb
from search.ann.compressed import IVFPQIndex, IVFSQIndex
from search.ann.exact import ExactIndex, exact_topk
from search.ann.faiss_backend import HNSWIndex, IVFIndex, choose_nlist, decide_gpu, gpu_count
from search.ann.measure import measure, recall_at_k

BACKEND_NAMES = ["exact", "flat", "ivf", "hnsw", "ivfpq", "ivfsq", "sharded"]
APPROXIMATE = ["flat", "ivf", "hnsw", "ivfpq", "ivfsq", "sharded"]
DIM = 16


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def clustered(n: int, dim: int, n_clusters: int, spread: float, seed: int) -> np.ndarray:
    """Unit vectors drawn around random centres (clustered, like real embeddings; not uniform)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters, dim))
    return unit(centres[rng.integers(0, n_clusters, n)] + spread * rng.standard_normal((n, dim)))


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """300 vectors with arbitrary, non-contiguous DB ids, and 20 queries."""
    rng = np.random.default_rng(1)
    vectors = clustered(320, DIM, 12, 0.8, seed=2)
    ids = np.sort(rng.choice(10**12, 300, replace=False)).astype(np.int64)[rng.permutation(300)]
    return vectors[:300], ids, vectors[300:]


@pytest.fixture(params=BACKEND_NAMES)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def built(backend: str, data: tuple[np.ndarray, np.ndarray, np.ndarray], **params: Any) -> Any:
    vectors, ids, _ = data
    index = create(backend, DIM, metadata={"model": "m1", "model_hash": "abc"}, **params)
    index.add(vectors, ids)
    return index


def oracle(vectors: np.ndarray, ids: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    return exact_topk(vectors, ids, queries, k)[1]


def test_every_registered_backend_is_tested() -> None:
    assert sorted(BACKENDS) == sorted(BACKEND_NAMES)


# ------------------------------------------------------------------ contract battery
def test_build_count_and_db_ids(backend: str, data: Any) -> None:
    vectors, ids, _ = data
    index = built(backend, data)
    assert len(index) == 300
    assert np.array_equal(np.sort(index.ids()), np.sort(ids))
    scores, found = index.search(vectors[:5], 3)
    assert scores.dtype == np.float32 and found.dtype == np.int64 and found.shape == (5, 3)
    assert np.array_equal(found[:, 0], ids[:5])  # each stored vector finds itself, under its DB id
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-5)
    assert (np.diff(scores, axis=1) <= 1e-6).all()


def test_save_load_same_results(backend: str, data: Any, tmp_path: Path) -> None:
    _, _, queries = data
    index = built(backend, data)
    before = index.search(queries, 10)
    index.save(tmp_path / "idx")
    config = json.loads((tmp_path / "idx" / "config.json").read_text())
    assert config["backend"] == backend and config["dim"] == DIM and config["metric"] == "ip"
    assert config["count"] == 300 and config["metadata"]["model_hash"] == "abc"
    assert {"numpy", "faiss"} <= set(config["versions"])
    loaded = load(tmp_path / "idx")
    assert type(loaded) is type(index) and len(loaded) == 300
    after = loaded.search(queries, 10)
    assert np.array_equal(before[1], after[1])
    np.testing.assert_allclose(before[0], after[0], rtol=1e-6)
    assert loaded.config["params"] == index.config["params"]


def test_append_after_load_and_resave(backend: str, data: Any, tmp_path: Path) -> None:
    vectors, ids, queries = data
    index = create(backend, DIM)
    index.add(vectors[:200], ids[:200])
    index.save(tmp_path / "idx")
    loaded = load(tmp_path / "idx")
    loaded.add(vectors[200:], ids[200:])
    assert len(loaded) == 300
    assert np.array_equal(loaded.search(vectors[250:255], 1)[1][:, 0], ids[250:255])
    assert loaded.remove(ids[:3]) == 3  # removal works on a loaded index too
    loaded.save(tmp_path / "idx")  # replaces the previous index
    assert len(load(tmp_path / "idx")) == 297
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx"]  # no temp or old dirs left


def test_remove_including_missing_ids(backend: str, data: Any, tmp_path: Path) -> None:
    vectors, ids, _ = data
    index = built(backend, data)
    gone = ids[:30]
    assert index.remove(np.concatenate([gone, [7, 8]])) == 30  # 7, 8 are not in the index
    assert index.remove([7]) == 0
    assert len(index) == 270 and not np.isin(gone, index.ids()).any()
    _, found = index.search(vectors[:30], 10)
    assert not np.isin(found, gone).any()
    index.save(tmp_path / "idx")
    assert len(load(tmp_path / "idx")) == 270
    index.add(vectors[:3], gone[:3])  # a removed id can be used again
    assert np.array_equal(index.search(vectors[:3], 1)[1][:, 0], gone[:3])


def test_remove_everything_then_add_again(backend: str, data: Any) -> None:
    vectors, ids, queries = data
    index = built(backend, data)
    assert index.remove(ids) == 300 and len(index) == 0
    assert (index.search(queries, 3)[1] == -1).all()
    index.add(vectors[:100], ids[:100])
    assert len(index) == 100
    assert np.array_equal(index.search(vectors[:5], 1)[1][:, 0], ids[:5])


def test_k_larger_than_n_pads(backend: str, data: Any) -> None:
    vectors, ids, queries = data
    index = create(backend, DIM)
    index.add(vectors[:5], ids[:5])
    scores, found = index.search(queries[:3], 8)
    assert found.shape == (3, 8) and scores.shape == (3, 8)
    assert (found[:, 5:] == -1).all() and np.isneginf(scores[:, 5:]).all()
    assert all(set(row[:5]) == set(ids[:5]) for row in found)


def test_empty_index(backend: str, tmp_path: Path) -> None:
    index = create(backend, DIM)
    scores, found = index.search(unit(np.ones((2, DIM))), 4)
    assert (found == -1).all() and np.isneginf(scores).all()
    assert index.remove([1, 2]) == 0
    index.save(tmp_path / "idx")
    assert len(load(tmp_path / "idx")) == 0


def test_duplicate_ids_raise(backend: str, data: Any) -> None:
    vectors, ids, _ = data
    index = built(backend, data)
    with pytest.raises(DuplicateIdError, match="already in the index"):
        index.add(vectors[:2], np.array([ids[0], 123], dtype=np.int64))
    with pytest.raises(DuplicateIdError, match="within the batch"):
        index.add(vectors[:2], np.array([5, 5], dtype=np.int64))
    assert len(index) == 300  # nothing was added by the failed calls


def test_dimension_and_input_errors(backend: str, data: Any) -> None:
    vectors, ids, _ = data
    index = built(backend, data)
    with pytest.raises(DimensionError, match=r"\(n, 16\)"):
        index.add(np.ones((2, DIM + 1), np.float32), [1, 2])
    with pytest.raises(DimensionError):
        index.search(np.ones((1, DIM - 1), np.float32), 3)
    with pytest.raises(DimensionError):
        index.search(vectors[0], 3)  # a 1-D query
    with pytest.raises(InvalidInputError):
        index.search(vectors[:1], 0)
    with pytest.raises(InvalidInputError, match="NaN"):
        index.add(np.full((1, DIM), np.nan, np.float32), [1])
    with pytest.raises(InvalidInputError, match="2 ids for 1 vectors"):
        index.add(vectors[:1], [1, 2])
    with pytest.raises(InvalidInputError, match="non-negative"):
        index.add(vectors[:1], [-3])


@pytest.mark.parametrize("path", ["exact_subset", "selector"])
def test_filter_by_allowed_ids(backend: str, path: str, data: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    vectors, ids, queries = data
    if path == "selector":
        monkeypatch.setattr(fb, "SUBSET_EXACT_MAX", 0)  # force the FAISS IDSelector path
    index = built(backend, data)
    allowed = ids[::3]
    mask = np.isin(ids, allowed)
    scores, found = index.search(queries, 10, allowed_ids=np.concatenate([allowed, [1, 2]]))
    assert np.isin(found, allowed).all()  # unknown ids 1, 2 are ignored, nothing outside the subset
    truth = oracle(vectors[mask], ids[mask], queries, 10)
    assert recall_at_k(found, truth) >= (1.0 if path == "exact_subset" or backend != "hnsw" else 0.9)
    _, none = index.search(queries[:2], 5, allowed_ids=np.array([], dtype=np.int64))
    assert (none == -1).all()
    if path == "selector" and backend == "hnsw":
        return  # a graph walk cannot promise to reach 2 of 300 nodes: why tiny subsets go exact
    _, few = index.search(queries[:2], 5, allowed_ids=ids[:2])
    assert (np.sort(few[:, :2], axis=1) == np.sort(ids[:2])).all() and (few[:, 2:] == -1).all()


def test_missing_and_corrupt_directories(backend: str, data: Any, tmp_path: Path) -> None:
    with pytest.raises(IndexLoadError, match="no such directory"):
        load(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(IndexLoadError, match="config.json is missing"):
        load(tmp_path / "empty")
    index = built(backend, data)
    good = index.save(tmp_path / "idx")
    components = sorted(p.relative_to(good) for p in good.rglob("*") if p.is_file() and p != good / "config.json")
    for component in components:  # nested too: a sharded index holds one index directory per shard
        broken = index.save(tmp_path / f"broken-{str(component).replace('/', '-')}")
        (broken / component).write_bytes(b"\x93NUMPY garbage" * 3)
        with pytest.raises(IndexLoadError, match=re.escape(str(broken))):
            load(broken)
        (broken / component).unlink()
        with pytest.raises(IndexLoadError):
            load(broken)
    config = json.loads((good / "config.json").read_text())
    (good / "config.json").write_text(json.dumps({**config, "count": 299}))
    with pytest.raises(IndexLoadError, match="config says 299"):
        load(good)
    (good / "config.json").write_text("{not json")
    with pytest.raises(IndexLoadError, match="unreadable"):
        load(good)
    (good / "config.json").write_text(json.dumps({**config, "backend": "annoy"}))
    with pytest.raises(UnknownBackendError, match="annoy"):
        load(good)


def test_save_is_atomic_and_refuses_foreign_dirs(backend: str, data: Any, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    vectors, ids, queries = data
    index = built(backend, data)
    target = index.save(tmp_path / "idx")
    before = load(target).search(queries, 5)
    index.add(unit(np.ones((1, DIM))), [42])

    def crash(directory: Path) -> None:
        (directory / "partial.bin").write_bytes(b"x")
        raise OSError("disk full")

    monkeypatch.setattr(index, "_write_components", crash)
    with pytest.raises(OSError, match="disk full"):
        index.save(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx"]
    assert np.array_equal(load(target).search(queries, 5)[1], before[1])  # old index intact
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(IndexSaveError, match="not an index directory"):
        create(backend, DIM).save(tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_vectors_for_returns_the_stored_vectors(backend: str, data: Any) -> None:
    """What a rebuild as another backend reads instead of re-embedding (float32 stores: exact)."""
    vectors, ids, _ = data
    index = built(backend, data)
    pick = np.array([5, 0, 299, 17])
    np.testing.assert_allclose(index.vectors_for(ids[pick]), vectors[pick], atol=1e-6)
    assert index.vectors_for(np.zeros(0, np.int64)).shape == (0, DIM)
    index.remove(ids[:1])
    with pytest.raises(InvalidInputError, match="not in the index"):
        index.vectors_for(ids[:2])


def test_unnormalised_vectors_warn(backend: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        create(backend, DIM).add(np.full((3, DIM), 2.0, np.float32), [1, 2, 3])
    assert "not L2-normalised" in caplog.text


# ------------------------------------------------------------------ recall against the oracle
@pytest.fixture(scope="module")
def recall_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """5000 clustered 64-d vectors with random DB ids, 200 held-out queries, exact top-10."""
    points = clustered(5200, 64, 100, 1.25, seed=7)
    ids = np.random.default_rng(8).choice(10**9, 5000, replace=False).astype(np.int64)
    vectors, queries = points[:5000], points[5000:]
    return vectors, ids, queries, oracle(vectors, ids, queries, 10)


@pytest.mark.parametrize("name", APPROXIMATE)
def test_recall_at_10_against_exact(name: str, recall_data: Any) -> None:
    """Default parameters (ivf: nlist 128, nprobe 16; hnsw: M 32, efSearch 64) reach recall >= 0.95."""
    vectors, ids, queries, truth = recall_data
    index = create(name, 64)
    index.add(vectors, ids)
    assert recall_at_k(index.search(queries, 10)[1], truth) >= 0.95


def test_recall_check_detects_a_weak_setting(recall_data: Any) -> None:
    """The recall data set is hard enough that probing one IVF list misses neighbours."""
    vectors, ids, queries, truth = recall_data
    index = create("ivf", 64, nprobe=1)
    index.add(vectors, ids)
    assert recall_at_k(index.search(queries, 10)[1], truth) < 0.95


# ------------------------------------------------------------------ backend specifics
def test_ivf_training_sizes_and_nprobe_persisted(data: Any, tmp_path: Path) -> None:
    vectors, ids, queries = data
    assert choose_nlist(10) == 1 and choose_nlist(5000) == 128 and choose_nlist(10**6) == 4000
    tiny = create("ivf", DIM)
    tiny.add(vectors[:10], ids[:10])  # too few to train lists: one list, exhaustive and exact
    assert tiny.config["state"]["nlist"] == 1
    assert np.array_equal(tiny.search(queries, 3)[1], oracle(vectors[:10], ids[:10], queries, 3))
    with pytest.raises(InvalidInputError, match="nlist=50"):
        create("ivf", DIM, nlist=50).add(vectors[:10], ids[:10])
    index = built("ivf", data, nlist=4, nprobe=2)
    index.save(tmp_path / "idx")
    loaded = load(tmp_path / "idx")
    assert isinstance(loaded, IVFIndex) and loaded.nprobe == 2 and loaded.config["state"]["nlist"] == 4
    loaded.nprobe = 4  # all lists: exact
    assert np.array_equal(loaded.search(queries, 5)[1], oracle(vectors, ids, queries, 5))
    with pytest.raises(InvalidInputError):
        create("ivf", DIM, nprobe=0)


def test_hnsw_tombstones_then_compaction(data: Any, tmp_path: Path) -> None:
    vectors, ids, queries = data
    index = built("hnsw", data)
    assert isinstance(index, HNSWIndex)
    index.remove(ids[:50])  # 50/300 below the compaction ratio: tombstoned
    assert index._index.ntotal == 300 and index._tombstones.size == 50
    index.save(tmp_path / "idx")
    loaded = load(tmp_path / "idx")
    assert len(loaded) == 250 and not np.isin(loaded.search(queries, 20)[1], ids[:50]).any()
    index.remove(ids[50:100])  # 100/300 tombstones: the graph is rebuilt from live vectors
    assert index._index.ntotal == 200 and index._tombstones.size == 0
    live = ids[100:]
    assert recall_at_k(index.search(queries, 10)[1], oracle(vectors[100:], live, queries, 10)) >= 0.95


def test_ivfpq_trains_at_min_train_and_states_memory(data: Any, tmp_path: Path) -> None:
    vectors, ids, queries = data
    index = create("ivfpq", DIM, min_train=200)
    assert isinstance(index, IVFPQIndex)
    index.add(vectors[:150], ids[:150])  # below min_train: untrained, searched exactly from the store
    assert not index.trained
    assert np.array_equal(index.search(queries, 10)[1], oracle(vectors[:150], ids[:150], queries, 10))
    index.add(vectors[150:], ids[150:])
    state = index.config["state"]
    assert index.trained and state["trained"] and state["m"] == 4 and state["nlist"] == choose_nlist(300)
    assert state["ram_bytes_per_vector"] == 4 + 16 and state["store_bytes_per_vector"] == DIM * 4
    assert index._index.ntotal == 300
    index.save(tmp_path / "idx")
    loaded = load(tmp_path / "idx")
    assert isinstance(loaded._chunks[0], np.memmap)  # the re-rank store is memory-mapped, not read
    assert np.array_equal(loaded.search(queries, 10)[1], index.search(queries, 10)[1])
    assert create("ivfpq", 256).config["state"]["m"] == 64  # 4 dims per one-byte code
    with pytest.raises(InvalidInputError, match="divide"):
        create("ivfpq", DIM, m=3)
    with pytest.raises(InvalidInputError, match="store"):
        create("ivfpq", DIM, store="int8")


def test_ivfpq_reranking_recovers_recall(recall_data: Any) -> None:
    """PQ codes alone (rerank 1) rank poorly; exact re-ranking of 10x candidates restores recall."""
    vectors, ids, queries, truth = recall_data
    index: Any = create("ivfpq", 64, m=8)
    index.add(vectors, ids)
    assert index.trained
    with_rerank = recall_at_k(index.search(queries, 10)[1], truth)
    index.rerank = 1
    codes_only = recall_at_k(index.search(queries, 10)[1], truth)
    assert with_rerank >= 0.95 and codes_only < 0.9 and codes_only < with_rerank


def test_ivfsq_codes_rank_nearly_exactly_where_pq_codes_do_not(recall_data: Any, tmp_path: Path) -> None:
    """SQ8 codes alone (rerank 1) keep the recall that PQ codes only reach after re-ranking; its state
    says one byte per dimension; it refuses PQ's knobs and a PQ index file."""
    vectors, ids, queries, truth = recall_data
    sq: Any = create("ivfsq", 64, nprobe=16, rerank=1)
    pq: Any = create("ivfpq", 64, m=8, nprobe=16, rerank=1)
    sq.add(vectors, ids)
    pq.add(vectors, ids)
    assert isinstance(sq, IVFSQIndex) and sq.trained and sq._index.code_size == 64
    sq_recall = recall_at_k(sq.search(queries, 10)[1], truth)
    pq_recall = recall_at_k(pq.search(queries, 10)[1], truth)
    assert sq_recall >= 0.95 and pq_recall < 0.9, (sq_recall, pq_recall)
    state = sq.config["state"]
    assert state["m"] is None and state["ram_bytes_per_vector"] == 64 + 16
    with pytest.raises(InvalidInputError, match="do not apply"):
        create("ivfsq", 64, m=8)
    sq.save(tmp_path / "sq")
    assert np.array_equal(load(tmp_path / "sq").search(queries, 10)[1], sq.search(queries, 10)[1])
    pq.save(tmp_path / "pq")
    (tmp_path / "pq" / "index.faiss").replace(tmp_path / "sq" / "index.faiss")
    with pytest.raises(IndexLoadError, match="IndexIVFScalarQuantizer"):
        load(tmp_path / "sq")


def test_ivfpq_float16_store(data: Any, tmp_path: Path) -> None:
    """Half the disk; scores within float16 precision (2^-11 relative per component)."""
    vectors, ids, queries = data
    index = create("ivfpq", DIM, store="float16")
    index.add(vectors, ids)
    scores, found = index.search(vectors[:20], 1)
    assert np.array_equal(found[:, 0], ids[:20])
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=2e-3)
    index.save(tmp_path / "idx")
    assert np.load(tmp_path / "idx" / "vectors.npy", mmap_mode="r").dtype == np.float16
    exact = oracle(vectors, ids, queries, 10)
    assert recall_at_k(load(tmp_path / "idx").search(queries, 10)[1], exact) >= 0.95


@pytest.mark.parametrize("inner", ["exact", "flat"])
def test_sharded_exact_shards_equal_one_index(inner: str, data: Any) -> None:
    vectors, ids, queries = data
    one = built(inner, data)
    sharded = built("sharded", data, shards=3, inner=inner)
    s1, f1 = one.search(queries, 10)
    s2, f2 = sharded.search(queries, 10)
    assert np.array_equal(f1, f2)
    np.testing.assert_allclose(s1, s2, rtol=1e-6)
    allowed = ids[::4]
    assert np.array_equal(one.search(queries, 10, allowed)[1], sharded.search(queries, 10, allowed)[1])
    for i, shard in enumerate(sharded.shards):  # routed by id
        assert np.array_equal(np.sort(shard.ids()), np.sort(ids[ids % 3 == i])) and len(shard) > 0


def test_sharded_ivfpq_shares_training_and_never_loses_to_one_index(recall_data: Any, tmp_path: Path) -> None:
    """Shards trained as one index probe the same lists; each re-ranks its own candidates, a superset
    of the single index's, so every rank's exact score is at least the single index's."""
    vectors, ids, queries, truth = recall_data
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)  # deterministic k-means, so both trainings are identical
    try:
        one: Any = create("ivfpq", 64, m=8, nprobe=4)
        one.train(vectors)
        sharded: Any = create("sharded", 64, shards=4, inner_params={"m": 8, "nprobe": 4}, workers=2)
        sharded.train(vectors)
    finally:
        faiss.omp_set_num_threads(threads)
    one.add(vectors, ids)
    sharded.add(vectors, ids)
    centroids = [s._index.quantizer.reconstruct_n(0, s._index.nlist) for s in sharded.shards]
    assert all(np.array_equal(c, one._index.quantizer.reconstruct_n(0, one._index.nlist)) for c in centroids)
    s1, f1 = one.search(queries, 10)
    s2, f2 = sharded.search(queries, 10)
    assert (s2 >= s1 - 1e-6).all()
    assert recall_at_k(f2, truth) >= recall_at_k(f1, truth)
    sharded.save(tmp_path / "idx")
    shard = load(tmp_path / "idx" / "shard-001")  # each shard is an ordinary index a node can load
    assert shard.backend == "ivfpq" and np.isin(shard.ids(), ids[ids % 4 == 1]).all() and len(shard) > 0
    serial: Any = load(tmp_path / "idx")
    serial.workers = 1  # fan-out one shard after another: same result as in parallel
    assert np.array_equal(serial.search(queries, 10)[1], f2)


def test_sharded_rejects_bad_params() -> None:
    with pytest.raises(InvalidInputError):
        create("sharded", DIM, shards=0)
    with pytest.raises(InvalidInputError, match="sharded shards"):
        create("sharded", DIM, inner="sharded")
    with pytest.raises(UnknownBackendError):
        create("sharded", DIM, inner="annoy")


# ------------------------------------------------------------------ GPU decision logic
def test_gpu_decision_logic(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    assert decide_gpu(None, True, 2) and decide_gpu(True, True, 1)
    assert not decide_gpu(None, True, 0) and not decide_gpu(False, True, 4) and not decide_gpu(None, False, 4)
    with caplog.at_level(logging.WARNING):
        assert not decide_gpu(True, True, 0)
    assert "no GPU" in caplog.text
    monkeypatch.delattr(faiss, "get_num_gpus", raising=False)
    assert gpu_count() == 0
    monkeypatch.setattr(faiss, "get_num_gpus", lambda: 3, raising=False)
    assert gpu_count() == 3


@pytest.mark.parametrize("name", ["flat", "ivf", "hnsw"])
def test_gpu_replica_path_matches_cpu(name: str, data: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a fake 'GPU' (a CPU clone), searches go through the replica and give the CPU results."""
    vectors, ids, queries = data
    expected = built(name, data).search(queries, 10)
    clones: list[Any] = []

    def fake_to_gpus(index: Any, *args: Any, **kwargs: Any) -> Any:
        clones.append(faiss.clone_index(index))
        return clones[-1]

    monkeypatch.setattr(faiss, "get_num_gpus", lambda: 1, raising=False)
    monkeypatch.setattr(faiss, "index_cpu_to_all_gpus", fake_to_gpus, raising=False)
    index = built(name, data)
    assert index.on_gpu == (name != "hnsw")
    got = index.search(queries, 10)
    assert np.array_equal(got[1], expected[1])
    assert len(clones) == (name != "hnsw")
    index.search(queries, 10, allowed_ids=ids[:20])  # filtered: served by the CPU master
    index.save(tmp_path / "idx")
    assert len(clones) == (name != "hnsw")
    assert np.array_equal(load(tmp_path / "idx", use_gpu=False).search(queries, 10)[1], expected[1])
    index.remove(ids[:1])
    index.search(queries, 10)  # a mutation drops the replica; the next search makes a new one
    assert len(clones) == 2 * (name != "hnsw")


# ------------------------------------------------------------------ factory and measure
def test_factory_names_and_thresholds() -> None:
    with pytest.raises(UnknownBackendError, match="choose one of exact, flat, hnsw, ivf, ivfpq, ivfsq, sharded"):
        create("annoy", DIM)
    with pytest.raises(TypeError):
        create("flat", DIM, nprobe=3)
    assert isinstance(create("exact", DIM), ExactIndex)
    assert choose_backend(1_000) == "flat" and choose_backend(1_000_000) == "hnsw"
    assert choose_backend(5_000_000) == "hnsw" and choose_backend(5_000_001) == "ivfsq"
    assert choose_backend(10**8) == "ivfsq"
    assert choose_backend(200, Thresholds(flat_max=100, hnsw_max=150)) == "ivfsq"
    with pytest.raises(InvalidInputError):
        choose_backend(-1)


def test_measure_reports_all_figures(recall_data: Any) -> None:
    vectors, _, queries, _ = recall_data
    for name in ("flat", "ivf"):
        result = measure(name, vectors[:2000], queries[:20], k=10, repeats=2)
        assert result["n"] == 2000 and result["n_queries"] == 20 and result["backend"] == name
        assert result["memory_bytes"] >= 2000 * 64 * 4  # at least the raw vectors
        assert 0 < result["p50_ms"] <= result["p99_ms"] and result["build_s"] > 0
        assert result["recall_at_k"] == 1.0 if name == "flat" else 0.5 < result["recall_at_k"] <= 1.0
    assert result["state"]["nlist"] == 51 and result["state"]["nprobe"] == 16
    assert recall_at_k(np.array([[1, 2, -1], [4, 5, 6]]), np.array([[1, 3, -1], [6, 5, 4]])) == 4 / 5
    with pytest.raises(InvalidInputError):
        measure("flat", vectors[:0], queries, repeats=1)
