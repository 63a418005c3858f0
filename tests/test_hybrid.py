"""Hybrid text search: metadata words (BM25) and meaning (metadata embedded by the text encoder) fused
with the motion score; the ``mode`` switch on the engine, the HTTP API and the CLI; consistency of the
metadata signals with the library (relabel, re-ingest with a new sidecar, delete, reindex, another
model); SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from dancesearch.service.app import create_app
from dancesearch.service.settings import ServiceSettings
from db.config import LibraryLocation
from db.models import ClipText
from db.records import NewClip
from motion.skeleton import CANONICAL_FPS
from motion.windows import DEFAULT_SIZE, window_starts
from search.engine import Engine
from search.errors import InvalidQuery
from search.metadata import Fusion, KeywordIndex, clip_doc, path_fields, query_terms, split_words, stem
from tests.fake_engine import FakeEngine
from tests.fake_model import FakeModel, arms, jump, spin, still, walk
from tests.fixtures import write_valid


def add(engine: Engine, positions: np.ndarray, path: str, labels: dict[str, object] | None = None,
        description: str | None = None, root: str | None = "/archive") -> int:
    """Add a clip at ``path`` (ingest root ``root``) with the ingest's windows; returns its id."""
    lib = engine.lib
    key = lib.store.put(positions)
    n = len(positions)
    clip = NewClip(source="archive", path=path, content_hash=hashlib.sha256((key + path).encode()).hexdigest(),
                   format="bvh", orig_fps=CANONICAL_FPS, orig_frames=n, frames=n, motion_key=key,
                   source_root=root, labels=dict(labels or {}), description=description)
    clip_id, added = lib.add_clip(clip, [(s, min(s + DEFAULT_SIZE, n)) for s in window_starts(n)])
    assert added
    return clip_id


def open_engine(data_dir: Path, db_url: str | None = None, model: FakeModel | None = None) -> Engine:
    return Engine.open(LibraryLocation.resolve(data_dir, db_url), model or FakeModel(), sync=False, progress=False)


MOTIONS = {"jump": lambda: jump(4.0), "jump2": lambda: jump(5.0, 0.2), "walk": lambda: walk(4.0),
           "walk2": lambda: walk(3.0, 1.0), "spin": lambda: spin(4.0), "arms": lambda: arms(4.0),
           "still": lambda: still(4.0)}


def ranking(engine: Engine, query: str, mode: str, k: int = 10, offset: int = 0) -> list[tuple[int, float, float, float]]:
    res = engine.search_text(query, k=k, offset=offset, generate="never", mode=mode)
    assert res.mode == mode
    return [(h.clip_id, h.score, h.start, h.end) for h in res.results if h.clip_id is not None]


# ---- analysis -------------------------------------------------------------------------------------

def test_names_split_into_words_and_stems_meet() -> None:
    assert split_words("SlowWaltz_Turn2") == ["slow", "waltz", "turn", "2"]
    assert split_words("martial_arts/kata_03.bvh") == ["martial", "arts", "kata", "03", "bvh"]
    assert split_words("HTTPServer hip-hop") == ["http", "server", "hip", "hop"]
    assert {stem(w) for w in ("walk", "walks", "walking", "walked")} == {"walk"}
    assert stem("spinning") == stem("spins") == "spin" and stem("dancing") == stem("dances") == stem("dance")
    # "hip-hop", "hip hop" and "hiphop" share a term.
    assert "hiphop" in query_terms("hip-hop") and "hiphop" in query_terms("hip hop") and query_terms("hiphop") == ["hiphop"]
    assert path_fields("/data/mocap/styles/tired_walk_02.bvh.gz", "/data/mocap") == ["mocap", "styles", "tired_walk_02"]
    assert path_fields("/x/y/z/Salsa_Basic_Step.bvh", None) == ["y", "z", "Salsa_Basic_Step"]
    # Stop words, generic archive words and numbers are not informative: nothing to index or embed.
    opaque = clip_doc(1, "/archive/take_001.bvh", "/archive", {}, None)
    assert not opaque.terms and opaque.text == ""
    doc = clip_doc(2, "/archive/SlowWaltz_Turn2.bvh", "/archive", {"genre": "Hip-Hop", "dance": True,
                                                                  "noisy": False}, "a gloomy walk")
    assert doc.text == "hip hop slow waltz turn gloomy walk"
    assert {"hiphop", "waltz", "turn", "gloomi", "walk", "danc"} <= set(doc.terms) and "noisi" not in doc.terms


def test_bm25_prefers_specific_and_complete_matches() -> None:
    docs = [clip_doc(1, "/a/salsa_basic_step.bvh", "/a", {}, None),
            clip_doc(2, "/a/salsa_turn.bvh", "/a", {}, None),
            clip_doc(3, "/a/waltz_turn.bvh", "/a", {}, None),
            clip_doc(4, "/a/take_7.bvh", "/a", {}, None)]
    index = KeywordIndex(docs)
    assert len(index) == 3   # the opaque take has no words
    result = index.search("a salsa turn")
    hits = result.as_dict()
    assert result.ranked()[0] == 2 and hits.keys() == {1, 2, 3} and result.get(4) is None
    assert hits[2].terms == ("salsa", "turn") and 0 < hits[1].score < hits[2].score <= 1.0
    assert len(index.search("the of a")) == 0 and len(index.search("foxtrot")) == 0


# ---- the engine -----------------------------------------------------------------------------------

def test_opaque_library_hybrid_equals_motion_exactly(data_dir: Path) -> None:
    """Opaque names, no labels, no descriptions: hybrid (and its paging) is the motion ranking exactly."""
    with open_engine(data_dir) as engine:
        for i, name in enumerate(MOTIONS):
            add(engine, MOTIONS[name](), f"/archive/take_{i + 1:03d}.bvh")
        add(engine, walk(6.0, 0.8), "/archive/Take 9.BVH.gz")
        add(engine, jump(3.0, 0.35), "/archive/capture/clip_0010.npz")
        engine.sync()
        assert engine.meta.vectors is not None and len(engine.meta.vectors) == 0 and len(engine.meta.keywords) == 0
        for query in ("jumping", "a person walks forward", "spinning around", "raise both arms",
                      "take 1", "a slow waltz turn", "clip"):
            motion = ranking(engine, query, "motion")
            assert len(motion) == 9
            assert ranking(engine, query, "hybrid") == motion
            assert ranking(engine, query, "hybrid", k=3, offset=3) == motion[3:6]
            assert ranking(engine, query, "keyword") == []
        hit = engine.search_text("jumping", generate="never").results[0]
        assert hit.motion_score == hit.score and hit.keyword_score is None and hit.matched_terms == [] \
            and hit.metadata_similarity is None


def test_names_and_labels_lift_their_clips(data_dir: Path) -> None:
    with open_engine(data_dir) as engine:
        ids = {name: add(engine, MOTIONS[name](), f"/archive/take_{i:03d}.bvh") for i, name in enumerate(MOTIONS)}
        salsa = add(engine, walk(4.0, 0.9), "/archive/dances/Salsa_Basic_Step.bvh")
        hop = add(engine, still(5.0), "/archive/styles/take_02.bvh", {"mood": "hop"})
        engine.sync()
        motion = ranking(engine, "salsa", "motion")
        hybrid = engine.search_text("salsa", generate="never").results
        assert hybrid[0].clip_id == salsa and motion[0][0] != salsa
        assert hybrid[0].matched_terms == ["salsa"] and 0.8 < hybrid[0].keyword_score <= 1.0
        assert hybrid[0].score == pytest.approx(hybrid[0].motion_score + engine.fusion.boost(
            hybrid[0].keyword_score, hybrid[0].metadata_similarity))
        # The moment is still the motion's best span.
        motion_hit = next(h for h in engine.search_text("salsa", k=20, generate="never", mode="motion").results
                          if h.clip_id == salsa)
        assert (hybrid[0].start, hybrid[0].end, hybrid[0].motion_score) == \
            (motion_hit.start, motion_hit.end, motion_hit.score)
        # Clips whose metadata says nothing keep their motion order and scores.
        rest = [(h.clip_id, h.score) for h in hybrid if h.clip_id in ids.values()]
        assert rest == [(c, s) for c, s, _, _ in motion if c in ids.values()]
        keyword = engine.search_text("salsa", generate="never", mode="keyword").results
        assert [h.clip_id for h in keyword] == [salsa] and keyword[0].score == hybrid[0].keyword_score
        # Meaning: "jumping" shares no word with the label "hop" but means the same (the fake encoder
        # maps both onto the bounce feature), so the standing clip gets the metadata boost.
        # The shipped default weighs meaning 0 (chosen on val); a positive weight must lift the clip by it.
        default_fusion, engine.fusion = engine.fusion, Fusion(keyword_weight=0.3, meaning_weight=0.5)
        hits = {h.clip_id: h for h in engine.search_text("jumping", k=20, generate="never").results}
        assert hits[hop].matched_terms == [] and hits[hop].metadata_similarity == pytest.approx(1.0, abs=1e-5)
        assert hits[hop].score == pytest.approx(hits[hop].motion_score + 0.5)
        engine.fusion = default_fusion
        unlifted = {h.clip_id: h for h in engine.search_text("jumping", k=20, generate="never").results}
        assert unlifted[hop].score == pytest.approx(unlifted[hop].motion_score)
        # Filters and paging apply to hybrid results too.
        filtered = engine.search_text("salsa", generate="never", filters=_filters(max_duration=3.5)).results
        assert salsa not in {h.clip_id for h in filtered} and filtered
        first, second = (ranking(engine, "salsa walk", "hybrid", k=4, offset=o) for o in (0, 4))
        assert first + second == ranking(engine, "salsa walk", "hybrid", k=8)
        with pytest.raises(InvalidQuery, match="mode"):
            engine.search_text("salsa", mode="fuzzy")


def _filters(**kw: float) -> object:
    from search.types import Filters

    return Filters(**kw)  # type: ignore[arg-type]


def _clip_texts(engine: Engine) -> dict[int, tuple[str, str | None]]:
    with engine.lib.session() as s:
        return {r.clip_id: (r.text, r.model_version)
                for r in s.execute(select(ClipText.clip_id, ClipText.text, ClipText.model_version))}


def check_metadata_signals(engine: Engine, tmp: Path) -> None:
    """Sidecar on re-ingest, delete, reindex, a lost index and another model keep both signals in line."""
    folder = tmp / "archive"
    files = write_valid(folder, 3)
    names = sorted(p.name for p in files)
    (tmp / "first.csv").write_text("file,genre\n" + "".join(f"archive/{n},tango\n" for n in names), encoding="utf-8")
    summary = engine.ingest([folder], tmp / "first.csv")
    assert summary["added"] == 3
    assert summary["indexed"]["metadata"]["embedded"] == 3
    tango = {h.clip_id for h in engine.search_text("tango", generate="never", mode="keyword").results}
    assert len(tango) == 3
    texts = _clip_texts(engine)
    assert all("tango" in t and v == engine.model.version for t, v in texts.values())
    # A new sidecar on re-ingest relabels one clip: only it is re-embedded, both signals follow.
    (tmp / "second.csv").write_text(f"file,genre,description\narchive/{names[0]},salsa,a gloomy salsa\n", encoding="utf-8")
    again = engine.ingest([folder], tmp / "second.csv")
    assert again["indexed"]["metadata"]["embedded"] == 1 and again["indexed"]["metadata"]["removed"] == 1
    salsa = engine.search_text("salsa", generate="never", mode="keyword").results
    assert len(salsa) == 1 and salsa[0].matched_terms == ["salsa"] and salsa[0].description == "a gloomy salsa"
    assert len(engine.search_text("tango", generate="never", mode="keyword").results) == 2
    # Delete: gone from the keywords, the vectors and the table.
    engine.delete_clip(salsa[0].clip_id)
    assert engine.search_text("salsa", generate="never", mode="keyword").results == []
    assert salsa[0].clip_id not in engine.meta.vectors.ids() and salsa[0].clip_id not in _clip_texts(engine)
    # Reindex rebuilds; a lost index is rebuilt from the table on the next sync; the same state is kept.
    assert engine.reindex()["indexes"]["metadata"]["rebuilt"]
    shutil.rmtree(engine.meta.path)
    engine.meta.vectors = None
    report = engine.sync()["metadata"]
    assert report["rebuilt"] and report["embedded"] == 2 and report["size"] == 2
    assert engine.sync()["metadata"]["embedded"] == 0   # nothing left to do
    assert len(engine.search_text("tango", generate="never", mode="keyword").results) == 2


def test_metadata_signals_follow_the_library(data_dir: Path, tmp_path: Path) -> None:
    with open_engine(data_dir) as engine:
        check_metadata_signals(engine, tmp_path)
        assert engine.status()["indexes"]["metadata"]["size"] == 2
    # Another model: every metadata vector is re-embedded by it.
    with open_engine(data_dir, model=FakeModel(version="fake-v2")) as engine:
        report = engine.sync()["metadata"]
        assert report["rebuilt"] and report["embedded"] == 2
        assert {v for _, v in _clip_texts(engine).values()} == {"fake-v2"}


@pytest.mark.postgres
def test_metadata_signals_on_postgres(postgres_url: str, data_dir: Path, tmp_path: Path) -> None:
    with open_engine(data_dir, postgres_url) as engine:
        assert engine.lib.engine.dialect.name == "postgresql"
        check_metadata_signals(engine, tmp_path)


# ---- transports -----------------------------------------------------------------------------------

def test_http_mode_parameter_and_explanations(tmp_path: Path) -> None:
    fake = FakeEngine()
    app = create_app(ServiceSettings(data_dir=tmp_path, api_key=None), engine_factory=lambda _s: fake)
    with TestClient(app, raise_server_exceptions=False) as client:
        body = client.get("/api/search/text", params={"query": "happy jump", "mode": "keyword"}).json()
        assert body["mode"] == "keyword" and fake.calls[-1][1]["mode"] == "keyword"
        hit = body["results"][0]
        assert hit["matched_terms"] == ["happy", "jump"] and hit["keyword_score"] == 1.0
        post = client.post("/api/search/text", json={"query": "happy jump", "mode": "motion"}).json()
        assert post["mode"] == "motion" and post["results"][0]["matched_terms"] == []
        assert post["results"][0]["motion_score"] == post["results"][0]["score"]
        bad = client.get("/api/search/text", params={"query": "jump", "mode": "fuzzy"})
        assert bad.status_code == 422 and "mode" in json.dumps(bad.json()["detail"])
        page = client.get("/").text
        assert 'name="mode"' in page and 'value="hybrid" checked' in page


def test_library_docs_cache_reanalyses_only_changed_clips(data_dir: Path) -> None:
    """A sync after one write analyses only the clips whose metadata changed (issue 11: writes hold the
    engine lock, so their sync must not re-analyse the whole library); the result equals a fresh analysis."""
    from search.metadata import DocCache, library_docs

    with open_engine(data_dir) as engine:
        a = add(engine, jump(4.0), "/archive/waltz/slow_turn.bvh", {"genre": "waltz"})
        b = add(engine, walk(4.0), "/archive/street/stroll.bvh")
        cache: DocCache = {}
        first = library_docs(engine.lib, cache)
        engine.lib.update_clip_metadata(b, {"genre": "hiphop"}, "a stroll", None)
        c = add(engine, spin(4.0), "/archive/salsa/spin.bvh")
        again = library_docs(engine.lib, cache)
        assert again[a] is first[a] and again[b] is not first[b] and set(again) == {a, b, c}
        fresh = library_docs(engine.lib)
        assert {i: (d.terms, d.text) for i, d in again.items()} == {i: (d.terms, d.text) for i, d in fresh.items()}
        from db import annotations as ann_db

        ann_db.delete_clip(engine.lib, a)
        assert set(library_docs(engine.lib, cache)) == {b, c} and set(cache) == {b, c}
