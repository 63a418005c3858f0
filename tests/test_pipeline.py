"""End to end on a tiny configuration: train every stage, resume, load, calibrate and evaluate.

Uses a handful of real corpus clips and tiny module sizes so the whole file runs in well under a
minute; stage-level loss decrease is tested in tests/test_stages.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="module")
def trained(tiny_training):
    """The session's tiny model (tests/conftest.py): trained once, shared with the CLI and demo tests."""
    return tiny_training


def test_every_stage_trained_and_written(trained) -> None:
    opts, state = trained
    from training.pipeline import STAGES

    assert [s for s in STAGES if not state[s]["done"]] == []
    for name in ("vae", "projector", "heads", "dance_to_text", "generator", "latent_prior", "shared_space",
                 "text_head"):
        assert (opts.out / f"{name}.safetensors").stat().st_size > 0
        assert (opts.out / f"{name}.json").is_file()
        assert state[name]["history"], f"stage {name} recorded no losses"
    cfg = json.loads((opts.out / "config.json").read_text())
    assert len(cfg["version"]) == 16 and cfg["corpus_manifest_sha256"]
    assert cfg["code_version"]
    assert set(cfg["training"]["stage_seconds"]) == set(STAGES)
    assert (opts.out / "report" / "training.md").read_text().count("| vae |") == 1
    assert list((opts.out / "report").glob("loss_*.png"))
    descriptions = json.loads((opts.out / "descriptions.json").read_text())
    assert any(d["kind"] == "labels" for d in descriptions)
    described = {d["cluster"] for d in descriptions if d["kind"] == "cluster"}
    described |= {d["describes_cluster"] for d in descriptions if "describes_cluster" in d}
    assert described == set(range(json.loads((opts.out / "clusters.json").read_text())["k"]))


def test_training_never_reads_test_split(trained) -> None:
    opts, _ = trained
    from db.config import LibraryLocation
    from db.library import Library

    with Library.open(LibraryLocation.resolve(opts.work / "library")) as lib:
        assert lib.stats().clips > 0
        assert all(c.split != "test" for c in lib.list_clips())


def test_resume_skips_finished_stages(trained) -> None:
    opts, state = trained
    from training.pipeline import train_all

    again = train_all(opts)
    for name in ("vae", "shared_space"):
        assert again[name]["seconds"] == state[name]["seconds"]  # loaded, not retrained


def test_a_finished_stage_with_other_settings_is_refused(trained) -> None:
    from dataclasses import replace

    from training.pipeline import TrainError, train_all

    opts, state = trained
    assert state["vae"]["settings"]["vae_train"]["epochs"] == opts.config.vae_train.epochs
    other = replace(opts, config=replace(opts.config, vae_train=replace(opts.config.vae_train, epochs=3)))
    with pytest.raises(TrainError, match=r"stage vae was trained with other settings \(vae_train.epochs 2 -> 3\)"):
        train_all(other)


def test_saved_model_gives_identical_embeddings(trained) -> None:
    opts, _ = trained
    from embedders.runtime import DanceSearchModel

    rng = np.random.default_rng(0)
    positions = rng.normal(0, 0.3, size=(80, 19, 3)).astype(np.float32) + np.array([0, 1, 0], np.float32)
    a, b = DanceSearchModel(opts.out), DanceSearchModel(opts.out)
    np.testing.assert_array_equal(a.embed_windows(positions, [0, 20]), b.embed_windows(positions, [0, 20]))
    np.testing.assert_array_equal(a.embed_texts(["a waltz"]), b.embed_texts(["a waltz"]))
    emb = a.embed_windows(positions, [0, 20, 30])
    assert emb.shape == (3, a.dim)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)
    motion = a.generate("a person waving", seconds=3.0)
    assert motion.shape == (75, 19, 3) and np.isfinite(motion).all()


def test_calibration_writes_search_defaults(trained) -> None:
    opts, _ = trained
    from training.calibrate import calibrate_model

    cfg_path = opts.out / "config.json"
    chosen = {"same_motion_pose_weight": 0.5, "by_example_context": {"similar": 2, "same": 1}}
    cfg = json.loads(cfg_path.read_text())
    cfg["search"].update(chosen)  # as scripts/eval_by_example.py --choose writes them
    cfg_path.write_text(json.dumps(cfg))
    settings = calibrate_model(opts)
    assert settings["space"] in ("shared_space", "triplet")
    assert {k: json.loads(cfg_path.read_text())["search"][k] for k in chosen} == chosen  # calibration keeps them
    assert isinstance(settings["fallback_threshold"], float)
    cfg = json.loads((opts.out / "config.json").read_text())
    assert cfg["search"]["space"] == settings["space"]
    assert 0.0 <= cfg["search"]["calibration"]["fallback"]["matched_served"] <= 1.0


def test_eval_end_to_end(trained, tmp_path: Path) -> None:
    opts, _ = trained
    from training.evaluate import EvalOptions, evaluate

    report = evaluate(EvalOptions(model=opts.out, corpus=opts.corpus, split="test", out=tmp_path / "eval",
                                  work=tmp_path / "evalwork", workers=0, sources=("bandai-2", "perfume"),
                                  max_clips_per_source=3, generation_samples=8))
    rows = report["rows"]
    assert {"random", "raw canonical features", "InfoNCE space", "triplet space (paper)",
            "InfoNCE space + cluster filter"} <= set(rows)
    t2m = rows["InfoNCE space"]["text_to_motion"]
    assert 0.0 <= t2m["R@1"] <= t2m["R@5"] <= t2m["R@10"] <= 1.0
    assert rows["random"]["motion_to_motion"]["perfume_queries"] > 0
    md = (tmp_path / "eval" / "report.md").read_text()
    for section in ("Text -> motion", "Motion -> text", "Motion -> motion", "Compositional", "generation",
                    "Search by example as the engine scores windows"):
        assert section in md
    modes = report["v2"]["search_modes"]
    search = json.loads((opts.out / "config.json").read_text())["search"]
    assert set(modes) == {"similar", "same"} and modes["similar"]["pose_weight"] == 0.0
    assert modes["same"]["pose_weight"] == search.get("same_motion_pose_weight", 0.5)
    for r in modes.values():
        assert 0.0 <= r["perfume_R@1"] <= r["perfume_R@5"] <= 1.0 and 0.0 <= r["P@5 content+style bandai-2"] <= 1.0
    assert json.loads((tmp_path / "eval" / "report.json").read_text())["split"] == "test"


def test_training_report_says_when_a_run_resumed_stages() -> None:
    from training.report import _resumed_note

    assert _resumed_note({"total_seconds": 100.0}, {"vae": {"seconds": 40.0}, "generator": {"seconds": 50.0}}) == ""
    note = _resumed_note({"total_seconds": 100.0}, {"vae": {"seconds": 100.0}, "latent_prior": {"seconds": 50.0}})
    assert "resumed stages" in note and "add up to 150 s" in note


def test_the_shipped_model_resumes_under_the_current_training_settings() -> None:
    """Every stage of models/default is finished with the settings today's defaults give, so `dancesearch
    train --out <copy of models/default>` loads them instead of refusing ("trained with other settings")."""
    from training.pipeline import STAGES, StageLog
    from training.stages.config import PipelineConfig

    shipped = Path(__file__).resolve().parents[1] / "models" / "default"
    log = StageLog(shipped, PipelineConfig())
    assert all(log.done(stage) for stage in STAGES)


def test_the_model_embeds_texts_with_the_refitted_text_head(trained) -> None:  # type: ignore[no-untyped-def]
    """Stage 7b's head, not the joint stage's, embeds queries; the motion side is the joint stage's."""
    import torch

    from embedders.runtime import DanceSearchModel
    from embedders.spaces import SharedSpace, TextHead

    opts, _ = trained
    model = DanceSearchModel(opts.out)
    texts = ["a slow waltz turn", "someone waving goodbye"]
    minilm = model.minilm(texts)
    head, joint = TextHead.load(opts.out, "text_head"), SharedSpace.load(opts.out, "shared_space")
    with torch.no_grad():
        np.testing.assert_allclose(model.embed_texts(texts), head(minilm).numpy(), atol=1e-6)
        assert not np.allclose(model.embed_texts(texts), joint.embed_text(minilm).numpy(), atol=1e-3)
        x = torch.randn(2, model.window_size, joint.config.n_features)
        np.testing.assert_allclose(model.shared.embed_motion(x).numpy(), joint.embed_motion(x).numpy(), atol=1e-6)


def test_a_batch_of_texts_larger_than_the_text_cache_embeds_every_text(trained, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A batch with more distinct texts than the in-memory cache holds evicts its own first texts while
    it is encoded; each text still gets its own embedding (it used to raise KeyError)."""
    import embedders.runtime as runtime
    from embedders.runtime import DanceSearchModel

    opts, _ = trained
    model = DanceSearchModel(opts.out)
    texts = ["a person walks", "someone jumps", "a slow waltz", "a person walks"]
    expected = model.minilm(texts).numpy()
    monkeypatch.setattr(runtime, "_TEXT_CACHE_MAX", 2)
    fresh = DanceSearchModel(opts.out)
    np.testing.assert_allclose(fresh.minilm(texts).numpy(), expected, atol=1e-6)
    assert len(fresh._text_cache) <= 2


def test_a_resume_keeps_the_stored_normaliser_and_refuses_one_from_other_data(trained, tmp_path: Path) -> None:
    """Resuming keeps ``normalizer.npz`` as the trained stages saw it (it is part of the model version, so
    retraining only the generator must not rewrite it with a refit that differs by float rounding); a
    stored normaliser far from this run's training windows means other data and is refused."""
    import shutil
    from dataclasses import replace

    from motion.normalize import Normalizer
    from training.pipeline import TrainError, train_all

    opts, _ = trained
    out = tmp_path / "model"
    shutil.copytree(opts.out, out)
    stored = Normalizer.load(out / "normalizer.npz")
    Normalizer(stored.mean * np.float32(1 + 1e-6), stored.std).save(out / "normalizer.npz")  # rounding-sized
    before = (out / "normalizer.npz").read_bytes()
    train_all(replace(opts, out=out))
    assert (out / "normalizer.npz").read_bytes() == before

    Normalizer(stored.mean + np.float32(0.5), stored.std).save(out / "normalizer.npz")
    with pytest.raises(TrainError, match="stored feature normaliser differs"):
        train_all(replace(opts, out=out))
