"""The query command line: ``search text|clip``, ``describe``, ``generate``, ``reindex`` and model resolution.

Runs the real CLI in-process over a small library of bundled sample clips, indexed with the session's
tiny trained model (tests/conftest.py ``tiny_model``; its rankings are meaningless, so the tests check
contracts, identities and consistency, not relevance).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner, Result

from dancesearch.cli import app
from tests.fixtures import write_broken

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
SAMPLE_FILES = ("ballroom/DANCE_W_24/skeletons.json.gz", "ballroom/DANCE_C_8/skeletons.json.gz",
                "cmu/005_03.bvh.gz", "cmu/002_02.bvh.gz", "bandai/dataset-1/dataset-1_kick_normal_001.bvh.gz",
                "bandai/dataset-2/dataset-2_walk_active_001.bvh.gz",
                "bandai/dataset-2/dataset-2_wave-both-hands_elderly_001.bvh.gz")
HIT_KEYS = {"clip_id", "source_path", "start", "end", "score", "labels", "description", "cluster", "generated"}
WHY_KEYS = {"motion_score", "keyword_score", "matched_terms", "metadata_similarity"}  # text search: why it matched

Run = Callable[..., Result]


@pytest.fixture(scope="module")
def library(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory holding a few sample clips (with the samples' labels), indexed with the tiny model."""
    from db.config import LibraryLocation
    from embedders.runtime import DanceSearchModel
    from search.engine import Engine

    data_dir = tmp_path_factory.mktemp("cli-library")
    with Engine.open(LibraryLocation.resolve(data_dir), DanceSearchModel(tiny_model), sync=False,
                     progress=False, ingest_workers=0) as engine:
        summary = engine.ingest([SAMPLES / f for f in SAMPLE_FILES], SAMPLES / "manifest.json")
    assert summary["added"] == len(SAMPLE_FILES) and summary["failed"] == 0
    return data_dir


@pytest.fixture
def run(library: Path, tiny_model: Path) -> Run:
    """Invoke the CLI on the module's library and model: ``run("search", "text", "q", "--json")``."""
    runner = CliRunner()

    def invoke(*args: object, model: bool = True, data: bool = True) -> Result:
        extra = [*(["--model", str(tiny_model)] if model else []), *(["--data-dir", str(library)] if data else [])]
        return runner.invoke(app, [str(a) for a in args] + extra, catch_exceptions=False)

    return invoke


def one_document(result: Result) -> dict[str, Any]:
    """The single JSON document a ``--json`` command printed (fails on anything else)."""
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    doc = json.loads(lines[0])
    assert isinstance(doc, dict)
    return doc


def check_hit(hit: dict[str, Any]) -> None:
    assert set(hit) in (HIT_KEYS, HIT_KEYS | WHY_KEYS)
    # A hybrid score is the motion cosine plus the metadata boosts (search.metadata.Fusion).
    motion = hit.get("motion_score", hit["score"]) if not hit["generated"] else hit["score"]
    assert isinstance(hit["score"], float) and -1.0001 <= motion <= 1.0001 and hit["score"] >= motion - 1e-6
    assert isinstance(hit["start"], float) and isinstance(hit["end"], float) and 0 <= hit["start"] < hit["end"]
    assert isinstance(hit["labels"], dict) and isinstance(hit["generated"], bool)
    assert hit["cluster"] is None or isinstance(hit["cluster"], int)
    assert hit["description"] is None or isinstance(hit["description"], str)
    if hit["generated"]:
        assert hit["clip_id"] is None and hit["source_path"] is None
    else:
        assert isinstance(hit["clip_id"], int) and Path(hit["source_path"]).is_file()


def test_search_text_json_contract(run: Run) -> None:
    doc = one_document(run("search", "text", "a slow waltz turn", "-k", "3", "--generate", "never", "--json"))
    assert set(doc) == {"results", "mode"} and doc["mode"] == "hybrid" and 1 <= len(doc["results"]) <= 3
    for hit in doc["results"]:
        check_hit(hit)
        assert not hit["generated"]
    scores = [h["score"] for h in doc["results"]]
    assert scores == sorted(scores, reverse=True)
    assert len({h["clip_id"] for h in doc["results"]}) == len(doc["results"])


def test_search_text_paging_filters_and_generation(run: Run) -> None:
    both = one_document(run("search", "text", "dancing", "-k", "2", "--generate", "never", "--json"))["results"]
    second = one_document(run("search", "text", "dancing", "-k", "1", "--offset", "1", "--generate", "never",
                              "--json"))["results"]
    assert second == both[1:]
    waltz = one_document(run("search", "text", "dancing", "--filter", "genre=waltz", "--generate", "never",
                             "--json"))["results"]
    assert waltz and all(h["labels"]["genre"] == "waltz" for h in waltz)
    source = one_document(run("search", "text", "dancing", "--source", "cmu", "--max-duration", "1000",
                              "--no-cluster-filter", "--generate", "never", "--json"))["results"]
    assert source and all("/cmu/" in h["source_path"] for h in source)
    generated = one_document(run("search", "text", "dancing", "-k", "2", "--generate", "always", "--json"))
    first = generated["results"][0]
    check_hit(first)
    assert first["generated"] and first["description"] == "dancing" and len(generated["results"]) == 3


def test_search_text_table(run: Run) -> None:
    result = run("search", "text", "dancing", "-k", "2", "--generate", "never")
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2 and lines[0].lstrip().startswith("1.") and "samples/" in lines[0]


def test_batch_prints_one_line_per_query(run: Run, tmp_path: Path) -> None:
    batch = tmp_path / "queries.txt"
    batch.write_text("a slow waltz turn\n\n   \nsomeone kicks\n", encoding="utf-8")
    result = run("search", "text", "--batch", batch, "-k", "2", "--generate", "never")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert [line["query"] for line in lines] == ["a slow waltz turn", "someone kicks"]
    for line in lines:
        assert set(line) == {"query", "results", "mode"} and 1 <= len(line["results"]) <= 2
        for hit in line["results"]:
            check_hit(hit)
    single = one_document(run("search", "text", "someone kicks", "-k", "2", "--generate", "never", "--json"))
    assert single["results"] == lines[1]["results"]


def test_batch_reports_a_bad_query_and_goes_on(run: Run, tmp_path: Path) -> None:
    batch = tmp_path / "queries.txt"
    batch.write_text("x" * 2000 + "\nsomeone kicks\n", encoding="utf-8")
    result = run("search", "text", "--batch", batch, "-k", "1", "--generate", "never")
    assert result.exit_code == 2 and "Traceback" not in result.output
    lines = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert "error" in lines[0] and lines[1]["query"] == "someone kicks" and len(lines[1]["results"]) == 1
    assert "1 of 2 queries failed" in result.stderr


def test_search_clip_file_finds_itself(run: Run) -> None:
    query = SAMPLES / SAMPLE_FILES[2]
    for span in ((), ("--start", "0", "--end", "2")):  # the query's windows are windows of the library clip
        doc = one_document(run("search", "clip", query, *span, "-k", "20", "--json"))
        assert set(doc) == {"results"} and len(doc["results"]) == len(SAMPLE_FILES)
        for hit in doc["results"]:
            check_hit(hit)
        own = next(h for h in doc["results"] if Path(h["source_path"]) == query.resolve())
        assert own["score"] > 0.9999 and own["score"] >= max(h["score"] for h in doc["results"]) - 1e-5
    assert own["start"] == 0.0


def test_search_clip_by_id_excludes_the_query_clip(run: Run) -> None:
    doc = one_document(run("search", "clip", "--clip-id", "1", "-k", "20", "--json"))
    assert len(doc["results"]) == len(SAMPLE_FILES) - 1 and all(h["clip_id"] != 1 for h in doc["results"])
    ranged = one_document(run("search", "clip", "--clip-id", "2", "--start", "1", "--end", "5", "-k", "3", "--json"))
    assert 1 <= len(ranged["results"]) <= 3 and all(h["clip_id"] != 2 for h in ranged["results"])


def test_describe_json_contract(run: Run) -> None:
    for source in ((SAMPLES / SAMPLE_FILES[0],), ("--clip-id", "3", "--start", "0", "--end", "2")):
        doc = one_document(run("describe", *source, "-k", "4", "--json"))
        assert set(doc) == {"results"} and 1 <= len(doc["results"]) <= 4
        for d in doc["results"]:
            assert set(d) == {"text", "score", "cluster"}
            assert isinstance(d["text"], str) and d["text"] and isinstance(d["score"], float)
            assert d["cluster"] is None or isinstance(d["cluster"], int)
        scores = [d["score"] for d in doc["results"]]
        assert scores == sorted(scores, reverse=True)
        assert len({d["text"].lower() for d in doc["results"]}) == len(doc["results"])
    table = run("describe", "--clip-id", "3", "-k", "2")
    assert table.exit_code == 0 and len(table.stdout.strip().splitlines()) == 2


def test_generate_writes_bvh_that_reads_back(run: Run, tmp_path: Path) -> None:
    from motion.canonical import to_canonical
    from motion.formats import load_motion
    from motion.skeleton import JOINTS

    bvh, positions = tmp_path / "jump.bvh", tmp_path / "jump.json"
    result = run("generate", "a person jumps", "--out", bvh, "--seconds", "2")
    assert result.exit_code == 0, result.output
    assert str(bvh) in result.stdout
    doc = one_document(run("generate", "a person jumps", "--out", positions, "--seconds", "2", "--json"))
    assert doc["out"] == str(positions) and doc["frames"] == 50 and len(doc["generated_id"]) == 32
    motion = load_motion(bvh)
    assert motion.n_frames == 50 and abs(motion.fps - 25) < 1e-6
    saved = json.loads(positions.read_text())
    assert saved["joint_names"] == list(JOINTS) and saved["n_frames"] == 50
    canonical = to_canonical(motion)
    np.testing.assert_allclose(canonical.positions, np.array(saved["positions"]), atol=2e-3)


def test_reindex_rebuilds_every_index(run: Run) -> None:
    result = run("reindex", "--json")
    doc = one_document(result)
    assert doc["model_version"].endswith(":shared_space") or doc["model_version"].endswith(":triplet")
    assert {"windows", "descriptions"} <= set(doc["indexes"])
    assert all(r["rebuilt"] for r in doc["indexes"].values())
    assert doc["indexes"]["windows"]["size"] > len(SAMPLE_FILES)
    assert doc["indexes"]["windows"]["reused"] == doc["indexes"]["windows"]["size"]  # nothing re-embedded
    forced = one_document(run("reindex", "--re-embed", "--json"))
    assert forced["indexes"]["windows"]["reused"] == 0
    assert forced["indexes"]["windows"]["embedded"] == forced["indexes"]["windows"]["size"]


@pytest.mark.parametrize(("args", "message"), [
    (("search", "clip", "{tmp}/missing.bvh"), "missing.bvh: cannot read file"),
    (("search", "clip", "{tmp}/garbage.bvh"), "garbage.bvh:"),
    (("describe", "{tmp}/notes.txt"), "notes.txt: unsupported file type"),
    (("describe", "{tmp}/unknown_rig.bvh"), "unknown_rig.bvh: cannot map the query motion onto the canonical skeleton"),
    (("search", "clip", "{tmp}/unknown_rig.bvh"), "unknown_rig.bvh: cannot map the query motion"),
    (("search", "clip", "{tmp}/garbage.bvh", "--clip-id", "1"), "either a motion FILE or --clip-id"),
    (("search", "clip", "--clip-id", "999"), "no clip with id 999"),
    (("search", "clip", "--clip-id", "1", "--start", "9999"), "outside clip 1"),
    (("search", "text", "   "), "query text is empty"),
    (("search", "text", "hi", "--filter", "genre"), "not of the form key=value"),
    (("search", "text", "hi", "-k", "0"), "k must be"),
    (("search", "text", "--batch", "{tmp}/no-queries.txt"), "no-queries.txt: cannot read the batch file"),
    (("generate", "hi", "--out", "{tmp}/out.txt"), "must end in .bvh or .json"),
    (("search", "text", "hi", "--model", "{tmp}/no-model"), "no-model: model directory (--model) not found"),
    (("search", "text", "hi", "--model", "{tmp}"), "has no config.json"),
])
def test_errors_are_one_clear_line(run: Run, tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    (tmp_path / "garbage.bvh").write_text("this is not a motion file\n")
    (tmp_path / "notes.txt").write_text("hello\n")
    write_broken(tmp_path, ["unknown_rig"])  # readable, but no human skeleton to map
    argv = [a.format(tmp=tmp_path) for a in args]
    result = run(*argv, model="--model" not in argv)
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert result.stderr.startswith("error: ") and message in result.stderr, result.stderr
    assert result.stdout == ""


def test_search_of_a_missing_library_is_an_error_not_a_new_library(tiny_model: Path, tmp_path: Path) -> None:
    """A mistyped --data-dir used to create an empty library there and answer with generated motion."""
    missing = tmp_path / "no-such-library"
    for args in (("search", "text", "a waltz"), ("search", "clip", str(SAMPLES / SAMPLE_FILES[0]))):
        result = CliRunner().invoke(app, [*args, "--data-dir", str(missing), "--model", str(tiny_model)])
        assert result.exit_code == 2, result.output
        assert "no library here" in result.output and "dancesearch ingest FOLDER" in result.output, result.output
        assert not missing.exists()


def test_no_model_says_how_to_train_one(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    result = run("search", "text", "a waltz", model=False)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "DANCESEARCH_MODEL" in result.stderr
    assert "dancesearch train --corpus ../shared/corpus --out models/default" in result.stderr


def test_model_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dancesearch.engine_factory as factory

    dirs = {name: tmp_path / name for name in ("explicit", "env", "default")}
    for d in dirs.values():
        d.mkdir()
        (d / "config.json").write_text("{}")
    monkeypatch.setattr(factory, "default_model_dir", lambda: dirs["default"])
    assert factory.resolve_model_dir() == dirs["default"]
    monkeypatch.setenv("DANCESEARCH_MODEL", str(dirs["env"]))
    assert factory.resolve_model_dir() == dirs["env"]
    assert factory.resolve_model_dir(dirs["explicit"]) == dirs["explicit"]


def test_shipped_default_is_models_default_of_the_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    import dancesearch.engine_factory as factory

    monkeypatch.undo()  # conftest hides the shipped model from every test; look at the real location
    assert factory.default_model_dir() == REPO / "models" / "default"


@pytest.mark.parametrize(("value", "cores", "threads"),
                         [(None, 2, 2), (None, 16, 4), (None, None, 1), ("3", 2, 3), ("0", 2, 1), ("many", 2, 2)])
def test_torch_threads_from_environment(monkeypatch: pytest.MonkeyPatch, value: str | None, cores: int | None,
                                        threads: int) -> None:
    from dancesearch.engine_factory import torch_threads

    monkeypatch.setattr("os.cpu_count", lambda: cores)
    if value is None:
        monkeypatch.delenv("DANCESEARCH_TORCH_THREADS", raising=False)
    else:
        monkeypatch.setenv("DANCESEARCH_TORCH_THREADS", value)
    assert torch_threads() == threads


def test_help_does_not_import_heavy_modules() -> None:
    code = ("import sys; from typer.testing import CliRunner; from dancesearch.cli import app; "
            "r = CliRunner().invoke(app, ['search', 'text', '--help']); assert r.exit_code == 0, r.output; "
            "print(sorted(m for m in ('torch', 'faiss', 'sqlalchemy', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"


def test_search_text_modes(run: Run) -> None:
    """--mode motion is the motion ranking alone; keyword returns the clips whose words match; the
    default hybrid lifts them, and every hit says why."""
    motion = one_document(run("search", "text", "a waltz", "--mode", "motion", "-k", "7", "--generate", "never",
                              "--json"))
    assert motion["mode"] == "motion" and len(motion["results"]) == 7
    assert all(h["matched_terms"] == [] and h["score"] == h["motion_score"] for h in motion["results"])
    keyword = one_document(run("search", "text", "a waltz", "--mode", "keyword", "--generate", "never", "--json"))
    assert keyword["mode"] == "keyword" and [h["labels"].get("genre") for h in keyword["results"]] == ["waltz"]
    assert keyword["results"][0]["matched_terms"] == ["waltz"]
    hybrid = one_document(run("search", "text", "a waltz", "-k", "7", "--generate", "never", "--json"))
    assert hybrid["mode"] == "hybrid" and hybrid["results"][0]["clip_id"] == keyword["results"][0]["clip_id"]
    for hit in hybrid["results"]:
        check_hit(hit)
    table = run("search", "text", "a waltz", "--mode", "keyword", "--generate", "never")
    assert table.exit_code == 0 and "words waltz" in table.stdout
    bad = run("search", "text", "a waltz", "--mode", "fuzzy")
    assert bad.exit_code == 2
