"""Tests of the HTTP service over the fake engine: every endpoint, auth, limits, error mapping and
fuzzed uploads (every bad upload must get a clean 4xx JSON error, never a 500)."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
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
from motion.formats import load_motion_bytes
from motion.skeleton import JOINTS, PARENTS
from search.errors import ModelMissing
from search.protocol import SearchEngine
from search.types import Filters
from tests.fake_engine import FakeEngine

KEY = "s3cret-key"
HIT_KEYS = {"clip_id", "source_path", "start", "end", "score", "labels", "description", "cluster",
            "generated", "generated_id", "motion_url",
            "motion_score", "keyword_score", "matched_terms", "metadata_similarity"}  # why it matched


def bvh_text(n_frames: int = 50, spine_channels: int = 3) -> str:
    """A two-joint BVH (Hips with 6 channels, Spine with `spine_channels`), 25 fps, bouncing root."""
    rows = "\n".join(" ".join(["0", f"{90 + 5 * np.sin(i / 4):.3f}", f"{i * 0.5:.3f}", "0", "0", "0"]
                              + ["0"] * 3) for i in range(n_frames))
    return ("HIERARCHY\nROOT Hips\n{\n  OFFSET 0 0 0\n"
            "  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation\n"
            f"  JOINT Spine\n  {{\n    OFFSET 0 10 0\n    CHANNELS {spine_channels} Zrotation Xrotation Yrotation\n"
            "    End Site\n    {\n      OFFSET 0 10 0\n    }\n  }\n}\n"
            f"MOTION\nFrames: {n_frames}\nFrame Time: 0.04\n{rows}\n")


GOOD_BVH = bvh_text().encode()


def make_client(tmp_path: Path, engine: SearchEngine | None = None, **overrides: Any) -> TestClient:
    options: dict[str, Any] = {"data_dir": tmp_path, "api_key": KEY}
    options.update(overrides)
    fake = engine if engine is not None else FakeEngine()
    app = create_app(ServiceSettings(**options), engine_factory=lambda _settings: fake)
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def client(tmp_path: Path, engine: FakeEngine) -> Iterator[TestClient]:
    with make_client(tmp_path, engine) as c:
        yield c


def assert_error(resp: Any, status: int, *fragments: str) -> None:
    """A clean JSON error with a string `detail` containing every fragment."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    detail = resp.json()["detail"]
    assert isinstance(detail, str) and detail
    for fragment in fragments:
        assert fragment in detail, detail


def upload(name: str, data: bytes) -> dict[str, Any]:
    return {"file": (name, data, "application/octet-stream")}


# --- service basics --------------------------------------------------------------------------------
def test_health_status_and_docs(client: TestClient) -> None:
    assert client.get("/api/health").json() == {"status": "ok", "engine_loaded": True}
    assert client.get("/api/status").json()["model"] == "fake"
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/search/text", "/api/search/clip", "/api/search/clip/{clip_id}", "/api/describe",
                 "/api/describe/{clip_id}", "/api/generate", "/api/clips", "/api/clips/{clip_id}",
                 "/api/clips/{clip_id}/motion", "/api/generated/{generated_id}/motion", "/api/ingest",
                 "/api/reindex", "/api/health", "/api/status"):
        assert path in paths


def test_engine_not_loaded_is_503(tmp_path: Path) -> None:
    client = make_client(tmp_path)  # no `with`: the lifespan never ran
    assert client.get("/api/health").json()["engine_loaded"] is False
    assert_error(client.get("/api/search/text", params={"query": "jump"}), 503, "not loaded")


def test_model_missing_is_503_and_unexpected_is_json_500(tmp_path: Path) -> None:
    class Broken(FakeEngine):
        def status(self) -> dict[str, Any]:
            raise ModelMissing("no model in /models/x: train one with `dancesearch train`")

        def list_clips(self, limit: int = 50, offset: int = 0, filters: Filters | None = None) -> list[dict[str, Any]]:
            raise RuntimeError("boom")

    with make_client(tmp_path, Broken()) as c:
        assert_error(c.get("/api/status"), 503, "no model in /models/x")
        assert_error(c.get("/api/clips"), 500, "internal error")


def test_default_engine_needs_a_model(tmp_path: Path) -> None:
    app = create_app(ServiceSettings(data_dir=tmp_path, model=None))
    with pytest.raises(ModelMissing, match="DANCESEARCH_MODEL"), TestClient(app):
        pass
    app = create_app(ServiceSettings(data_dir=tmp_path, model=tmp_path / "no-such-model"))
    with pytest.raises(ModelMissing, match="no-such-model"), TestClient(app):
        pass


def test_web_page_is_served(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "app.js" in page.text and "http://" not in page.text and "https://" not in page.text
    assert client.get("/app.js").status_code == 200
    assert client.get("/vendor/three.min.js").status_code == 200


# --- text search ------------------------------------------------------------------------------------
def test_text_search_get_schema_and_ranking(client: TestClient, engine: FakeEngine) -> None:
    body = client.get("/api/search/text", params={"query": "happy jump", "k": 2}).json()
    assert set(body) == {"results", "query_cluster", "cluster_filter", "generated_fallback", "offset", "k", "mode",
                         "match"}
    assert body["match"] is None  # by example only
    first = body["results"][0]
    assert set(first) == HIT_KEYS
    assert first["clip_id"] == 2 and first["motion_url"] == "/api/clips/2/motion?format=json"
    assert body["k"] == 2 and not body["generated_fallback"]
    assert engine.calls[-1][1]["query"] == "happy jump"
    assert engine.calls[-1][1]["mode"] == "hybrid" and body["mode"] == "hybrid"  # the default mode


def test_text_search_filters_are_passed_on(client: TestClient, engine: FakeEngine) -> None:
    params: dict[str, Any] = {"query": "a turning waltz", "source": "ballroom", "label": ["genre=waltz"],
              "min_duration": 1, "max_duration": 60, "cluster_filter": "true", "generate": "never"}
    body = client.get("/api/search/text", params=params).json()
    assert [h["clip_id"] for h in body["results"]] == [1]
    call = engine.calls[-1][1]
    assert call["filters"] == Filters("ballroom", {"genre": "waltz"}, 1.0, 60.0)
    assert call["cluster_filter"] is True and call["generate"] == "never"


def test_text_search_post(client: TestClient, engine: FakeEngine) -> None:
    body = {"query": "  walking  ", "k": 3, "offset": 0, "generate": "never",
            "filters": {"source": "cmu", "labels": {"subject": "2"}, "max_duration": 9}}
    resp = client.post("/api/search/text", json=body)
    assert [h["clip_id"] for h in resp.json()["results"]] == [3]
    call = engine.calls[-1][1]
    assert call["query"] == "walking" and call["filters"] == Filters("cmu", {"subject": "2"}, None, 9.0)


def test_paging(client: TestClient) -> None:
    def ids(offset: int) -> list[int]:
        params: dict[str, Any] = {"query": "a happy jump walking waltzes", "k": 1, "offset": offset, "generate": "never"}
        return [h["clip_id"] for h in client.get("/api/search/text", params=params).json()["results"]]
    pages = [ids(0), ids(1), ids(2), ids(3)]
    assert pages[3] == [] and sorted(sum(pages, [])) == [1, 2, 3]


def test_generate_fallback_modes(client: TestClient) -> None:
    never = client.get("/api/search/text", params={"query": "backflip", "generate": "never"}).json()
    assert never["results"] == [] and not never["generated_fallback"]
    auto = client.get("/api/search/text", params={"query": "backflip"}).json()
    assert auto["generated_fallback"]
    hit = auto["results"][0]
    assert hit["generated"] and hit["clip_id"] is None
    assert hit["motion_url"] == f"/api/generated/{hit['generated_id']}/motion?format=json"
    assert client.get(hit["motion_url"]).json()["n_frames"] > 0
    assert_error(client.get("/api/search/text", params={"query": "jump", "generate": "sometimes"}), 422, "generate")


@pytest.mark.parametrize("query, fragment", [("x" * 501, "limit is 500"), ("   ", "empty"), ("", "empty")])
def test_query_limits(client: TestClient, query: str, fragment: str) -> None:
    assert_error(client.get("/api/search/text", params={"query": query}), 422, fragment)
    assert_error(client.post("/api/search/text", json={"query": query}), 422, fragment)
    assert_error(client.post("/api/generate", json={"query": query}), 422, fragment)


def test_query_at_the_limit_and_missing_query(client: TestClient) -> None:
    assert client.get("/api/search/text", params={"query": "jump " + "x" * 495}).status_code == 200
    assert_error(client.get("/api/search/text"), 422, "query")
    assert_error(client.post("/api/search/text", content=b"{not json", headers={"content-type": "application/json"}),
                 422)


@pytest.mark.parametrize("k", [0, -1, 101, 10**9])
def test_k_out_of_range(client: TestClient, k: int) -> None:
    assert_error(client.get("/api/search/text", params={"query": "jump", "k": k}), 422, "k")
    assert_error(client.post("/api/search/text", json={"query": "jump", "k": k}), 422, "k")
    assert_error(client.get("/api/describe/1", params={"k": k}), 422, "k")
    assert_error(client.get("/api/search/clip/1", params={"k": k}), 422, "k")


def test_k_limit_is_configurable(tmp_path: Path) -> None:
    with make_client(tmp_path, max_k=5, max_query_chars=10) as c:
        assert c.get("/api/search/text", params={"query": "jump", "k": 5}).status_code == 200
        assert c.post("/api/search/text", json={"query": "jump"}).json()["k"] == 5
        assert_error(c.get("/api/search/text", params={"query": "jump", "k": 6}), 422, "between 1 and 5")
        assert_error(c.get("/api/search/text", params={"query": "jumping high"}), 422, "limit is 10")


def test_bad_filters(client: TestClient) -> None:
    assert_error(client.get("/api/search/text", params={"query": "jump", "label": "genre"}), 422, "key=value")
    assert_error(client.get("/api/search/text", params={"query": "jump", "min_duration": -1}), 422, "min_duration")
    assert_error(client.get("/api/search/text", params={"query": "jump", "offset": -2}), 422, "offset")


# --- search and describe by example ---------------------------------------------------------------
def test_search_by_uploaded_clip(client: TestClient, engine: FakeEngine) -> None:
    resp = client.post("/api/search/clip", files=upload("example.bvh", GOOD_BVH),
                       params={"k": 2, "start": 0.4, "end": 1.6, "source": "cmu"})
    body = resp.json()
    assert resp.status_code == 200 and set(body["results"][0]) == HIT_KEYS
    assert [h["clip_id"] for h in body["results"]] == [3]
    call = engine.calls[-1][1]
    assert call["n_frames"] == 50 and (call["start"], call["end"], call["k"]) == (0.4, 1.6, 2)
    assert call["filters"] == Filters(source="cmu")
    assert call["match"] == "similar" and body["match"] == "similar"  # the default


def test_search_by_example_match_switch(client: TestClient, engine: FakeEngine) -> None:
    resp = client.post("/api/search/clip", files=upload("example.bvh", GOOD_BVH), params={"match": "same"})
    assert resp.status_code == 200 and resp.json()["match"] == "same" and engine.calls[-1][1]["match"] == "same"
    lib = client.get("/api/search/clip/1", params={"match": "same", "k": 2})
    assert lib.status_code == 200 and lib.json()["match"] == "same" and engine.calls[-1][1]["match"] == "same"
    assert_error(client.get("/api/search/clip/1", params={"match": "identical"}), 422, "match")


def test_upload_formats(client: TestClient) -> None:
    positions = np.zeros((30, len(JOINTS), 3), np.float32)
    positions[:, :, 1] = np.linspace(0, 1.6, len(JOINTS))
    npz = io.BytesIO()
    np.savez(npz, positions=positions, fps=np.float32(25), joint_names=np.array(JOINTS), parents=np.array(PARENTS))
    skeletons = np.random.default_rng(0).normal(size=(20, 23, 3)).round(3).tolist()
    ballroom = json.dumps({"skeletons": skeletons, "center": [[0, 0, 0]] * 20}).encode()
    for name, data in [("a.bvh.gz", gzip.compress(GOOD_BVH)), ("b.npz", npz.getvalue()),
                       ("skeletons.json", ballroom), ("c.BVH", GOOD_BVH)]:
        resp = client.post("/api/search/clip", files=upload(name, data))
        assert resp.status_code == 200, (name, resp.text)
        assert resp.json()["results"]


def test_upload_errors_name_the_file(client: TestClient) -> None:
    assert_error(client.post("/api/search/clip", files=upload("notes.txt", b"hello")), 400, "notes.txt", "unsupported")
    assert_error(client.post("/api/search/clip", files=upload("empty.bvh", b"")), 400, "empty.bvh", "empty")
    assert_error(client.post("/api/describe", files=upload("../../etc/cut.bvh", GOOD_BVH[:200])), 400, "cut.bvh")
    assert_error(client.post("/api/search/clip", files=upload("x.bvh.gz", b"not gzip")), 400, "x.bvh.gz")
    assert_error(client.post("/api/search/clip"), 422, "file")


def test_time_range_errors(client: TestClient) -> None:
    assert_error(client.post("/api/search/clip", files=upload("a.bvh", GOOD_BVH), params={"start": 2, "end": 1}),
                 422, "after start")
    assert_error(client.post("/api/search/clip", files=upload("a.bvh", GOOD_BVH), params={"start": 50}),
                 422, "outside the motion")
    assert_error(client.get("/api/clips/1/motion", params={"start": -1}), 422, "start")


def test_upload_size_limit(tmp_path: Path) -> None:
    with make_client(tmp_path, max_upload_mb=0.01) as c:   # 10 KiB
        big = bvh_text(n_frames=400).encode()
        assert len(big) > 0.01 * 1024 * 1024
        assert_error(c.post("/api/search/clip", files=upload("big.bvh", big)), 413, "big.bvh", "limit")
        assert_error(c.post("/api/describe", files=upload("big.bvh", big)), 413, "limit")
        bomb = gzip.compress(big + b" " * 200_000)
        assert len(bomb) < 0.01 * 1024 * 1024
        assert_error(c.post("/api/search/clip", files=upload("bomb.bvh.gz", bomb)), 400, "bomb.bvh.gz", "limit")
        huge = c.post("/api/search/clip", content=b"x" * (2 * 1024 * 1024),
                      headers={"content-type": "multipart/form-data; boundary=abc"})
        assert_error(huge, 413, "upload limit")
        assert c.post("/api/search/clip", files=upload("ok.bvh", bvh_text(20).encode())).status_code == 200


def test_search_by_library_clip(client: TestClient, engine: FakeEngine) -> None:
    body = client.get("/api/search/clip/2", params={"start": 0, "end": 4, "k": 5}).json()
    ids = [h["clip_id"] for h in body["results"]]
    assert 2 not in ids and sorted(ids) == [1, 3]
    assert engine.calls[-1][1]["exclude_clip_id"] == 2
    assert_error(client.get("/api/search/clip/99"), 404, "99")
    assert_error(client.get("/api/search/clip/abc"), 422)


def test_describe(client: TestClient) -> None:
    by_id = client.get("/api/describe/2", params={"k": 2}).json()
    assert set(by_id) == {"results", "query_cluster", "cluster_filter"}
    assert [set(d) for d in by_id["results"]] == [{"text", "score", "cluster"}] * 2
    assert by_id["results"][0]["text"] == "a happy jump with the arms raised"
    uploaded = client.post("/api/describe", files=upload("mine.bvh", GOOD_BVH), params={"k": 3}).json()
    assert len(uploaded["results"]) == 3
    assert_error(client.get("/api/describe/42"), 404, "42")


# --- generate, clips, motion downloads ----------------------------------------------------------------
def test_generate_and_download(client: TestClient, engine: FakeEngine) -> None:
    body = client.post("/api/generate", json={"query": "a spinning jump", "seconds": 2}).json()
    assert body["n_frames"] == 50 and body["duration"] == pytest.approx(2.0) and body["fps"] == 25
    assert engine.calls[-1] == ("generate", {"query": "a spinning jump", "seconds": 2.0, "seed": 0})
    client.post("/api/generate", json={"query": "a spinning jump", "seconds": 2, "seed": 7})
    assert engine.calls[-1] == ("generate", {"query": "a spinning jump", "seconds": 2.0, "seed": 7})
    assert_error(client.post("/api/generate", json={"query": "jump", "seed": -1}), 422, "seed")
    motion = client.get(body["motion_url"]).json()
    assert np.asarray(motion["positions"]).shape == (50, 19, 3)
    bvh = client.get(body["bvh_url"])
    assert bvh.status_code == 200 and bvh.content.startswith(b"HIERARCHY")
    assert f"generated-{body['generated_id']}.bvh" in bvh.headers["content-disposition"]
    assert_error(client.get("/api/generated/nope/motion"), 404, "nope")
    assert_error(client.get("/api/generated/..%2F..%2Fetc/motion"), 404)
    assert_error(client.get("/api/generated/a.b/motion"), 422)
    assert_error(client.post("/api/generate", json={"query": "jump", "seconds": 21}), 422, "at most 20")
    assert_error(client.post("/api/generate", json={"query": "jump", "seconds": 0}), 422, "seconds")


def test_clip_list_info_and_filters(client: TestClient) -> None:
    listing = client.get("/api/clips").json()
    assert [c["id"] for c in listing["clips"]] == [3, 2, 1] and listing["limit"] == 50
    assert [c["id"] for c in client.get("/api/clips", params={"limit": 1, "offset": 1}).json()["clips"]] == [2]
    assert [c["id"] for c in client.get("/api/clips", params={"label": "style=happy"}).json()["clips"]] == [2]
    assert [c["id"] for c in client.get("/api/clips", params={"max_duration": 7}).json()["clips"]] == [2]
    info = client.get("/api/clips/1").json()
    assert info["source"] == "ballroom" and info["labels"] == {"genre": "waltz"} and info["duration"] == 10
    assert_error(client.get("/api/clips/7"), 404, "7")
    assert_error(client.get("/api/clips", params={"limit": 0}), 422, "limit")


def test_clip_motion_json(client: TestClient, engine: FakeEngine) -> None:
    whole = client.get("/api/clips/2/motion").json()
    assert set(whole) == {"fps", "joint_names", "parents", "n_frames", "start", "positions"}
    assert whole["joint_names"] == list(JOINTS) and whole["parents"] == list(PARENTS)
    assert whole["n_frames"] == 150 and np.asarray(whole["positions"]).shape == (150, 19, 3)
    np.testing.assert_allclose(whole["positions"], engine.clips[2].motion.positions, atol=1e-4)
    part = client.get("/api/clips/2/motion", params={"start": 1, "end": 2, "format": "json"}).json()
    assert part["n_frames"] == 25 and part["start"] == 1.0
    np.testing.assert_allclose(part["positions"], engine.clips[2].motion.positions[25:50], atol=1e-4)
    gz = client.get("/api/clips/1/motion", headers={"accept-encoding": "gzip"})
    assert gz.headers.get("content-encoding") == "gzip"
    assert_error(client.get("/api/clips/2/motion", params={"format": "fbx"}), 422, "format")
    assert_error(client.get("/api/clips/9/motion"), 404)


def test_clip_motion_bvh_round_trip(client: TestClient, engine: FakeEngine) -> None:
    resp = client.get("/api/clips/3/motion", params={"format": "bvh", "start": 1, "end": 3})
    assert resp.status_code == 200
    assert 'filename="clip-3_1.00-3.00s.bvh"' in resp.headers["content-disposition"]
    motion = load_motion_bytes(resp.content, "download.bvh")
    assert motion.n_frames == 50 and motion.fps == pytest.approx(25)
    pelvis = motion.positions[:, motion.joint_names.index("pelvis")] / 100.0   # the BVH is in cm
    np.testing.assert_allclose(pelvis, engine.clips[3].motion.positions[25:75, 0], atol=1e-3)


# --- write endpoints and auth ------------------------------------------------------------------------
def write_requests(c: TestClient) -> list[Any]:
    return [c.post("/api/ingest", files=[("files", ("a.bvh", GOOD_BVH, "text/plain"))]),
            c.delete("/api/clips/1"), c.post("/api/reindex")]


def write_requests_with(c: TestClient, key: str) -> list[Any]:
    headers = {"X-API-Key": key}
    return [c.post("/api/ingest", files=[("files", ("a.bvh", GOOD_BVH, "text/plain"))], headers=headers),
            c.delete("/api/clips/1", headers=headers), c.post("/api/reindex", headers=headers)]


def test_writes_refused_without_configured_key(tmp_path: Path) -> None:
    engine = FakeEngine()
    with make_client(tmp_path, engine, api_key=None) as c:
        for resp in write_requests(c) + write_requests_with(c, "anything"):
            assert_error(resp, 403, "DANCESEARCH_API_KEY", "X-API-Key")
    assert not [name for name, _ in engine.calls if name in ("ingest", "delete_clip", "reindex")]
    assert 1 in engine.clips and not (tmp_path / "uploads").exists()


def test_writes_need_the_right_key(client: TestClient, engine: FakeEngine, tmp_path: Path) -> None:
    for resp in write_requests(client) + write_requests_with(client, "wrong") + write_requests_with(client, ""):
        assert_error(resp, 401, "X-API-Key")
    assert 1 in engine.clips and not [n for n, _ in engine.calls if n in ("ingest", "delete_clip", "reindex")]
    ingest, delete, reindex = write_requests_with(client, KEY)
    assert ingest.status_code == 200 and ingest.json()["summary"]["added"] == [4]
    assert delete.status_code == 204 and 1 not in engine.clips
    assert reindex.json() == {"clips": 3, "windows": 0}
    assert_error(client.delete("/api/clips/1", headers={"X-API-Key": KEY}), 404, "1")


def test_ingest_saves_uploads_under_server_names(client: TestClient, engine: FakeEngine, tmp_path: Path) -> None:
    files = [("files", ("../../../escape.bvh", GOOD_BVH, "text/plain")),
             ("files", ("/abs/path/x.BVH.GZ", gzip.compress(GOOD_BVH), "text/plain")),
             ("files", ("broken.bvh", GOOD_BVH[:100], "text/plain")),
             ("metadata", ("meta.csv", b"file,genre\nescape.bvh,waltz\n", "text/csv"))]
    resp = client.post("/api/ingest", files=files, headers={"X-API-Key": KEY})
    body = resp.json()
    assert resp.status_code == 200
    assert [s["file"] for s in body["saved"]] == ["escape.bvh", "x.BVH.GZ", "broken.bvh"]
    assert [s["saved_as"] for s in body["saved"]] == [p.name for p in engine.calls[-1][1]["paths"]]
    saved = sorted(p for p in (tmp_path / "uploads").rglob("*") if p.is_file())
    assert len(saved) == 4 and all(p.resolve().is_relative_to((tmp_path / "uploads").resolve()) for p in saved)
    assert not any("escape" in p.name or "broken" in p.name or "meta" in p.name for p in saved)
    assert sorted(p.suffixes[-1] for p in saved) == [".bvh", ".bvh", ".csv", ".gz"]
    call = engine.calls[-1][1]
    assert [p.read_bytes() for p in call["paths"]][0] == GOOD_BVH and call["metadata"].suffix == ".csv"
    assert body["summary"]["added"] == [4, 5] and len(body["summary"]["errors"]) == 1
    assert not (tmp_path.parent / "escape.bvh").exists()


def test_ingest_limits(tmp_path: Path) -> None:
    with make_client(tmp_path, max_upload_mb=0.001) as c:
        resp = c.post("/api/ingest", files=[("files", ("a.bvh", GOOD_BVH, "text/plain"))], headers={"X-API-Key": KEY})
        assert_error(resp, 413, "a.bvh", "limit")
        assert_error(c.post("/api/ingest", headers={"X-API-Key": KEY}), 422, "files")
    assert not (tmp_path / "uploads").exists()


# --- fuzzing the upload parsers through the service ----------------------------------------------------
def _broken_bvh() -> list[tuple[str, bytes]]:
    text = bvh_text(10)
    cases = [(f"trunc{n}.bvh", GOOD_BVH[:n]) for n in (1, 9, 40, 120, 200, 300, 400, len(GOOD_BVH) - 8)]
    cases += [("junk.bvh", bytes(range(256)) * 4), ("nul.bvh", b"\x00" * 64),
              ("channels.bvh", bvh_text(10, spine_channels=2).encode()),
              ("channels4.bvh", text.replace("CHANNELS 3 Zrotation Xrotation Yrotation",
                                             "CHANNELS 4 Zrotation Xrotation Yrotation").encode()),
              ("frames.bvh", text.replace("Frames: 10", "Frames: 99").encode()),
              ("frametime.bvh", text.replace("Frame Time: 0.04", "Frame Time: 0").encode()),
              ("nan.bvh", text.replace("90.000", "nan", 1).encode()),
              ("words.bvh", text.replace("0 0 0\n", "a b c\n", 1).encode()),
              ("gz.bvh.gz", gzip.compress(GOOD_BVH)[:-20]), ("latin.json", "é{[".encode("latin-1")),
              ("x.json", b'{"skeletons": [[1, 2]]}'), ("y.npz", b"PK\x03\x04junk")]
    return cases


@pytest.mark.parametrize("name, data", _broken_bvh())
def test_malformed_uploads_are_clean_400(client: TestClient, name: str, data: bytes) -> None:
    for path in ("/api/search/clip", "/api/describe"):
        resp = client.post(path, files=upload(name, data))
        assert_error(resp, 400, name)


def test_fuzzed_bvh_never_500(client: TestClient) -> None:
    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(cut=st.integers(0, len(GOOD_BVH)),
           edits=st.lists(st.tuples(st.integers(0, len(GOOD_BVH) - 1), st.binary(min_size=0, max_size=4)),
                          max_size=6))
    def run(cut: int, edits: list[tuple[int, bytes]]) -> None:
        data = bytearray(GOOD_BVH[:cut] if cut % 3 == 0 else GOOD_BVH)
        for pos, replacement in edits:
            pos = min(pos, len(data))
            data[pos:pos + len(replacement)] = replacement
        resp = client.post("/api/search/clip", files=upload("fuzz.bvh", bytes(data)))
        assert resp.status_code == 200 or 400 <= resp.status_code < 500, resp.text
        assert resp.headers["content-type"].startswith("application/json")
        if resp.status_code != 200:
            assert isinstance(resp.json()["detail"], str)

    run()


# --- the serve command ---------------------------------------------------------------------------------
def test_serve_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn
    from typer.testing import CliRunner

    import dancesearch.service.app as service_app
    from dancesearch.cli import app as cli

    runner = CliRunner()
    monkeypatch.delenv("DANCESEARCH_MODEL", raising=False)
    missing = runner.invoke(cli, ["serve", "--data-dir", str(tmp_path)])
    assert missing.exit_code == 2 and "no model directory" in missing.output
    served: dict[str, Any] = {}
    monkeypatch.setattr(service_app, "default_engine_factory", lambda settings: FakeEngine())
    monkeypatch.setattr(uvicorn, "run", lambda app, host, port, log_level: served.update(app=app, host=host, port=port))
    result = runner.invoke(cli, ["serve", "--port", "8123", "--data-dir", str(tmp_path), "--model", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert served["host"] == "127.0.0.1" and served["port"] == 8123
    assert served["app"].state.settings.data_dir == tmp_path and served["app"].state.settings.model == tmp_path
    with TestClient(served["app"]) as c:
        assert c.get("/api/status").json()["model"] == "fake"


# --- the service over the real Engine (with the tests' fake model) -------------------------------------------
def test_service_over_the_real_engine(tmp_path: Path) -> None:
    """The same endpoints over search.engine.Engine: the transport and the real engine agree."""
    from db.config import LibraryLocation
    from db.library import Library
    from motion.npz import write_npz
    from search.engine import Engine
    from tests.fake_engine import jump
    from tests.fake_model import FakeModel, build_library

    location = LibraryLocation.resolve(tmp_path / "lib")
    with Library.open(location) as lib:
        ids = build_library(lib)
    settings = ServiceSettings(data_dir=tmp_path / "lib", api_key=SecretStr(KEY))
    app = create_app(settings, lambda _s: Engine.open(location, FakeModel(), progress=False, ingest_workers=0))
    with TestClient(app, raise_server_exceptions=False) as c:
        hits = c.get("/api/search/text", params={"query": "jumping", "k": 3, "generate": "never"}).json()["results"]
        assert hits[0]["clip_id"] == ids["jump_a"] and set(hits[0]) == HIT_KEYS
        motion = c.get(hits[0]["motion_url"]).json()
        assert motion["joint_names"] == list(JOINTS) and len(motion["positions"]) == motion["n_frames"] > 0
        assert c.get(f"/api/clips/{ids['spin']}").json()["id"] == ids["spin"]
        assert len(c.get("/api/clips", params={"limit": 3}).json()["clips"]) == 3
        assert c.get(f"/api/describe/{ids['jump_a']}").json()["results"]
        assert c.get(f"/api/clips/{ids['walk_a']}/motion", params={"format": "bvh"}).content.startswith(b"HIERARCHY")
        npz = tmp_path / "query.npz"
        write_npz(jump(4.0), npz)
        found = c.post("/api/search/clip", files=upload("query.npz", npz.read_bytes()), params={"k": 2}).json()
        assert len(found["results"]) == 2
        assert_error(c.post("/api/search/clip", files=upload("two-joints.bvh", GOOD_BVH)), 422, "canonical skeleton")
        generated = c.post("/api/generate", json={"query": "spin", "seconds": 2}).json()
        assert c.get(generated["motion_url"]).json()["n_frames"] == generated["n_frames"]
        ingested = c.post("/api/ingest", files=[("files", ("new.npz", npz.read_bytes(), "application/zip"))],
                          headers={"X-API-Key": KEY})
        assert ingested.status_code == 200, ingested.text
        assert c.get("/api/status").json()["clips"] == len(ids) + 1
        assert c.delete(f"/api/clips/{ids['spin']}", headers={"X-API-Key": KEY}).status_code == 204
        assert_error(c.get(f"/api/clips/{ids['spin']}"), 404, str(ids["spin"]))


def test_page_limits_come_from_one_settings_object(tmp_path: Path) -> None:
    from search.limits import DEFAULT_LIMITS

    settings = ServiceSettings(data_dir=tmp_path, api_key=SecretStr(KEY))
    assert (settings.limits().max_k, settings.limits().max_offset) == (DEFAULT_LIMITS.max_k, DEFAULT_LIMITS.max_offset)
    client = make_client(tmp_path, max_offset=20, max_k=7)
    with client:
        assert_error(client.get("/api/search/text", params={"query": "jump", "offset": 21}), 422, "offset")
        assert_error(client.get("/api/search/text", params={"query": "jump", "k": 8}), 422, "k must be")
        assert client.get("/api/search/text", params={"query": "jump", "offset": 20, "k": 7}).status_code == 200
