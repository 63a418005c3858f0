"""Persistent indexes tied to DB rows: ids = row ids, model version recorded, stale indexes rebuilt,
incremental sync, description rows, backend choice; and the ranking/merging helpers of search.hits."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import delete, select, update

from db import annotations as ann_db
from db.config import LibraryLocation
from db.library import Library
from db.models import Clip, Description, Window
from search import hits
from search.ann import Thresholds, create
from search.ann.exact import exact_topk
from search.engine import Engine
from search.indexes import DESCRIPTIONS, WINDOWS
from tests.fake_model import DESCRIPTIONS as MODEL_DESCRIPTIONS
from tests.fake_model import FakeModel, add_clip, build_library, jump, spin, walk


@pytest.fixture
def location(tmp_path: Path) -> LibraryLocation:
    loc = LibraryLocation.resolve(tmp_path / "lib")
    with Library.open(loc) as lib:
        build_library(lib)
    return loc


def _open(location: LibraryLocation, model: FakeModel | None = None, **kw: object) -> Engine:
    return Engine.open(location, model or FakeModel(), progress=False, **kw)  # type: ignore[arg-type]


def _window_ids(lib: Library) -> np.ndarray:
    return np.sort(np.array([w.id for w in lib.iter_windows()], dtype=np.int64))


def _index_ids(engine: Engine, name: str) -> np.ndarray:
    return np.sort(engine.indexes.index(name).ids())


def test_open_builds_indexes_keyed_by_db_rows(location: LibraryLocation) -> None:
    model = FakeModel()
    with _open(location, model) as engine:
        windows = list(engine.lib.iter_windows())
        assert np.array_equal(_index_ids(engine, WINDOWS), _window_ids(engine.lib))
        assert model.windows_embedded == len(windows)
        assert {w.model_version for w in windows} == {"fake-v1"}
        assert all(w.embedding_id == w.id and w.cluster_id is not None for w in windows)
        config = json.loads((location.data_dir / "indexes" / WINDOWS / "config.json").read_text())
        assert config["metadata"]["model_version"] == "fake-v1" and config["count"] == len(windows)
        assert config["backend"] == "flat"
        rows = ann_db.list_descriptions(engine.lib)
        assert np.array_equal(_index_ids(engine, DESCRIPTIONS), np.array(sorted(r.id for r in rows)))
    texts = sorted(r.text for r in rows)
    # "Walking  forward" (clip) duplicates the model's "walking forward" up to case and spaces
    assert texts == sorted([t for t, _ in MODEL_DESCRIPTIONS] + ["a happy jump", "a slow walk", "a waltz turn",
                                                                 "walks then jumps"])
    assert {r.kind for r in rows if r.text == "walking forward"} == {"model"}
    clip_rows = [r for r in rows if r.kind == "clip"]
    assert all(r.clip_id is not None and r.model_version == "fake-v1" for r in clip_rows)
    assert [r.cluster_id for r in rows if r.text == "a happy jump"] == [0]


def test_reopen_with_same_model_embeds_nothing(location: LibraryLocation) -> None:
    _open(location).close()
    model = FakeModel()
    with _open(location, model) as engine:
        report = engine.sync()
        assert model.windows_embedded == 0 and model.texts_embedded == 0
        assert report[WINDOWS]["rebuilt"] is False and report[WINDOWS]["embedded"] == 0


def test_new_clip_is_embedded_incrementally(location: LibraryLocation) -> None:
    model = FakeModel()
    with _open(location, model) as engine:
        before = model.windows_embedded
        clip_id = add_clip(engine.lib, spin(3.0, 2.0), "late_spin", description="another spin")
        n_new = sum(1 for _ in engine.lib.iter_windows(clip_id=clip_id))
        report = engine.sync()
        assert model.windows_embedded - before == n_new == report[WINDOWS]["embedded"]
        assert not report[WINDOWS]["rebuilt"]
        assert np.array_equal(_index_ids(engine, WINDOWS), _window_ids(engine.lib))
        assert "another spin" in {r.text for r in ann_db.list_descriptions(engine.lib)}
    with _open(location) as again:  # the addition was saved
        assert np.array_equal(_index_ids(again, WINDOWS), _window_ids(again.lib))


def test_deleted_index_directory_is_rebuilt(location: LibraryLocation) -> None:
    _open(location).close()
    shutil.rmtree(location.data_dir / "indexes" / WINDOWS)
    model = FakeModel()
    with _open(location, model) as engine:
        assert np.array_equal(_index_ids(engine, WINDOWS), _window_ids(engine.lib))
        assert model.windows_embedded == len(_window_ids(engine.lib))


def test_corrupt_index_is_rebuilt(location: LibraryLocation) -> None:
    _open(location).close()
    (location.data_dir / "indexes" / DESCRIPTIONS / "config.json").write_text("{not json")
    with _open(location) as engine:
        assert len(engine.indexes.index(DESCRIPTIONS)) == len(ann_db.list_descriptions(engine.lib))
        assert engine.describe_clip(1).results


def test_model_change_rebuilds_everything(location: LibraryLocation) -> None:
    _open(location).close()
    model = FakeModel(version="fake-v2", seed=1, descriptions=[("jumping high", 0), ("spinning", 2)])
    with _open(location, model) as engine:
        windows = list(engine.lib.iter_windows())
        assert model.windows_embedded == len(windows)
        assert {w.model_version for w in windows} == {"fake-v2"}
        rows = ann_db.list_descriptions(engine.lib)
        model_texts = {r.text for r in rows if r.kind == "model"}
        assert model_texts == {"jumping high", "spinning"}
        # the clip description that duplicated an old model text is a clip description now
        assert [(r.kind, r.text) for r in rows if r.text.casefold().split() == ["walking", "forward"]] == \
            [("clip", "Walking  forward")]
        assert np.array_equal(_index_ids(engine, DESCRIPTIONS), np.array(sorted(r.id for r in rows)))
        meta = engine.indexes.index(WINDOWS).metadata
        assert meta["model_version"] == "fake-v2"
        assert engine.search_text("jump", k=1, generate="never").results[0].labels["kind"] == "jump"


def test_rows_deleted_behind_the_back_leave_the_index(location: LibraryLocation) -> None:
    _open(location).close()
    with Library.open(location) as lib:
        victim = lib.list_clips()[0].id
        gone = {w.id for w in lib.iter_windows(clip_id=victim)}
        with lib.session() as s:
            s.execute(delete(Description).where(Description.clip_id == victim))
            s.execute(delete(Window).where(Window.clip_id == victim))
            s.execute(delete(Clip).where(Clip.id == victim))
    model = FakeModel()
    with _open(location, model) as engine:
        report = engine.sync()
        ids = set(_index_ids(engine, WINDOWS).tolist())
        assert not ids & gone and ids == set(_window_ids(engine.lib).tolist())
        assert model.windows_embedded == 0 and report[WINDOWS]["embedded"] == 0
        assert victim not in {h.clip_id for h in engine.search_text("jump", k=20, generate="never").results}


def test_reused_row_ids_are_reembedded(location: LibraryLocation) -> None:
    """SQLite reuses the highest ids after a delete: a new clip may get ids the index already holds."""
    _open(location).close()
    with Library.open(location) as lib:
        last = max(c.id for c in lib.list_clips())
        old_ids = {w.id for w in lib.iter_windows(clip_id=last)}
        with lib.session() as s:
            s.execute(delete(Window).where(Window.clip_id == last))
            s.execute(delete(Clip).where(Clip.id == last))
        new_clip = add_clip(lib, spin(8.0, 1.5), "fresh_spin")
        new_ids = {w.id for w in lib.iter_windows(clip_id=new_clip)}
    assert old_ids & new_ids  # the situation under test really happens
    model = FakeModel()
    with _open(location, model) as engine:
        assert model.windows_embedded == len(new_ids)
        hits_ = engine.search_text("spinning", k=2, generate="never").results
        assert new_clip in {h.clip_id for h in hits_}
        assert np.array_equal(_index_ids(engine, WINDOWS), _window_ids(engine.lib))


def test_backend_is_chosen_by_size(location: LibraryLocation) -> None:
    with _open(location, thresholds=Thresholds(flat_max=10, hnsw_max=10_000)) as engine:
        assert engine.indexes.index(WINDOWS).backend == "hnsw"
        assert engine.indexes.index(DESCRIPTIONS).backend == "flat"
        top = engine.search_text("jump", k=1, generate="never").results[0]
        assert top.labels["kind"] == "jump"
        assert engine.status()["indexes"][WINDOWS]["backend"] == "hnsw"
    model = FakeModel()
    with _open(location, model) as engine:  # default thresholds: flat again, rebuilt from the hnsw's vectors
        report = engine.sync()
        assert engine.indexes.index(WINDOWS).backend == "flat"
        assert model.windows_embedded == 0 and report[WINDOWS]["embedded"] == 0
        assert np.array_equal(_index_ids(engine, WINDOWS), _window_ids(engine.lib))


def _spy_embedding(model: FakeModel, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Records the size of every window-embedding call the index manager makes."""
    calls: list[int] = []
    real = model.embed_clips

    def spy(clips: list[tuple[np.ndarray, list[int]]]) -> tuple[np.ndarray, np.ndarray]:
        calls.append(sum(len(starts) for _, starts in clips))
        return real(clips)

    monkeypatch.setattr(model, "embed_clips", spy)
    return calls


def test_crossing_a_size_threshold_reuses_stored_vectors(location: LibraryLocation,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    with _open(location) as engine:
        ids = _window_ids(engine.lib)
        before = engine.indexes.index(WINDOWS).vectors_for(ids)
        top = engine.search_text("jump", k=3, generate="never").results
    model = FakeModel()
    calls = _spy_embedding(model, monkeypatch)
    with _open(location, model, thresholds=Thresholds(flat_max=10, hnsw_max=10_000)) as engine:
        index = engine.indexes.index(WINDOWS)
        assert index.backend == "hnsw" and calls == []  # crossed flat -> hnsw without embedding a window
        np.testing.assert_array_equal(index.vectors_for(ids), before)
        assert [h.clip_id for h in engine.search_text("jump", k=3, generate="never").results] == \
            [h.clip_id for h in top]
        report = engine.sync()
        assert report[WINDOWS]["rebuilt"] is False


def _assert_same_ranking(got: list[tuple[int, float]], want: list[tuple[int, float]], atol: float) -> None:
    """The same clips with the same scores within ``atol`` (a float16 store's rounding), in the same order
    wherever the reference scores are more than ``2 * atol`` apart (clips tied within the rounding may swap)."""
    assert sorted(c for c, _ in got) == sorted(c for c, _ in want)
    score = dict(got)
    for clip, ref in want:
        assert abs(score[clip] - ref) <= atol, (clip, score[clip], ref)
    rank = {c: i for i, (c, _) in enumerate(got)}
    for (a, sa), (b, sb) in zip(want, want[1:], strict=False):
        if sa - sb > 2 * atol:
            assert rank[a] < rank[b], (got, want)


def test_huge_library_crosses_to_ivfsq_trained_on_a_sample_of_the_stored_vectors(
        location: LibraryLocation, monkeypatch: pytest.MonkeyPatch) -> None:
    from search.ann import ENGINE_PARAMS
    from search.ann.compressed import IVFSQIndex

    with _open(location) as engine:
        ids = _window_ids(engine.lib)
        before = engine.indexes.index(WINDOWS).vectors_for(ids)
        top = [(h.clip_id, h.score) for h in engine.search_text("jump", k=3, generate="never").results]
    # The engine's ivfsq setting, scaled to this 35-window library: 2 lists, trained on half the windows.
    half = len(ids) // 2
    monkeypatch.setitem(ENGINE_PARAMS, "ivfsq", {**ENGINE_PARAMS["ivfsq"], "nlist": 2, "nprobe": 2,
                                                 "min_train": half, "train_max": half})
    samples: list[np.ndarray] = []
    real_train = IVFSQIndex.train

    def spy(self: IVFSQIndex, vectors: np.ndarray) -> None:
        samples.append(np.asarray(vectors))
        real_train(self, vectors)

    monkeypatch.setattr(IVFSQIndex, "train", spy)
    model = FakeModel()
    calls = _spy_embedding(model, monkeypatch)
    with _open(location, model, thresholds=Thresholds(flat_max=5, hnsw_max=10)) as engine:
        index = engine.indexes.index(WINDOWS)
        assert isinstance(index, IVFSQIndex) and index.trained and calls == []  # no window embedded again
        assert (index.nlist, index.nprobe, index.rerank, index.store) == (2, 2, 4, "float16")
        # trained once, before adding, on a random sample of the library (not its first rows)
        assert len(samples) == 1 and len(samples[0]) == half
        assert all(np.abs(before - v).sum(axis=1).min() < 1e-4 for v in samples[0])  # stored vectors
        assert not np.allclose(samples[0], before[:half])
        np.testing.assert_allclose(index.vectors_for(ids), before, atol=2e-3)  # float16 store
        _assert_same_ranking([(h.clip_id, h.score) for h in engine.search_text("jump", k=3, generate="never").results],
                             top, atol=2e-3)
        assert engine.sync()[WINDOWS]["rebuilt"] is False
    with _open(location, model, thresholds=Thresholds(flat_max=5, hnsw_max=10)) as engine:  # reloads as is
        assert engine.indexes.index(WINDOWS).backend == "ivfsq" and calls == []


def test_forced_rebuild_reuses_stored_vectors_and_embeds_only_what_is_missing(
        location: LibraryLocation, monkeypatch: pytest.MonkeyPatch) -> None:
    _open(location).close()
    model = FakeModel()
    calls = _spy_embedding(model, monkeypatch)
    with _open(location, model) as engine:
        ids = _window_ids(engine.lib)
        report = engine.reindex()["indexes"][WINDOWS]
        assert report["rebuilt"] is True and report["reused"] == len(ids) and report["embedded"] == 0
        assert calls == [] and np.array_equal(_index_ids(engine, WINDOWS), ids)
        with engine.lib.session() as s:  # one window loses its mark: it alone is embedded again
            s.execute(update(Window).where(Window.id == int(ids[0])).values(model_version=None))
        report = engine.sync(rebuild=True)[WINDOWS]
        assert report["reused"] == len(ids) - 1 and report["embedded"] == 1 and sum(calls) == 1
        assert np.array_equal(_index_ids(engine, WINDOWS), ids)


def test_clip_description_change_updates_rows(location: LibraryLocation) -> None:
    with _open(location) as engine:
        spin_id = next(c.id for c in engine.lib.list_clips() if c.description == "a waltz turn")
        engine.lib.update_clip_metadata(spin_id, {"genre": "waltz"}, "a quick spin", None)
        engine.sync()
        texts = {r.text: r for r in ann_db.list_descriptions(engine.lib)}
        assert "a waltz turn" not in texts and texts["a quick spin"].clip_id == spin_id
        assert np.array_equal(_index_ids(engine, DESCRIPTIONS), np.array(sorted(r.id for r in texts.values())))
        with engine.lib.session() as s:
            assert s.scalar(select(Description.cluster_id).where(Description.text == "a quick spin")) == 2


# ---- search.hits ---------------------------------------------------------------------------------

def _oracle(vectors: np.ndarray, groups: np.ndarray, queries: np.ndarray) -> list[tuple[int, float]]:
    sims = queries @ vectors.T
    scores = {int(g): float(np.mean(sims[:, groups == g].max(axis=1))) for g in np.unique(groups)}
    return sorted(scores.items(), key=lambda gs: (-gs[1], gs[0]))


class _ArrayGroups:
    def __init__(self, ids: np.ndarray, groups: np.ndarray) -> None:
        self.ids, self.groups = ids, groups

    def group_of(self, ids: np.ndarray) -> np.ndarray:
        return self.groups[np.searchsorted(self.ids, ids)]

    def members(self, groups: np.ndarray) -> np.ndarray:
        return self.ids[np.isin(self.groups, groups)]


@pytest.mark.parametrize("n_queries", [1, 3])
def test_rank_groups_matches_brute_force_with_small_fetches(monkeypatch: pytest.MonkeyPatch,
                                                            n_queries: int) -> None:
    monkeypatch.setattr(hits, "MIN_FETCH", 2)
    monkeypatch.setattr(hits, "OVERFETCH", 2)
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((300, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.arange(1000, 1300, dtype=np.int64)
    groups = rng.integers(0, 60, 300)
    queries = vectors[[5, 17, 200][:n_queries]] + 0.1 * rng.standard_normal((n_queries, 8)).astype(np.float32)
    index = create("exact", 8)
    index.add(vectors, ids)
    truth = _oracle(vectors, groups, queries)
    got = hits.rank_groups(index, queries, 25, _ArrayGroups(ids, groups))
    assert [r.group for r in got] == [g for g, _ in truth[:25]]
    assert np.allclose([r.score for r in got], [s for _, s in truth[:25]], atol=1e-5)
    page2 = hits.rank_groups(index, queries, 35, _ArrayGroups(ids, groups))[25:]
    assert [r.group for r in page2] == [g for g, _ in truth[25:35]]
    allowed = ids[groups % 2 == 0]
    filtered = hits.rank_groups(index, queries, 10, _ArrayGroups(ids, groups), allowed)
    keep = groups % 2 == 0
    assert [r.group for r in filtered] == [g for g, _ in _oracle(vectors[keep], groups[keep], queries)[:10]]
    assert all(np.isin(r.member_ids, allowed).all() for r in filtered)


def test_rank_groups_fills_pages_past_the_fetch_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    """Clips whose windows are all alike: the top rows hold few clips, yet ``need`` clips come back."""
    monkeypatch.setattr(hits, "MIN_FETCH", 2)
    monkeypatch.setattr(hits, "MAX_FETCH", 8)
    rng = np.random.default_rng(5)
    centres = rng.standard_normal((40, 6))
    groups = np.repeat(np.arange(40), 10)
    vectors = (centres[groups] + 0.01 * rng.standard_normal((400, 6))).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.arange(400, dtype=np.int64)
    index = create("flat", 6)
    index.add(vectors, ids)
    one = hits.rank_groups(index, vectors[:1], 12, _ArrayGroups(ids, groups))
    assert [r.group for r in one] == [g for g, _ in _oracle(vectors, groups, vectors[:1])[:12]]
    three = hits.rank_groups(index, vectors[[0, 100, 200]], 12, _ArrayGroups(ids, groups))
    assert len(three) == 12 and len({r.group for r in three}) == 12
    assert [r.score for r in three] == sorted((r.score for r in three), reverse=True)


def test_member_similarities_are_exact() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((50, 4)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = create("flat", 4)
    index.add(vectors, np.arange(50, dtype=np.int64) * 3)
    members = np.array([3, 9, 30], dtype=np.int64)
    sims = hits.member_similarities(index, vectors[:2], members)
    assert np.allclose(sims, vectors[:2] @ vectors[[1, 3, 10]].T, atol=1e-6)
    assert exact_topk(vectors, np.arange(50), vectors[:1], 1)[1][0, 0] == 0


def test_best_span_merges_adjacent_high_windows() -> None:
    starts = np.array([0, 20, 40, 60, 80, 100])
    ends = starts + 50
    scores = np.array([0.1, 0.88, 0.9, 0.87, 0.2, 0.89])
    assert hits.best_span(starts, ends, scores) == (20, 110, 2)  # 100 is high but not contiguous
    assert hits.best_span(starts, ends, scores, margin=0.0) == (40, 90, 2)
    shuffled = np.array([3, 0, 5, 1, 4, 2])
    a, b, best = hits.best_span(starts[shuffled], ends[shuffled], scores[shuffled])
    assert (a, b, shuffled[best]) == (20, 110, 2)
    # separated windows (a gap between them) never merge
    assert hits.best_span(np.array([0, 100]), np.array([50, 150]), np.array([0.9, 0.9]))[:2] == (0, 50)


def test_best_span_is_a_moment_not_the_whole_clip() -> None:
    starts = np.arange(0, 1000, 20)
    ends = starts + 50
    scores = np.full(starts.size, 0.9)
    scores[25] = 0.92  # a long clip that matches everywhere, best at frame 500
    a, b, best = hits.best_span(starts, ends, scores)
    assert best == 25 and a <= 500 and b >= 550
    assert b - a <= hits.MAX_SPAN_FRAMES
    assert hits.best_span(starts, ends, scores, max_frames=50)[:2] == (500, 550)


def test_generated_and_clip_motions_are_distinct_fixtures() -> None:
    """Sanity of the fake model: each synthetic motion lands in its own cluster."""
    model = FakeModel()
    for motion, cluster in ((jump(3.0), 0), (walk(3.0), 1), (spin(3.0), 2)):
        assert set(model.cluster_of(motion, [0, 20]).tolist()) == {cluster}
