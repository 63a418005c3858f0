"""The capabilities of issue 13 (explore/) on the shipped model: each test checks behaviour, not just
that something runs (bone lengths exact, feet planted, the right label wins, the path moves from A to B,
a learned concept finds its examples, exports read back on the rig they were written for)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from explore.body import bone_lengths, physical_stats, plant_feet, project_bones, put_on_floor, two_bone_ik
from motion.skeleton import BONES, JOINT_INDEX

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "default"
BANDAI2 = "bandai/dataset-2/dataset-2_{}.bvh.gz"


@pytest.fixture(scope="module")
def model() -> Any:
    import torch

    from embedders.runtime import DanceSearchModel
    from explore.model import capability_model

    torch.set_num_threads(1)
    return capability_model(DanceSearchModel(MODEL))


def clip(corpus: Path, name: str) -> np.ndarray:
    from explore.inputs import Source, read_source

    return read_source(Source("file", str(corpus / BANDAI2.format(name))))


def drift(positions: np.ndarray) -> float:
    child, parent = np.array([c for c, _ in BONES]), np.array([p for _, p in BONES])
    lengths = np.linalg.norm(positions[:, child] - positions[:, parent], axis=-1)
    return float((lengths.std(0) / lengths.mean(0)).max())


# ---- body ---------------------------------------------------------------------------------------

def test_project_bones_sets_every_bone_to_the_reference_length() -> None:
    rng = np.random.default_rng(0)
    pos = rng.normal(size=(30, 19, 3)).astype(np.float32)
    lengths = np.linspace(0.1, 0.5, 19)
    out = project_bones(pos, lengths)
    for child, parent in BONES:
        np.testing.assert_allclose(np.linalg.norm(out[:, child] - out[:, parent], axis=-1), lengths[child], rtol=1e-5)
    np.testing.assert_allclose(out[:, 0], pos[:, 0])


def test_two_bone_ik_reaches_the_target_with_fixed_lengths() -> None:
    hip = np.zeros((5, 3))
    target = np.array([[0.1, -0.7, 0.1 * i] for i in range(5)])
    pole = np.array([[0.0, -0.4, 0.3]] * 5)
    knee, ankle = two_bone_ik(hip, target, pole, 0.42, 0.40)
    np.testing.assert_allclose(ankle, target, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(knee - hip, axis=-1), 0.42, rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(ankle - knee, axis=-1), 0.40, rtol=1e-6)
    assert (knee[:, 2] > 0).all()  # bends towards the pole


def test_plant_feet_stops_a_sliding_foot(corpus: Path) -> None:
    walk = clip(corpus, "walk_normal_004")
    sliding = walk.copy()
    ankle = JOINT_INDEX["l_ankle"]
    sliding[:, [ankle, JOINT_INDEX["l_toe"]], 0] += np.linspace(0, 0.5, len(walk))[:, None]  # 0.5 m of skate
    before = physical_stats(sliding)["foot_skate"]
    cleaned, contacts = plant_feet(sliding, bone_lengths(walk))
    assert contacts[:, 0].mean() > 0.2
    assert physical_stats(cleaned)["foot_skate"] < 0.7 * before
    assert drift(cleaned) < 1e-4


def glide(walk: np.ndarray) -> np.ndarray:
    """A walk whose legs keep their first pose relative to the pelvis: it travels, its feet never step."""
    out = walk.copy()
    pelvis = JOINT_INDEX["pelvis"]
    for names in (("l_hip", "l_knee", "l_ankle", "l_toe"), ("r_hip", "r_knee", "r_ankle", "r_toe")):
        legs = [JOINT_INDEX[n] for n in names]
        out[:, legs] = walk[0, legs] - walk[0, pelvis] + walk[:, pelvis:pelvis + 1]
    return put_on_floor(out)


def test_gait_synthesis_gives_gliding_feet_steps_and_leaves_real_steps_alone(corpus: Path) -> None:
    from explore.gait import gliding_stretches, synthesise_gait

    walk = put_on_floor(clip(corpus, "walk_normal_004"))
    lengths = bone_lengths(walk)
    assert gliding_stretches(walk) == []  # a captured walk steps already
    gliding = glide(walk)
    stretches = gliding_stretches(gliding)
    assert stretches and sum(b - a for a, b in stretches) > 0.8 * len(walk)
    stepped, found = synthesise_gait(gliding, lengths)
    assert found == stretches
    before, after = physical_stats(gliding)["foot_skate"], physical_stats(stepped)["foot_skate"]
    assert before > 0.5 and after < 0.2 * before
    np.testing.assert_allclose(stepped[:, JOINT_INDEX["pelvis"]], gliding[:, JOINT_INDEX["pelvis"]], atol=1e-5)
    leg_joints = {JOINT_INDEX[f"{side}_{j}"] for side in "lr" for j in ("knee", "ankle", "toe")}
    for child, parent in BONES:  # legs re-solved with the reference lengths
        if child in leg_joints:
            np.testing.assert_allclose(np.linalg.norm(stepped[:, child] - stepped[:, parent], axis=-1),
                                       lengths[child], rtol=0.02, atol=0.005)
    spread = np.linalg.norm((stepped[:, JOINT_INDEX["l_ankle"]] - stepped[:, JOINT_INDEX["r_ankle"]])[:, [0, 2]], axis=-1)
    assert spread.max() - spread.min() > 0.3  # the feet alternate: one ahead, then the other
    hands = put_on_floor(clip(corpus, "raise-up-both-hands_normal_017"))
    assert np.array_equal(synthesise_gait(hands, bone_lengths(hands))[0], hands.astype(np.float32))


# ---- classification -----------------------------------------------------------------------------

def test_classify_names_the_right_content_with_calibrated_probabilities(model: Any, corpus: Path) -> None:
    from explore.classify import classify

    result = classify(model, clip(corpus, "run_feminine_020"), "walk, run, wave both hands, raise up both hands",
                      model.capabilities)
    assert result.best == "run"
    assert abs(sum(result.probabilities.values()) - 1.0) < 1e-3
    assert result.spans and result.spans[0].start == 0.0 and all(s.end > s.start for s in result.spans)


def test_classify_refuses_bad_labels(model: Any) -> None:
    from explore.classify import LabelError, classify

    with pytest.raises(LabelError, match="at least two"):
        classify(model, np.zeros((60, 19, 3), np.float32), "waltz")
    with pytest.raises(LabelError, match="repeat"):
        classify(model, np.zeros((60, 19, 3), np.float32), "waltz, waltz")


# ---- interpolation ------------------------------------------------------------------------------

def test_interpolation_moves_from_a_to_b_and_keeps_bones(model: Any, corpus: Path) -> None:
    from explore.interpolate import Endpoint, interpolate
    from explore.latent import mean_vector, motion_vectors

    a = Endpoint("walk", positions=clip(corpus, "walk_normal_004")[:100])
    b = Endpoint("wave", positions=clip(corpus, "wave-both-hands_normal_002")[:100])
    path = interpolate(model, a, b, 5, model.capabilities)
    assert path.ts == [0.0, 0.25, 0.5, 0.75, 1.0] and path.decoder == "vae"
    va, vb = mean_vector(motion_vectors(model, a.positions)), mean_vector(motion_vectors(model, b.positions))
    progress = [float(mean_vector(motion_vectors(model, m)) @ (vb - va)) for m in path.motions]
    assert progress[0] < progress[2] < progress[-1]
    assert max(drift(m) for m in path.motions) < 1e-4
    # with the ends' detail the path starts and ends on the clips themselves (poses within about a centimetre,
    # 1.2 / 0.07 cm when written), not on their smoothed reconstructions (8.3 / 4.7 cm)
    from motion.windows import to_window_frame

    def pose_gap(m: np.ndarray, end: np.ndarray) -> float:
        rel = [w - w[:, :1] for w in to_window_frame(np.stack([m[:50], end[:50]]))]
        return float(np.linalg.norm(rel[0] - rel[1], axis=-1).mean())

    smooth = interpolate(model, a, b, 5, model.capabilities, detail=False)
    assert a.positions is not None and b.positions is not None
    assert pose_gap(path.motions[0], a.positions) < 0.025 < pose_gap(smooth.motions[0], a.positions)
    assert pose_gap(path.motions[-1], b.positions) < 0.025 < pose_gap(smooth.motions[-1], b.positions)
    with pytest.raises(ValueError, match="steps"):
        interpolate(model, a, b, 1)


def test_text_to_text_interpolation_uses_the_generator(model: Any) -> None:
    from explore.interpolate import Endpoint, interpolate

    path = interpolate(model, Endpoint("w", text="a person walks"), Endpoint("j", text="a person jumps"), 3)
    assert path.decoder == "generator" and len(path.motions) == 3
    assert not np.allclose(path.motions[0], path.motions[-1])


def test_interpolation_takes_generations_steps_and_skeleton_settings(model: Any) -> None:
    from dataclasses import replace

    from explore.interpolate import Endpoint, _lengths, interpolate

    s = model.capabilities
    assert s.generation_gait  # chosen on val (capabilities.json)
    a, b = Endpoint("w", text="a person walks forward"), Endpoint("r", text="a person runs")
    stepped = interpolate(model, a, b, 3, s).motions[1]
    gliding = interpolate(model, a, b, 3, replace(s, generation_gait=False)).motions[1]
    assert physical_stats(stepped)["foot_skate"] < 0.5 * physical_stats(gliding)["foot_skate"]
    reference = replace(s, generation_bones="reference", bone_lengths=[0.1] * 19)
    assert _lengths(a, replace(reference, generation_bones="own")) is None  # the decoded motion's own lengths
    np.testing.assert_allclose(_lengths(a, reference), 0.1)


# ---- style transfer -----------------------------------------------------------------------------

def test_stylize_changes_the_motion_and_keeps_the_body(model: Any, corpus: Path) -> None:
    from explore.stylize import StyleError, stylize

    walk = clip(corpus, "walk_normal_004")
    out, info = stylize(model, walk, "elderly", 2.0, model.capabilities, method="data")
    assert info["method"] == "data" and len(out) == len(walk)
    np.testing.assert_allclose(bone_lengths(out), bone_lengths(walk), rtol=1e-4, atol=1e-5)
    same, _ = stylize(model, walk, "elderly", 0.0, model.capabilities, method="data")
    assert np.abs(out - same).mean() > 0.005
    with pytest.raises(StyleError, match="method"):
        stylize(model, walk, "sad", 1.0, model.capabilities, method="magic")
    with pytest.raises(StyleError, match="at most"):
        stylize(model, np.repeat(walk[:1], 3000, axis=0), "sad", 1.0, model.capabilities)


def test_pose_style_transfer_moves_posture_towards_the_style_and_keeps_timing_and_body(model: Any, corpus: Path) -> None:
    from explore.stylize import body_pose, pose_statistics, predict_pose_style, stylize

    s = model.capabilities
    assert "elderly" in s.style_pose and s.style_pose_classifier  # written by the val calibration
    walk = clip(corpus, "walk_normal_004")
    out, info = stylize(model, walk, "elderly", 1.0, s, method="pose", source_style="normal")
    assert info["method"] == "pose" and info["source_style"] == "normal" and len(out) == len(walk)
    np.testing.assert_allclose(bone_lengths(out), bone_lengths(walk), rtol=1e-4, atol=1e-5)
    # after bone projection and foot planting the posture still moved along the train-split difference
    # between the two styles, by most of it (cosine 0.70, share 0.89 when written)
    target, source = (np.asarray(s.style_pose[n]).reshape(2, -1, 3) for n in ("elderly", "normal"))
    moved = (pose_statistics(out)[0] - pose_statistics(walk)[0]).ravel()
    wanted = (target[0] - source[0]).ravel()
    assert moved @ wanted / (np.linalg.norm(moved) * np.linalg.norm(wanted)) > 0.6
    assert 0.6 < moved @ wanted / (wanted @ wanted) < 1.5
    # timing and path kept: the pelvis travels as before, the wrists swing in step with the original's
    pelvis, wrist = JOINT_INDEX["pelvis"], JOINT_INDEX["r_wrist"]
    np.testing.assert_allclose(out[:, pelvis, [0, 2]], walk[:, pelvis, [0, 2]], atol=1e-3)
    swing = [body_pose(m)[0][:, wrist, 2] for m in (walk, out)]
    assert np.corrcoef(swing[0], swing[1])[0, 1] > 0.9
    # without --from the clip's style is predicted from its own posture; an unknown style goes by words
    _, guessed = stylize(model, walk, "elderly", 1.0, s, method="pose")
    assert guessed["source_style"] == predict_pose_style(pose_statistics(walk), s) and guessed["source_style"] in s.style_pose
    # a style the corpus does not label goes by words, with the words method that did better on val and,
    # when no strength is given, that method's own best strength (not the pose method's)
    assert s.style_words_method in ("text", "prior") and s.style_best[s.style_words_method]
    _, words = stylize(model, walk[:60], "like a tired robot", None, s, method="pose")
    assert words["method"] == s.style_words_method
    assert words["strength"] == s.style_best[s.style_words_method]["strength"] != s.style_strength


# ---- concepts -----------------------------------------------------------------------------------

def test_a_learned_concept_ranks_its_examples_and_composes_in_text(model: Any, corpus: Path) -> None:
    from explore.concepts import ConceptError, learn
    from explore.latent import motion_vectors
    from explore.model import capability_model
    from explore.settings import load_negatives

    examples = [motion_vectors(model, clip(corpus, f"wave-left-hand_{s}")) for s in
                ("active_001", "active_002", "active_003")]
    negatives = load_negatives(MODEL)
    assert negatives is not None
    concept = learn(model, "lefty", examples, negatives, ["a", "b", "c"], model.capabilities)
    view = capability_model(model, {"lefty": concept})
    q = view.embed_texts(["<lefty>"])[0]
    pos = np.concatenate(examples) @ q
    assert np.median(pos) > np.quantile(negatives @ q, 0.95)
    mixed = view.minilm(["a <lefty> person", "plain text"])
    assert mixed.shape == (2, 384) and np.allclose(mixed[1].numpy(), model.minilm(["plain text"])[0].numpy())
    with pytest.raises(ConceptError, match="unknown concept"):
        view.minilm(["<nobody>"])
    with pytest.raises(ConceptError, match="name"):
        learn(model, "1bad", examples, negatives, ["a"], model.capabilities)
    concept.model_version = "another"
    with pytest.raises(ConceptError, match="another model"):
        capability_model(model, {"lefty": concept})


# ---- generation ---------------------------------------------------------------------------------

def test_generation_keeps_bone_lengths_and_plants_feet(model: Any) -> None:
    from embedders.runtime import DanceSearchModel
    from explore.generation import generate

    ours = generate(model, "a person walks forward", 4.0, 0, model.capabilities)
    raw = DanceSearchModel.generate(model, "a person walks forward", 4.0)
    assert len(ours) == len(raw) == 100
    assert drift(ours) < 0.01 <= drift(raw) + 0.01
    assert physical_stats(ours)["foot_skate"] <= physical_stats(raw)["foot_skate"]
    other = generate(model, "a person walks forward", 4.0, 1, model.capabilities, noise=0.5)
    assert not np.allclose(ours, other)


def test_generation_draws_another_motion_per_seed_from_the_latent_prior(model: Any) -> None:
    from dataclasses import replace

    from explore.generation import generate

    s = model.capabilities
    assert s.generation_latent == "prior" and model.latent_prior is not None  # chosen on val (capabilities.json)
    text = "a person dances a waltz"
    first, again, other = (generate(model, text, 2.0, seed, s) for seed in (0, 0, 1))
    assert np.array_equal(first, again)
    assert np.abs(first - other).mean() > 0.05  # another latent, not a jitter of one
    # one 2 s window from the projector is the mean latent: every seed gives the same motion
    mean_latent = replace(s, generation_latent="projector", generation_noise=0.0)
    assert np.allclose(generate(model, text, 2.0, 0, mean_latent), generate(model, text, 2.0, 1, mean_latent))


def test_chaining_keeps_the_window_that_continues_the_motion(model: Any, corpus: Path) -> None:
    from embedders.chain import BLEND_FRAMES, chain_best, seam_cost
    from explore.latent import own_windows

    run = clip(corpus, "run_normal_001")
    step = model.window_size - BLEND_FRAMES  # the next window starts where the cross-fade begins
    first, follows, elsewhere, later = own_windows(model, run, [0, step, step + 13, 2 * step])
    assert seam_cost(first, follows) < 0.02 < seam_cost(first, elsewhere)
    chosen = chain_best([[first], [elsewhere, follows], [later, elsewhere]])
    assert np.array_equal(chosen[1], follows) and np.array_equal(chosen[2], later)
    with pytest.raises(ValueError, match="no windows"):
        chain_best([])


def test_generation_picks_among_candidates_the_windows_that_join_best(model: Any) -> None:
    from dataclasses import replace

    from embedders.chain import seam_cost
    from explore.generation import sample_windows

    s, text = model.capabilities, "a person runs"
    costs = {}
    for k in (1, 8):
        w = sample_windows(model, text, 4, seed=0, guidance=s.generation_guidance, decoder="vae", candidates=k)
        assert w.shape == (4, model.window_size, *w.shape[2:])
        costs[k] = np.mean([seam_cost(w[i], w[i + 1]) for i in range(3)])
    assert costs[8] < costs[1]
    with pytest.raises(ValueError, match="at least 1"):
        sample_windows(model, text, 2, candidates=0)
    assert replace(s, generation_candidates=4).generation_candidates == 4


def test_generation_decodes_the_same_latents_by_the_vae_or_the_generator(model: Any) -> None:
    import torch

    from explore.generation import TEXT_NOISE, sample_windows
    from explore.latent import decode_windows, generate_windows

    text, g = "a person walks forward", model.capabilities.generation_guidance
    by_vae = sample_windows(model, text, 2, seed=3, guidance=g, decoder="vae")
    by_gen = sample_windows(model, text, 2, seed=3, guidance=g, decoder="generator")
    # the same seeded latents, decoded by each decoder
    gen = torch.Generator().manual_seed(3)
    e = model.minilm([text]).expand(2, -1).clone()
    e[1:] += TEXT_NOISE * torch.randn(e[1:].shape, generator=gen)
    z = model.latent_prior.sample(e, guidance=g, generator=gen)
    np.testing.assert_allclose(by_vae, decode_windows(model, z), atol=1e-5)
    np.testing.assert_allclose(by_gen, generate_windows(model, e, z), atol=1e-5)
    assert np.abs(by_vae - by_gen).mean() > 1e-3
    with pytest.raises(ValueError, match="unknown generation decoder"):
        sample_windows(model, text, 1, decoder="diffusion")


# ---- export -------------------------------------------------------------------------------------

def test_export_on_a_users_rig_reads_back_with_the_rigs_bone_lengths(model: Any, corpus: Path,
                                                                      tmp_path: Path) -> None:
    from explore.export import write_motion
    from explore.generation import generate
    from motion.canonical import to_canonical
    from motion.formats import load_motion

    reference = corpus / BANDAI2.format("run_feminine_020")
    motion = generate(model, "a person runs", 2.0, 0, model.capabilities)
    out = write_motion(tmp_path / "run.bvh", motion, str(reference))
    back = load_motion(out)
    assert "Hips" in back.joint_names or "joint_Root" in back.joint_names
    canon = to_canonical(back, check=False).positions
    ref = to_canonical(load_motion(reference), check=False).positions
    np.testing.assert_allclose(bone_lengths(canon)[1:], bone_lengths(ref)[1:], rtol=0.03, atol=0.005)
    write_motion(tmp_path / "m.bvh", motion, "mixamo")
    assert "mixamorig:Hips" in (tmp_path / "m.bvh").read_text()
    # A rig whose files start with a T-pose (cmu_iclone drops the first frame): the export writes one.
    iclone = write_motion(tmp_path / "iclone.bvh", motion, str(corpus / "cmu/001_01.bvh.gz"))
    assert len(to_canonical(load_motion(iclone), check=False).positions) == len(motion)


# ---- CLI ----------------------------------------------------------------------------------------

def test_cli_classify_and_errors(cli: Any, corpus: Path) -> None:
    import json

    result = cli("classify", corpus / BANDAI2.format("run_feminine_020"), "--labels", "walk, run", "--json",
                 "--model", MODEL)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.splitlines()[-1])["best"] == "run"
    whole = json.loads(result.stdout.splitlines()[-1])["spans"]
    ranged = cli("classify", f"{corpus / BANDAI2.format('run_feminine_020')}@0.4-2.8", "--labels", "walk, run",
                 "--json", "--model", MODEL)
    assert ranged.exit_code == 0, ranged.output
    spans = json.loads(ranged.stdout.splitlines()[-1])["spans"]
    # span times are times of the file, not of the range: the range's spans start at 0.4 s
    assert spans[0]["start"] == pytest.approx(0.4) and spans[-1]["end"] == pytest.approx(2.8)
    assert whole[0]["start"] == 0.0
    past_end = cli("classify", f"{corpus / BANDAI2.format('run_feminine_020')}@1.2-3.4", "--labels", "walk, run",
                   "--model", MODEL)   # the take lasts 3 s
    assert past_end.exit_code == 2 and "the range ends after the motion (which lasts 3.00 s)" in past_end.output
    missing = cli("classify", "nowhere/take.bvh", "--labels", "walk, run", "--model", MODEL)
    assert missing.exit_code == 2 and "nowhere/take.bvh: no such motion file" in missing.output


def test_cli_names_a_file_whose_skeleton_cannot_be_mapped(cli: Any, tmp_path: Path) -> None:
    """A readable file with no limbs: every capability command's error names that file."""
    from tests.fixtures import write_broken

    bad = write_broken(tmp_path, ["unknown_rig"])["unknown_rig"]
    for args in (("classify", bad, "--labels", "walk, run"), ("stylize", bad, "--style", "sad", "--out", tmp_path / "s.bvh"),
                 ("interpolate", bad, "a walk", "--steps", "3", "--out", tmp_path / "ip"),
                 ("generate", "a walk", "--rig", bad, "--out", tmp_path / "g.bvh"),
                 ("concept", "learn", "odd", bad, "--data-dir", tmp_path / "library")):
        result = cli(*args, "--model", MODEL)
        assert result.exit_code == 2, (args, result.output)
        assert f"{bad}: unrecognised rig" in result.output and "Traceback" not in result.output, (args, result.output)


def test_cli_concept_learn_list_and_generate_on_a_rig(cli: Any, corpus: Path, tmp_path: Path) -> None:
    import json

    files = [corpus / BANDAI2.format(f"wave-left-hand_active_00{i}") for i in (1, 2, 3)]
    learned = cli("concept", "learn", "lefty", *files, "--json", "--model", MODEL)
    assert learned.exit_code == 0, learned.output
    assert json.loads(learned.stdout.splitlines()[-1])["example_windows"] > 3
    listed = cli("concept", "list", "--json")
    assert [c["name"] for c in json.loads(listed.stdout)["concepts"]] == ["lefty"]
    out = tmp_path / "wave.bvh"
    made = cli("generate", "a <lefty> wave", "--rig", "mixamo", "--out", out, "--model", MODEL)
    assert made.exit_code == 0, made.output
    assert "mixamorig:Hips" in out.read_text()
    bad = cli("concept", "learn", "9bad", *files, "--model", MODEL)
    assert bad.exit_code == 2 and "concept name '9bad'" in bad.output


def test_cli_generate_seed_draws_another_motion(cli: Any, tmp_path: Path) -> None:
    import json

    def positions(seed: str, name: str) -> np.ndarray:
        out = tmp_path / name
        made = cli("generate", "a person dances a waltz", "--seconds", "2", "--seed", seed, "--out", out,
                   "--model", MODEL)
        assert made.exit_code == 0, made.output
        return np.asarray(json.loads(out.read_text())["positions"])

    first, again, other = positions("0", "a.json"), positions("0", "b.json"), positions("1", "c.json")
    assert np.array_equal(first, again) and np.abs(first - other).mean() > 0.05
    bad = cli("generate", "a waltz", "--seed", "-1", "--out", tmp_path / "d.json", "--model", MODEL)
    assert bad.exit_code == 2 and "--seed" in bad.output
