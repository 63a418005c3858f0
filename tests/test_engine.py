"""The search Engine with the fake model on a tiny synthetic library: every direction, merging,
paging, filters, cluster filtering, generation fallback, describe, delete, ingest, export, errors."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from db.config import LibraryLocation
from db.library import Library
from motion.bvh import read_bvh_text
from motion.canonical import to_canonical
from motion.data import Motion
from motion.skeleton import CANONICAL_FPS, JOINTS, PARENTS
from search.engine import GENERATED_ID, Engine
from search.errors import InvalidQuery, NotFound
from search.export import export_hit, motion_to_json, write_hit
from search.indexes import DESCRIPTIONS, WINDOWS
from search.types import Filters
from tests.fake_model import FakeModel, arms, build_library, jump, mixed, spin, walk


@pytest.fixture
def location(tmp_path: Path) -> LibraryLocation:
    return LibraryLocation.resolve(tmp_path / "lib")


@pytest.fixture
def clips(location: LibraryLocation) -> dict[str, int]:
    with Library.open(location) as lib:
        return build_library(lib)


def _engine(location: LibraryLocation, **settings: object) -> Engine:
    return Engine.open(location, FakeModel(settings=settings), progress=False, ingest_workers=0)


@pytest.fixture
def engine(location: LibraryLocation, clips: dict[str, int]) -> Iterator[Engine]:
    with _engine(location) as eng:
        yield eng


def _motion(positions: np.ndarray, fps: float = CANONICAL_FPS, canonical: bool = True) -> Motion:
    return Motion(positions, fps, list(JOINTS), list(PARENTS), {"canonical": canonical})


# ---- text -> motion ------------------------------------------------------------------------------

def test_text_search_merges_windows_into_one_hit_per_clip(engine: Engine, clips: dict[str, int]) -> None:
    res = engine.search_text("jumping", k=10, generate="never")
    ids = [h.clip_id for h in res.results]
    assert len(ids) == len(set(ids)) == len(clips)
    assert set(ids[:3]) == {clips["jump_a"], clips["jump_b"], clips["mixed"]}
    assert [h.score for h in res.results] == sorted((h.score for h in res.results), reverse=True)
    top = res.results[0]
    assert top.score > 0.95 and not top.generated and top.cluster == 0 and res.query_cluster == 0
    by_id = {h.clip_id: h for h in res.results}
    # a clip that jumps throughout: all its windows score alike and merge into one span
    jump_b = by_id[clips["jump_b"]]
    assert (jump_b.start, jump_b.end) == (0.0, 6.0)
    assert jump_b.labels == {"kind": "jump", "take": 2} and jump_b.source_path == "/synthetic/jump_b.npz"
    # walk then jump: the span sits in the jumping half
    mixed = by_id[clips["mixed"]]
    assert mixed.start >= 3.0 and mixed.end == 8.0 and mixed.end - mixed.start >= 2.0


def test_text_search_scores_are_the_best_window_cosine(engine: Engine, clips: dict[str, int]) -> None:
    model = engine.model
    res = engine.search_text("walking", k=1, generate="never", mode="motion")
    hit = res.results[0]
    assert hit.clip_id in (clips["walk_a"], clips["walk_b"])
    positions = engine.lib.load_motion(hit.clip_id).positions
    starts = [w.start for w in engine.lib.iter_windows(clip_id=hit.clip_id)]
    cosines = model.embed_windows(positions, starts) @ model.embed_texts(["walking"])[0]
    assert hit.score == pytest.approx(float(cosines.max()), abs=1e-5)


def test_pages_continue_without_overlap(engine: Engine) -> None:
    full = [h.clip_id for h in engine.search_text("spin and jump", k=6, generate="never").results]
    pages = [engine.search_text("spin and jump", k=2, offset=o, generate="never") for o in (0, 2, 4, 6)]
    assert [h.clip_id for p in pages[:3] for h in p.results] == full
    assert len(pages[3].results) == 1  # seven clips in all
    assert pages[1].offset == 2 and pages[1].k == 2
    assert engine.search_text("jump", k=5, offset=50, generate="never").results == []


def test_metadata_filters(engine: Engine, clips: dict[str, int]) -> None:
    def ids(f: Filters) -> set[int | None]:
        return {h.clip_id for h in engine.search_text("jump", k=20, filters=f, generate="never").results}

    assert ids(Filters(source="bandai")) == {clips["jump_a"], clips["arms"]}
    assert ids(Filters(labels={"kind": "walk"})) == {clips["walk_a"], clips["walk_b"]}
    assert ids(Filters(labels={"take": "2"})) == {clips["jump_b"]}  # labels compared as strings
    assert ids(Filters(source="cmu", labels={"kind": "jump"})) == {clips["jump_b"]}
    assert ids(Filters(min_duration=5.0)) == {clips["jump_b"], clips["walk_a"], clips["mixed"]}
    assert ids(Filters(max_duration=3.5)) == {clips["walk_b"]}
    assert ids(Filters(source="nowhere")) == set()
    with pytest.raises(InvalidQuery, match="exceeds max_duration"):
        engine.search_text("jump", filters=Filters(min_duration=5, max_duration=2))
    listed = engine.list_clips(filters=Filters(source="cmu"))
    assert [c["id"] for c in listed] == sorted((clips[n] for n in ("jump_b", "walk_a", "walk_b", "mixed")),
                                               reverse=True)
    assert [c["id"] for c in engine.list_clips(limit=2, offset=1)] == [clips["arms"], clips["spin"]]


def test_cluster_filter_on_and_off(engine: Engine, clips: dict[str, int]) -> None:
    off = engine.search_text("jump", k=20, generate="never")
    assert off.cluster_filter is False and len(off.results) == len(clips)  # model default: off for text
    on = engine.search_text("jump", k=20, cluster_filter=True, generate="never")
    assert on.cluster_filter is True and on.query_cluster == 0
    assert {h.clip_id for h in on.results} == {clips["jump_a"], clips["jump_b"], clips["mixed"]}
    assert all(h.cluster == 0 for h in on.results)
    mixed = next(h for h in on.results if h.clip_id == clips["mixed"])
    assert mixed.start >= 3.0  # only its jumping windows were allowed
    with _engine(engine.lib.location, cluster_filter_text=True) as strict:
        assert strict.search_text("jump", k=20, generate="never").cluster_filter is True


# ---- generation fallback -------------------------------------------------------------------------

def test_generation_fallback_below_threshold(location: LibraryLocation, clips: dict[str, int]) -> None:
    with _engine(location, fallback_threshold=2.0) as eng:
        res = eng.search_text("arms raised", k=3)
        assert res.generated_fallback and len(res.results) == 4
        gen = res.results[0]
        assert gen.generated and gen.clip_id is None and gen.description == "arms raised"
        assert gen.generated_id is not None and GENERATED_ID.fullmatch(gen.generated_id)
        assert (location.data_dir / "generated" / f"{gen.generated_id}.npy").is_file()
        assert gen.score > 0.95  # the fake generates raised arms for "arms"
        motion = eng.generated_motion(gen.generated_id)
        assert np.allclose(motion.positions, arms(4.0)) and motion.fps == CANONICAL_FPS
        assert res.results[1].clip_id == clips["arms"]
        page2 = eng.search_text("arms raised", k=3, offset=3)
        assert not page2.generated_fallback and not any(h.generated for h in page2.results)
        never = eng.search_text("arms raised", k=3, generate="never")
        assert not never.generated_fallback and not any(h.generated for h in never.results)


def test_no_fallback_above_threshold_unless_always(engine: Engine) -> None:
    res = engine.search_text("jump", k=3)  # best cosine ~1 > threshold 0.3
    assert not res.generated_fallback and not any(h.generated for h in res.results)
    always = engine.search_text("jump", k=3, generate="always")
    assert always.generated_fallback and always.results[0].generated and len(always.results) == 4
    weak = engine.search_text("a quiet evening", k=3)  # no keyword: hashed vector, weak scores
    assert weak.generated_fallback and weak.results[0].generated
    with pytest.raises(InvalidQuery, match="generate must be one of"):
        engine.search_text("jump", generate="sometimes")


def test_empty_library_falls_back_to_generation(location: LibraryLocation) -> None:
    with _engine(location, fallback_threshold=None) as eng:
        assert eng.status()["indexes"][WINDOWS]["size"] == 0
        res = eng.search_text("walking", k=5)
        assert res.generated_fallback and [h.generated for h in res.results] == [True]
        assert eng.search_text("walking", k=5, generate="never").results == []
        assert eng.search_motion(_motion(walk(3.0)), k=5).results == []
        assert eng.describe(_motion(walk(3.0)), k=1).results[0].text == "walking forward"


def test_generated_ids_are_validated(engine: Engine) -> None:
    gid, motion = engine.generate("spin", seconds=2.0)
    assert GENERATED_ID.fullmatch(gid) and motion.n_frames == 50
    assert np.allclose(engine.generated_motion(gid).positions, spin(2.0))
    for bad in ("../../etc/passwd", gid.upper(), gid + "0", "", "0" * 32):
        with pytest.raises(NotFound):
            engine.generated_motion(bad)
    with pytest.raises(InvalidQuery, match="seconds"):
        engine.generate("spin", seconds=0)
    for seed in (-1, 2**31, 1.5, True, "1"):
        with pytest.raises(InvalidQuery, match="seed"):
            engine.generate("spin", seconds=1.0, seed=seed)  # type: ignore[arg-type]


# ---- motion -> motion ----------------------------------------------------------------------------

def test_search_clip_excludes_itself(engine: Engine, clips: dict[str, int]) -> None:
    res = engine.search_clip(clips["jump_a"], k=10)
    ids = [h.clip_id for h in res.results]
    assert clips["jump_a"] not in ids and len(ids) == len(clips) - 1
    # mixed jumps exactly like jump_a (same height) in its second half; jump_b jumps lower
    assert ids[:2] == [clips["mixed"], clips["jump_b"]] and res.query_cluster == 0
    ranged = engine.search_clip(clips["mixed"], start=0.0, end=3.0, k=2)  # the walking part
    assert {h.clip_id for h in ranged.results} == {clips["walk_a"], clips["walk_b"]}
    jumping = engine.search_clip(clips["mixed"], start=5.0, end=8.0, k=2)
    assert {h.clip_id for h in jumping.results} == {clips["jump_a"], clips["jump_b"]}


def test_search_motion_maps_uploads_and_aggregates_windows(engine: Engine, clips: dict[str, int]) -> None:
    # 50 fps and not marked canonical: mapped (resampled to 25 fps) by to_canonical's canonical rig
    upload = np.repeat(spin(4.0), 2, axis=0)
    res = engine.search_motion(_motion(upload, fps=50.0, canonical=False), k=1)
    assert res.results[0].clip_id == clips["spin"]
    # a long query (walk then jump): clips holding both score higher than clips with only one
    long_query = np.concatenate([walk(4.0), jump(4.0) + np.array([0, 0, 4.8], np.float32)])
    both = engine.search_motion(_motion(long_query), k=7)
    assert both.results[0].clip_id == clips["mixed"]
    only = {h.clip_id: h.score for h in both.results}
    assert only[clips["mixed"]] > max(only[clips["jump_b"]], only[clips["walk_a"]]) + 0.2
    excluded = engine.search_motion(_motion(long_query), k=7, exclude_clip_id=clips["mixed"])
    assert clips["mixed"] not in {h.clip_id for h in excluded.results}
    cut = engine.search_motion(_motion(long_query), start=5.0, end=7.5, k=1)
    assert cut.results[0].clip_id in (clips["jump_a"], clips["jump_b"])


def test_motion_cluster_filter(engine: Engine, clips: dict[str, int]) -> None:
    res = engine.search_motion(_motion(walk(3.0)), k=10, cluster_filter=True)
    assert res.cluster_filter and res.query_cluster == 1
    assert {h.clip_id for h in res.results} == {clips["walk_a"], clips["walk_b"], clips["mixed"]}


# ---- motion -> text ------------------------------------------------------------------------------

def test_describe(engine: Engine, clips: dict[str, int]) -> None:
    res = engine.describe_clip(clips["jump_b"], k=5)
    assert res.cluster_filter is True and res.query_cluster == 0  # the model's default for describe
    texts = [d.text for d in res.results]
    assert set(texts) == {"a person jumps up and down", "jumping on the spot", "a happy jump",
                          "walks then jumps"}
    assert all(d.cluster == 0 for d in res.results)
    assert [d.score for d in res.results] == sorted((d.score for d in res.results), reverse=True)
    unfiltered = engine.describe(_motion(jump(3.0)), k=12, cluster_filter=False)
    texts = [d.text for d in unfiltered.results]
    assert len(texts) == len({t.casefold() for t in texts}) == 10  # every description, once
    assert "walking forward" in texts and "Walking  forward" not in texts
    ranged = engine.describe_clip(clips["mixed"], start=0.0, end=3.0, k=1)
    assert ranged.results[0].text in ("walking forward", "a slow walk")


# ---- library changes ------------------------------------------------------------------------------

def test_delete_clip(engine: Engine, clips: dict[str, int]) -> None:
    victim = clips["jump_a"]
    window_ids = {w.id for w in engine.lib.iter_windows(clip_id=victim)}
    engine.delete_clip(victim)
    assert not set(engine.indexes.index(WINDOWS).ids().tolist()) & window_ids
    assert victim not in {h.clip_id for h in engine.search_text("jump", k=20, generate="never").results}
    texts = [d.text for d in engine.describe(_motion(jump(3.0)), k=12, cluster_filter=False).results]
    assert "a happy jump" not in texts and len(engine.indexes.index(DESCRIPTIONS)) == 9
    with pytest.raises(NotFound):
        engine.clip_info(victim)
    with pytest.raises(NotFound):
        engine.delete_clip(victim)
    assert engine.status()["clips"] == len(clips) - 1
    with _engine(engine.lib.location) as again:  # the index change was saved
        assert not set(again.indexes.index(WINDOWS).ids().tolist()) & window_ids


def test_ingest_adds_files_and_indexes_them(engine: Engine, tmp_path: Path) -> None:
    from motion.bvh_write import write_bvh

    folder = tmp_path / "uploads"
    folder.mkdir()
    write_bvh(_motion(spin(3.0, 2.5)), folder / "fast_spin.bvh")
    write_bvh(_motion(arms(2.0, 0.4)), folder / "arms_up.bvh")
    (folder / "README.md").write_text("not motion")
    summary = engine.ingest([folder])
    assert (summary["added"], summary["failed"], summary["ignored"]) == (2, 0, 1)
    assert summary["indexed"][WINDOWS]["embedded"] > 0 and not summary["indexed"][WINDOWS]["rebuilt"]
    top = engine.search_text("spinning", k=2, generate="never").results
    assert any(h.source_path and h.source_path.endswith("fast_spin.bvh") for h in top)
    again = engine.ingest([folder])
    assert (again["added"], again["skipped"], again["indexed"][WINDOWS]["embedded"]) == (0, 2, 0)
    with pytest.raises(InvalidQuery, match="no such file"):
        engine.ingest([tmp_path / "missing"])


def test_reindex_and_status(engine: Engine, clips: dict[str, int]) -> None:
    before = engine.model.windows_embedded  # type: ignore[attr-defined]
    report = engine.reindex()
    n_windows = engine.status()["windows"]
    assert report["indexes"][WINDOWS]["rebuilt"] and report["indexes"][WINDOWS]["size"] == n_windows
    # the vectors the active model made are reused, not embedded again (issue 12)
    assert report["indexes"][WINDOWS]["reused"] == n_windows
    assert engine.model.windows_embedded == before  # type: ignore[attr-defined]
    report = engine.reindex(re_embed=True)
    assert report["indexes"][WINDOWS]["rebuilt"] and report["indexes"][WINDOWS]["size"] == n_windows
    assert report["indexes"][WINDOWS]["reused"] == 0
    assert engine.model.windows_embedded - before == n_windows  # type: ignore[attr-defined]
    status = engine.status()
    assert (status["model"], status["model_version"], status["clips"]) == ("fake", "fake-v1", len(clips))
    assert status["indexes"][WINDOWS]["backend"] == "flat" and status["synced"] is True
    assert status["settings"]["fallback_threshold"] == 0.3
    assert sorted(status["sources"]) == ["ballroom", "bandai", "cmu"]


def test_lazy_open_syncs_on_first_query(location: LibraryLocation, clips: dict[str, int]) -> None:
    eng = Engine.open(location, FakeModel(), sync=False, progress=False)
    try:
        assert eng.status()["synced"] is False
        assert eng.search_text("jump", k=1, generate="never").results[0].clip_id == clips["jump_a"]
        assert eng.status()["synced"] is True
    finally:
        eng.close()


# ---- export --------------------------------------------------------------------------------------

def test_export_hits_as_bvh_and_json(engine: Engine, clips: dict[str, int], tmp_path: Path) -> None:
    hit = engine.search_clip(clips["mixed"], start=5.0, end=8.0, k=1).results[0]
    doc = export_hit(engine, hit, "json")
    assert isinstance(doc, dict) and doc["joint_names"] == list(JOINTS) and doc["parents"] == list(PARENTS)
    expected = engine.clip_motion(hit.clip_id or 0, hit.start, hit.end).positions
    assert np.allclose(np.array(doc["positions"]), expected, atol=1e-4)
    assert doc["fps"] == CANONICAL_FPS and doc["start"] == hit.start
    bvh = export_hit(engine, hit, "bvh")
    assert isinstance(bvh, str)
    back = to_canonical(read_bvh_text(bvh)).positions
    assert back.shape == expected.shape and np.allclose(back, expected, atol=1e-3)
    gen = engine.search_text("jump", k=1, generate="always").results[0]
    path = write_hit(engine, gen, tmp_path / "generated.bvh")
    assert path.read_text().startswith("HIERARCHY")
    as_json = json.loads(write_hit(engine, hit, tmp_path / "hit.json").read_text())
    assert as_json["n_frames"] == len(expected) and as_json["start"] == hit.start
    assert motion_to_json(engine.generated_motion(gen.generated_id or ""))["n_frames"] == 100


# ---- errors --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("call", "message"), [
    (lambda e: e.search_text("   "), "empty"),
    (lambda e: e.search_text("x" * 1001), "1001 characters"),
    (lambda e: e.search_text("jump", k=0), "k must be"),
    (lambda e: e.search_text("jump", k=1001), "k must be"),
    (lambda e: e.search_text("jump", offset=-1), "offset must be"),
    (lambda e: e.search_clip(1, start=2.0, end=2.0), "must be before"),
    (lambda e: e.search_clip(1, start=1.0, end=9.0), "outside clip 1"),
    (lambda e: e.search_clip(1, start=-1.0), "negative"),
    (lambda e: e.clip_motion(1, start=4.5), "outside clip 1"),
    (lambda e: e.search_motion(_motion(jump(2.0)), start=1.0, end=3.0), "outside the query motion"),
    (lambda e: e.describe(Motion(np.zeros((10, 2, 3)), 25.0, ["a", "b"], [-1, 0])), "canonical skeleton"),
    (lambda e: e.describe(_motion(jump(2.0)), k=0), "k must be"),
    (lambda e: e.list_clips(limit=0), "limit must be"),
    (lambda e: e.list_clips(offset=-2), "offset must be"),
])
def test_invalid_queries(engine: Engine, call: object, message: str) -> None:
    with pytest.raises(InvalidQuery, match=re.escape(message)):
        call(engine)  # type: ignore[operator]


def test_unknown_clip_ids(engine: Engine) -> None:
    for call in (lambda: engine.clip_info(999), lambda: engine.search_clip(999), lambda: engine.describe_clip(999),
                 lambda: engine.clip_motion(999), lambda: engine.delete_clip(999)):
        with pytest.raises(NotFound, match="999"):
            call()


def test_a_user_rig_file_in_the_library_maps_query_motions(engine: Engine, location: LibraryLocation) -> None:
    """Query clips on a rig only a user's rig file describes (names that say nothing, every joint hanging
    from the root, so the hierarchy says nothing either): refused without it, searched with it."""
    opaque = [f"J{i:02d}" for i in range(len(JOINTS))]
    query = Motion(jump(4.0), CANONICAL_FPS, opaque, [-1] + [0] * (len(JOINTS) - 1), {})
    with pytest.raises(InvalidQuery, match="unrecognised rig"):
        engine.search_motion(query, k=2)
    rigs = location.data_dir / "rigs"
    rigs.mkdir()
    lines = ['name = "studio"', 'units = "m"', 'up = "y"', "[joints]"]
    lines += [f'{joint} = "{name}"' for joint, name in zip(JOINTS, opaque, strict=True)]
    (rigs / "studio.toml").write_text("\n".join(lines) + "\n")
    hits = engine.search_motion(query, k=2).results
    assert len(hits) == 2 and hits[0].clip_id is not None


def test_one_request_cannot_ask_for_unbounded_work(location: LibraryLocation, clips: dict[str, int]) -> None:
    from search.limits import SearchLimits

    limits = SearchLimits(max_k=5, max_offset=10, max_filter_labels=2, filter_cache_entries=3,
                          generated_max_age_s=3600, generated_max_bytes=1)
    with Engine.open(location, FakeModel(), progress=False, ingest_workers=0, limits=limits) as eng:
        with pytest.raises(InvalidQuery, match="offset must be an integer from 0 to 10"):
            eng.search_text("jumping", k=2, offset=11, generate="never")
        with pytest.raises(InvalidQuery, match="k must be an integer from 1 to 5"):
            eng.search_text("jumping", k=6, generate="never")
        with pytest.raises(InvalidQuery, match="at most 2 label filters"):
            eng.search_text("jumping", k=2, filters=Filters(labels={"a": "1", "b": "2", "c": "3"}), generate="never")
        for i in range(8):  # eight distinct filters: only the three most recent masks stay cached
            eng.search_text("jumping", k=2, filters=Filters(labels={"kind": f"k{i}"}), generate="never")
        assert len(eng._filter_masks) == 3
        folder = location.data_dir / "generated"
        first, _ = eng.generate("a spin", seconds=2)
        second, _ = eng.generate("a jump", seconds=2)  # over the byte cap: only the newest stays
        assert sorted(p.stem for p in folder.glob("*.npy")) == [second]
        with pytest.raises(NotFound):
            eng.generated_motion(first)
        os.utime(folder / f"{second}.npy", (0, 0))  # expired by age
        third, _ = eng.generate("a walk", seconds=2)
        assert sorted(p.stem for p in folder.glob("*.npy")) == [third]


# ---- by example: the same movement first (search.by_example) --------------------------------------

def test_match_same_puts_the_same_movement_on_another_body_first(location: LibraryLocation) -> None:
    from tests.fake_model import add_clip

    original = walk(5.0)  # 1.2 m/s
    decoy = walk(5.0, 1.0)  # moves like the query below (speed) but with a wide stance: another movement
    legs = [11, 12, 13, 14, 15, 16, 17, 18]
    decoy[:, legs, 0] *= 2.5
    with Library.open(location) as lib:
        ids = {"original": add_clip(lib, original, "original"), "decoy": add_clip(lib, decoy, "decoy"),
               "jump": add_clip(lib, jump(4.0), "jump"), "spin": add_clip(lib, spin(4.0), "spin")}
    # the original take on a smaller body (limbs 0.85x about the pelvis), walking 1.02 m/s
    pelvis = walk(5.0, 1.02)[:, 0:1]
    query = pelvis + 0.85 * (original - original[:, 0:1])
    with _engine(location) as eng:
        similar = eng.search_motion(_motion(query), k=4)
        same = eng.search_motion(_motion(query), k=4, match="same")
        pages = [h.clip_id for off in (0, 2) for h in eng.search_motion(_motion(query), k=2, offset=off,
                                                                          match="same").results]
        assert pages == [h.clip_id for h in same.results]  # every page from one ranking
    with _engine(location, same_motion_pose_weight=0.0) as eng:
        partial = eng.search_motion(_motion(query), k=4, match="same")
    assert similar.match == "similar" and same.match == "same"
    assert similar.results[0].clip_id == ids["decoy"]  # the learned (fake) space ranks by speed
    assert same.results[0].clip_id == ids["original"] and same.results[0].score > 0.99
    assert same.results[0].score > same.results[1].score + 0.05
    # weight 0 is the learned ranking itself, re-scored exactly
    assert [h.clip_id for h in partial.results] == [h.clip_id for h in similar.results]
    assert [h.score for h in partial.results] == pytest.approx([h.score for h in similar.results], abs=1e-5)
    with _engine(location) as eng, pytest.raises(InvalidQuery, match="match must be one of"):
        eng.search_motion(_motion(query), k=4, match="identical")


def test_temporal_context_prefers_the_same_phrase_to_the_same_moves_in_another_order(location: LibraryLocation) -> None:
    """By example with context (``by_example_context``): a clip holding the query's moves in the query's order
    outranks one holding the same moves in another order, which the windows alone cannot tell apart."""
    from tests.fake_model import add_clip

    moves = [jump(3.2), walk(3.2), spin(3.2), arms(3.2)]
    in_order = np.concatenate(moves)
    shuffled = np.concatenate([moves[i] for i in (2, 0, 3, 1)])
    query = np.concatenate([jump(3.2, 0.28), walk(3.2, 1.15), spin(3.2, 0.95 * np.pi), arms(3.2, 0.28)])
    with Library.open(location) as lib:
        ids = {"in order": add_clip(lib, in_order, "in-order"), "shuffled": add_clip(lib, shuffled, "shuffled")}

    def scores(context: int, match: str = "similar", motion: np.ndarray = query) -> dict[int, float]:
        with _engine(location, by_example_context={match: context}) as eng:
            return {h.clip_id: h.score for h in eng.search_motion(_motion(motion), k=2, match=match).results}

    alone, in_context = scores(0), scores(2)
    gap_alone = alone[ids["in order"]] - alone[ids["shuffled"]]
    assert abs(gap_alone) < 0.03   # each move is in both clips: only the windows across a change differ
    assert in_context[ids["in order"]] - in_context[ids["shuffled"]] > max(0.1, 4 * gap_alone)
    assert in_context[ids["in order"]] == pytest.approx(alone[ids["in order"]], abs=0.03)
    same = scores(2, "same")  # the same mode takes its own context setting
    assert same[ids["in order"]] > same[ids["shuffled"]] + 0.05
    # a query longer than MAX_QUERY_WINDOWS windows keeps every other window, evenly spaced: context still works
    twice = np.concatenate([query, query + np.array([0.0, 0.0, query[-1, 0, 2] - query[0, 0, 2]], np.float32)])
    long = scores(2, motion=twice)
    assert long[ids["in order"]] > long[ids["shuffled"]] + 0.05


def test_context_averages_the_pairs_at_the_same_time_shift() -> None:
    from search.by_example import in_context

    sims = np.arange(12, dtype=np.float32).reshape(3, 4)
    query, clip = np.array([0, 20, 40]), np.array([0, 20, 40, 47])   # 47: the clip's end-aligned tail window
    out = in_context(sims, query, clip, 1, 20)
    assert out[0, 0] == pytest.approx((sims[0, 0] + sims[1, 1]) / 2)
    assert out[1, 1] == pytest.approx((sims[0, 0] + sims[1, 1] + sims[2, 2]) / 3)
    assert out[2, 3] == sims[2, 3] and out[0, 3] == sims[0, 3]   # the tail window has no neighbour 20 frames away
    assert out[1, 2] == pytest.approx((sims[1, 2] + sims[0, 1]) / 2)   # 20 frames later: past both ends
    assert out[2, 0] == sims[2, 0]   # 20 frames earlier than the clip's first window: no pair
    assert np.array_equal(in_context(sims, query, clip, 0, 20), sims)


def test_by_example_pages_continue_past_the_rescored_clips(location: LibraryLocation, clips: dict[str, int],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """With one nearest window fetched per query window only a few clips are re-scored in context; the
    learned order continues after them, every page from the same ranking, every other clip exactly once."""
    import search.engine

    rescored: list[set[int]] = []

    def spy(index, queries, starts, candidates, *args):  # type: ignore[no-untyped-def]
        rescored.append({group for group, _ in candidates})
        return rerank(index, queries, starts, candidates, *args)

    rerank = search.engine.rerank
    monkeypatch.setattr(search.engine, "RERANK_FETCH", 1)
    monkeypatch.setattr(search.engine, "rerank", spy)
    query = _motion(mixed(4.0))
    with _engine(location, by_example_context={"similar": 2}) as eng:
        whole = [h.clip_id for h in eng.search_motion(query, k=len(clips)).results]
        pages = [h.clip_id for off in range(len(clips)) for h in eng.search_motion(query, k=1, offset=off).results]
    with _engine(location) as eng:   # no context: the learned ranking itself
        learned = [h.clip_id for h in eng.search_motion(query, k=len(clips)).results]
    head = rescored[0]
    assert all(r == head for r in rescored) and 0 < len(head) < len(clips)
    assert pages == whole and sorted(whole) == sorted(clips.values())
    assert set(whole[:len(head)]) == head and whole[0] == clips["mixed"]
    assert whole[len(head):] == [c for c in learned if c not in head]   # then the learned order
