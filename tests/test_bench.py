"""``dancesearch bench --quick``: the report has every section (the numbers are not checked here).

The model is a real model directory of untrained tiny modules (built in a second, so the smoke test
stays well under a minute); the benchmark reads a few real corpus files, serves them over HTTP on
127.0.0.1 and writes bench.md / bench.json. ``--faiss-threads 1``: with FAISS's default two OpenMP
threads next to torch's in one process, a busy 2-core machine makes single searches take tens to
hundreds of milliseconds (the benchmark measures and reports this); one thread keeps the smoke test
fast and its duration stable.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

SECTIONS = ("machine", "ingest", "latency", "load", "scale", "scale_out", "quality", "peers")
HEADINGS = ("## Machine", "## Ingest", "## Query latency", "## Throughput under load", "## Scale",
            "## Scale-out (compressed, sharded)", "## Quality", "## Peer comparison", "## Targets")


def write_tiny_model(out: Path) -> Path:
    """A loadable model directory (config, normaliser, every stage, clusters, descriptions), untrained."""
    import torch
    from safetensors.torch import save_file

    from embedders.generator import GeneratorConfig, TextToDanceGenerator
    from embedders.heads import DanceToText, DanceToTextConfig, ProjectionHeads, ProjectionHeadsConfig
    from embedders.motion import DanceVAE, VAEConfig
    from embedders.spaces import SharedSpace, SharedSpaceConfig
    from embedders.text import TextProjector, TextProjectorConfig
    from motion.normalize import Normalizer
    from motion.windows import N_FEATURES

    torch.manual_seed(0)
    h, latent = 8, 4
    modules = {"vae": DanceVAE(VAEConfig(hidden=h, latent=latent)),
               "projector": TextProjector(TextProjectorConfig(hidden=h, latent=latent)),
               "heads": ProjectionHeads(ProjectionHeadsConfig(dim=latent)),
               "dance_to_text": DanceToText(DanceToTextConfig(latent=latent, hidden=h)),
               "generator": TextToDanceGenerator(GeneratorConfig(latent=latent, hidden=h, projector_hidden=h)),
               "shared_space": SharedSpace(SharedSpaceConfig(hidden=h, text_hidden=h, dim=16))}
    for name, module in modules.items():
        module.save(out, name)
    Normalizer(np.zeros(N_FEATURES, np.float32), np.full(N_FEATURES, 0.3, np.float32)).save(out / "normalizer.npz")
    clusters = [{"cluster": c, "description": d} for c, d in enumerate(("turning dance", "walking"))]
    (out / "clusters.json").write_text(json.dumps({"k": 2, "centroids": np.eye(2, latent).tolist(),
                                                   "clusters": clusters}))
    descriptions = [{"text": "a dancer performing the waltz", "kind": "labels", "key": "genre=waltz", "cluster": 0},
                    {"text": "a person walks forward", "kind": "labels", "key": "content=walk", "cluster": 1}]
    (out / "descriptions.json").write_text(json.dumps(descriptions))
    save_file({"minilm": torch.zeros(len(descriptions), 384)}, str(out / "descriptions.safetensors"))
    (out / "config.json").write_text(json.dumps({
        "name": "tiny-untrained", "version": "0123456789abcdef", "window": {"size": 50, "stride": 20, "fps": 25.0},
        "search": {"space": "shared_space", "fallback_threshold": -1.0, "cluster_filter_text": False,
                   "cluster_filter_motion": False, "cluster_filter_describe": False}}))
    return out


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("bench-model"))


@pytest.fixture(scope="module")
def quick_report(corpus: Path, tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from typer.testing import CliRunner

    from dancesearch.cli import app

    out = tmp_path_factory.mktemp("bench-out")
    result = CliRunner().invoke(app, ["bench", "--quick", "--faiss-threads", "1", "--out", str(out),
                                      "--corpus", str(corpus), "--model", str(tiny_model)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return {"json": json.loads((out / "bench.json").read_text()), "md": (out / "bench.md").read_text(),
            "stdout": result.output}


def test_quick_report_has_every_section(quick_report: dict[str, Any]) -> None:
    report, md = quick_report["json"], quick_report["md"]
    for name in SECTIONS:
        assert name in report and "error" not in report[name], (name, report.get(name))
    assert [h for h in HEADINGS if h not in md] == []
    assert "Not measured" not in md
    assert "## Targets" in quick_report["stdout"]
    assert report["run"]["quick"] is True and report["run"]["failed_sections"] == {}
    assert report["run"]["faiss_threads_option"] == 1


def test_figures_state_repetitions_and_targets(quick_report: dict[str, Any]) -> None:
    report = quick_report["json"]
    assert report["ingest"]["repetitions"] >= 2 and report["ingest"]["floor"]["n"] >= 2
    for mode in ("in_process", "http"):
        assert set(report["latency"][mode]) == {"text_to_motion", "motion_to_motion", "motion_to_text"}
        assert all(s["n"] == report["latency"]["repetitions"] for s in report["latency"][mode].values())
    # a same-run reference (the bare text encoder) and every latency p50 as a ratio to it
    assert report["latency"]["reference_text_encoder"]["n"] == report["latency"]["repetitions"]
    ratios = report["latency"]["ratio_to_text_encoder"]
    assert len(ratios) == 6 and all(v > 0 for v in ratios.values())
    assert "multiple of the text encoder" in quick_report["md"]
    assert report["load"]["clients"] == 8 and report["load"]["errors"] == 0
    sizes = report["scale"]["sizes"]
    assert [s["n"] for s in sizes] == sorted(report["run"]["sizes"])
    backends = {r["backend"] for r in sizes[0]["rows"]}
    assert {"exact", "flat", "ivf", "hnsw", "peer"} <= backends
    assert report["peers"]["perfume"]["dancers"] == 3
    out = report["scale_out"]
    assert out["plan"]["n"] == 20_000 and sum(out["build"]["shard_sizes"]) == 20_000
    assert out["plan"]["inner"] == "ivfsq" and "`ivfsq` shards" in quick_report["md"]
    assert {r["fan_out"] for r in out["rows"]} == {"serial", "parallel", "one shard"}
    assert all(r["p50_ratio_to_reference"] > 0 for r in out["rows"])  # every speed also as a ratio
    assert 2 * out["vectors"]["dim"] <= out["memory"]["store_bytes_per_vector"] < 2 * out["vectors"]["dim"] + 1  # float16
    assert set(out["targets"]) == {"recall", "p50", "memory"}
    verdicts = [t["verdict"] for t in (report["ingest"]["target"], *report["latency"]["targets"].values())]
    assert set(verdicts) <= {"MET", "MISSED", "n/a"}
    assert "MET" in quick_report["md"] or "MISSED" in quick_report["md"]


def test_bad_model_and_corpus_are_clear_errors(cli: Callable[..., Any], tmp_path: Path, corpus: Path) -> None:
    result = cli("bench", "--quick", "--out", tmp_path / "o", "--corpus", tmp_path, "--model", tmp_path)
    assert result.exit_code == 2 and "no manifest.json" in result.output
    result = cli("bench", "--quick", "--out", tmp_path / "o", "--corpus", corpus, "--model", tmp_path)
    assert result.exit_code == 2 and "not a model directory" in result.output


def test_progress_lines_name_the_section_and_give_an_eta() -> None:
    import io

    from dancesearch.bench.progress import Progress, duration

    stream = io.StringIO()
    bar = Progress("scale_out", "adding", 100, "vec", every_s=0.0, stream=stream)
    bar.update(25)
    bar.update(75)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "[bench scale_out] adding: 0/100 vec (0%)"
    assert lines[1].startswith("[bench scale_out] adding: 25/100 vec (25%)") and "ETA" in lines[1]
    assert "100/100 vec (100%)" in lines[2] and "ETA" not in lines[2]
    assert duration(3725) == "1h02m" and duration(185) == "3m05s" and duration(2.25) == "2.2s"


def test_scale_out_vectors_are_distinct_unit_mixtures(tmp_path: Path) -> None:
    from dancesearch.bench.scale_out import ScaleOutPlan, ground_truth, synthesise
    from search.ann.exact import exact_topk

    rng = np.random.default_rng(0)
    base = rng.standard_normal((50, 16)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    plan = ScaleOutPlan(n=1000, chunk=300)
    vecs = synthesise(base, plan, tmp_path / "v.npy", seed=1, progress=False)
    assert vecs.dtype == np.float16 and vecs.shape == (1000, 16) and isinstance(vecs, np.memmap)
    np.testing.assert_allclose(np.linalg.norm(vecs.astype(np.float32), axis=1), 1.0, atol=2e-3)
    assert len(np.unique(vecs, axis=0)) == 1000 and not np.isin(vecs.astype(np.float32), base).all(axis=1).any()
    queries = base[:5]
    truth, _ = ground_truth(vecs, queries, 128, progress=False)  # streamed in chunks = one pass
    assert np.array_equal(truth, exact_topk(vecs.astype(np.float32), np.arange(1000), queries, 10)[1])


@pytest.mark.parametrize("inner", ["ivfsq", "ivfpq"])
def test_scale_out_builds_the_chosen_shards(tmp_path: Path, inner: str) -> None:
    from dataclasses import replace

    from dancesearch.bench.scale_out import build, plan_for, synthesise
    from search.ann import load
    from search.ann.sharded import ShardedIndex

    full = plan_for(None, quick=False, inner=inner)
    assert (full.n, full.inner) == (10_000_000, inner)
    assert (full.m, full.nlist, full.reranks) == ((None, 4096, (1, 4)) if inner == "ivfsq" else (64, 2048, (20, 40, 80)))
    plan = replace(plan_for(4_000, quick=True, inner=inner), nlist=16, train=2_000, chunk=1_500)
    rng = np.random.default_rng(1)
    base = rng.standard_normal((300, 32)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    vecs = synthesise(base, plan, tmp_path / "v.npy", seed=2, progress=False)
    built = build(vecs, plan, tmp_path / "index", progress=False)
    assert sum(built["shard_sizes"]) == 4_000 and len(built["shard_sizes"]) == plan.shards
    index = load(tmp_path / "index")
    assert isinstance(index, ShardedIndex) and {s.backend for s in index.shards} == {inner}
    found = index.search(np.asarray(vecs[:20], dtype=np.float32), 1)[1][:, 0]
    assert (found == np.arange(20)).mean() >= 0.9  # each vector finds itself


def test_scale_out_refuses_other_shards() -> None:
    from dancesearch.bench.scale_out import plan_for

    with pytest.raises(ValueError, match="ivfsq or ivfpq"):
        plan_for(None, quick=False, inner="hnsw")


def test_summary_and_verdicts() -> None:
    from dancesearch.bench.stats import Summary, verdict

    s = Summary.of([3.0, 1.0, 2.0, 100.0], "ms")
    assert s.n == 4 and s.median == 2.5 and s.min == 1.0 and s.max == 100.0 and s.p99 > s.p95 > s.p50
    assert verdict(10.0, 15.0) == "MET" and verdict(20.0, 15.0) == "MISSED"
    assert verdict(0.97, 0.95, higher_is_better=True) == "MET" and verdict(None, 1.0) == "n/a"
    with pytest.raises(ValueError):
        Summary.of([], "ms")
