"""The capability routes over a real engine (shipped model, three Bandai clips): classification of a
library clip, interpolation, style transfer, and concepts, whose writes need the API key and which are
usable as <NAME> in text search at once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from explore.stylize import METHODS

pytestmark = pytest.mark.slow  # one engine over three ingested clips: about 40 s on the shared 2-core machine

MODEL = Path(__file__).resolve().parents[1] / "models" / "default"
KEY = "capability-test-key"
FILES = ("wave-left-hand_active_001", "wave-left-hand_active_002", "run_feminine_020")


@pytest.fixture(scope="module")
def client(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    from dancesearch.engine_factory import open_engine
    from dancesearch.service.app import create_app
    from dancesearch.service.settings import ServiceSettings

    data_dir = tmp_path_factory.mktemp("capabilities-library")
    engine = open_engine(MODEL, data_dir)
    engine.ingest([corpus / f"bandai/dataset-2/dataset-2_{f}.bvh.gz" for f in FILES])
    app = create_app(ServiceSettings(data_dir=data_dir, api_key=KEY, model=MODEL), engine_factory=lambda _s: engine)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
    engine.close()


def clip_ids(client: TestClient) -> dict[str, int]:
    clips = client.get("/api/clips").json()
    rows = clips["clips"] if isinstance(clips, dict) else clips
    return {next(f for f in FILES if f in str(r.get("source_path", r.get("path", "")))): r["id"] for r in rows}


def test_classify_interpolate_stylize(client: TestClient) -> None:
    ids = clip_ids(client)
    r = client.get(f"/api/classify/{ids['run_feminine_020']}", params={"labels": "walk, run, wave left hand"})
    assert r.status_code == 200, r.text
    assert r.json()["best"] == "run" and r.json()["spans"]
    ranged = client.get(f"/api/classify/{ids['run_feminine_020']}",
                        params={"labels": "walk, run", "start": 0.4, "end": 2.8}).json()["spans"]
    assert ranged[0]["start"] == pytest.approx(0.4) and ranged[-1]["end"] == pytest.approx(2.8)  # clip times
    assert client.get(f"/api/classify/{ids['run_feminine_020']}", params={"labels": "run"}).status_code == 422
    r = client.post("/api/interpolate", json={"a": f"clip:{ids['run_feminine_020']}", "b": "a person waves", "steps": 3})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body["decoder"] == "vae" and len(body["motions"]) == 3 and body["motions"][0]["n_frames"] > 0
    as_text = client.post("/api/interpolate", json={"a": "/etc/passwd", "b": "x", "steps": 3})
    assert as_text.status_code == 200 and as_text.json()["decoder"] == "generator"  # a path is only words here
    r = client.post("/api/stylize", json={"clip_id": ids["run_feminine_020"], "style": "elderly"})
    assert r.status_code == 200 and r.json()["method"] in METHODS
    assert r.json()["motion"]["n_frames"] > 0
    # adain and pose predict the clip's own style; the other methods do not need it
    assert (r.json()["source_style"] is not None) == (r.json()["method"] in ("adain", "pose"))


def test_concepts_need_the_key_and_work_in_search(client: TestClient) -> None:
    ids = clip_ids(client)
    body = {"name": "lefty", "clips": [f"clip:{ids['wave-left-hand_active_001']}", f"clip:{ids['wave-left-hand_active_002']}"]}
    assert client.post("/api/concepts", json=body).status_code == 401
    assert client.post("/api/concepts", json=body, headers={"X-API-Key": "wrong"}).status_code == 401
    r = client.post("/api/concepts", json=body, headers={"X-API-Key": KEY})
    assert r.status_code == 201, r.text
    assert [c["name"] for c in client.get("/api/concepts").json()["concepts"]] == ["lefty"]
    hits = client.get("/api/search/text", params={"query": "<lefty>", "mode": "motion", "k": 3}).json()["results"]
    library = [h for h in hits if not h.get("generated")]
    assert library and library[0]["clip_id"] in (ids["wave-left-hand_active_001"], ids["wave-left-hand_active_002"])
    assert client.delete("/api/concepts/lefty").status_code == 401
    assert client.delete("/api/concepts/lefty", headers={"X-API-Key": KEY}).status_code == 204
    assert client.get("/api/concepts").json()["concepts"] == []


def test_concept_examples_never_show_server_folders() -> None:
    from dancesearch.service.routers.capabilities import _public

    assert _public("/srv/mocap/private/take.bvh") == "take.bvh"
    assert _public("/srv/mocap/take.bvh@1-4") == "take.bvh@1-4"
    assert _public("clip:3@1-2") == "clip:3@1-2"
