"""Model v2 inputs: kinematic facts and captions, body-normalised features, body/rig augmentation, and the
evaluation's off-domain AUROC."""

from __future__ import annotations

import random

import numpy as np
import pytest

from motion.augment import AugmentConfig, vary_body
from motion.orientation import BODY_LENGTH_M, body_lengths
from motion.skeleton import JOINT_INDEX as J
from motion.skeleton import MIRROR_PERMUTATION, PARENTS
from motion.windows import rotation_y, to_window_frame
from tests.fake_model import REST, arms, jump, spin, still, walk
from training.eval_v2 import auroc
from training.text.kinematics import FACTS, SUBJECTS, fact_query, kinematic_captions, window_facts


def _turned(pos: np.ndarray, degrees: float) -> np.ndarray:
    rot = rotation_y(np.deg2rad(degrees))
    return (pos.astype(np.float64) @ rot.T).astype(np.float32)


@pytest.mark.parametrize("motion, expected, absent", [
    (still(2.0), {"still"}, {"walk", "run", "jump"}),
    (walk(2.0, 1.2), {"walk", "forward"}, {"still", "run", "backward"}),
    (walk(2.0, 0.5), {"walk", "walk_slow", "forward"}, {"walk_fast"}),
    (walk(2.0, 3.0), {"run", "forward"}, {"walk"}),
    (jump(2.0, 0.3), {"jump"}, {"walk", "run"}),
    (arms(2.0, 0.4), {"arms_up_both"}, {"arm_up_left", "arm_up_right", "walk"}),
    (spin(2.0, 2 * np.pi), {"spin", "turn_left"}, {"turn_right", "walk"}),
    (spin(2.0, -np.pi / 2), {"turn_right"}, {"turn_left", "spin"}),
])
def test_facts_are_read_from_the_joints(motion: np.ndarray, expected: set[str], absent: set[str]) -> None:
    facts = set(window_facts(motion))
    assert expected <= facts and not absent & facts, facts


def test_facts_do_not_depend_on_heading_position_or_body_size() -> None:
    base = set(window_facts(walk(2.0, 1.2)))
    moved = _turned(walk(2.0, 1.2), 130.0) + np.array([3.0, 0.0, -2.0], np.float32)
    assert set(window_facts(moved)) == base
    child = walk(2.0, 1.2 * 0.6) * 0.6  # a child is smaller and slower: the same walk
    assert {"walk", "forward"} <= set(window_facts(child))


def test_walking_backwards_and_sideways() -> None:
    back = walk(2.0, 1.0)
    back[..., 2] = -back[..., 2]  # travel towards -Z while still facing +Z
    assert "backward" in window_facts(back)
    side = walk(2.0, 1.0)
    side[..., 0], side[..., 2] = side[..., 2] - REST[None, :, 2], np.broadcast_to(REST[:, 2], side.shape[:2])
    side[..., 0] += REST[None, :, 0]
    assert "sideways_left" in window_facts(side)  # facing +Z, the performer's left is +X


def test_lying_and_inverted_bodies() -> None:
    lying = still(2.0).copy()
    lying[..., 1], lying[..., 2] = 0.1 + 0.0 * lying[..., 1], lying[..., 1]
    assert "lying" in window_facts(lying)
    upside_down = still(2.0).copy()
    upside_down[..., 1] = 1.8 - upside_down[..., 1]
    assert "inverted" in window_facts(upside_down)


def test_captions_phrase_the_facts_and_eval_words_are_held_out() -> None:
    for fact in FACTS.values():
        assert fact.train and fact.eval and not set(fact.train) & set(fact.eval)
    assert not set(SUBJECTS["train"]) & set(SUBJECTS["eval"])
    captions = kinematic_captions(["walk", "turn_left", "arms_up_both"], random.Random(0), 8)
    assert len(captions) == 8 == len(set(captions))
    assert captions == kinematic_captions(["walk", "turn_left", "arms_up_both"], random.Random(0), 8)
    train_phrases = [p for f in ("walk", "turn_left", "arms_up_both") for p in FACTS[f].train]
    assert all(any(p in c for p in train_phrases) for c in captions)
    query = fact_query("walk", random.Random(3))
    assert not any(p in query for p in FACTS["walk"].train) and any(p in query for p in FACTS["walk"].eval)
    assert kinematic_captions([], random.Random(0), 4) == []
    # A general fact gives way to a more precise one in captions ("walks slowly", not just "walks").
    slow = kinematic_captions(["walk", "walk_slow"], random.Random(1), 6)
    assert all(not any(c.endswith(f" {p}.") for p in FACTS["walk"].train) for c in slow)


def test_body_normalised_features_ignore_body_size_but_keep_motion() -> None:
    w = walk(2.0, 1.2)[None]
    big, small = to_window_frame(w * 1.3, True), to_window_frame(w * 0.7, True)
    np.testing.assert_allclose(big, small, atol=1e-4)
    np.testing.assert_allclose(body_lengths(big), BODY_LENGTH_M, rtol=1e-5)
    assert not np.allclose(to_window_frame(w * 1.3), to_window_frame(w * 0.7), atol=1e-2)


def test_body_variation_changes_bones_alike_on_both_sides() -> None:
    w = to_window_frame(walk(2.0, 1.2)[None].repeat(16, 0))
    out = vary_body(w, np.random.default_rng(0), AugmentConfig(max_bone_scale=0.1))
    lengths = np.linalg.norm(out[:, 0] - out[:, 0, [max(p, 0) for p in PARENTS]], axis=-1)
    before = np.linalg.norm(w[:, 0] - w[:, 0, [max(p, 0) for p in PARENTS]], axis=-1)
    ratio = lengths[:, 1:] / before[:, 1:]
    assert ratio.min() >= 0.9 - 1e-4 and ratio.max() <= 1.1 + 1e-4 and ratio.std() > 0.02
    left, right = J["l_knee"], J["r_knee"]
    assert MIRROR_PERMUTATION[left] == right
    np.testing.assert_allclose(ratio[:, left - 1], ratio[:, right - 1], rtol=1e-5)
    tilted = vary_body(w, np.random.default_rng(1), AugmentConfig(max_tilt_deg=10.0))
    np.testing.assert_allclose(np.linalg.norm(tilted[:, :, J["head"]] - tilted[:, :, J["pelvis"]], axis=-1),
                               np.linalg.norm(w[:, :, J["head"]] - w[:, :, J["pelvis"]], axis=-1), rtol=1e-4)
    assert not np.allclose(tilted, w, atol=1e-3)


def test_auroc() -> None:
    assert auroc(np.array([0.9, 0.8]), np.array([0.1, 0.2])) == 1.0
    assert auroc(np.array([0.1]), np.array([0.9])) == 0.0
    assert auroc(np.array([0.5, 0.5]), np.array([0.5])) == 0.5


def test_match_score_blends_familiarity_only_when_calibrated(tiny_model) -> None:  # type: ignore[no-untyped-def]
    from embedders.runtime import DanceSearchModel
    from training.text.kinematics import vocabulary

    model = DanceSearchModel(tiny_model)
    known, unknown = model.familiarity(["a dancer performing the waltz", "someone riding a bicycle uphill"])
    assert -1.0 <= unknown < known <= 1.0
    model.config.setdefault("search", {})["fallback_familiarity_weight"] = 0.0
    assert model.match_score("anything", 0.4) == 0.4  # weight 0: the motion score alone
    model.config["search"]["fallback_familiarity_weight"] = 0.5
    blended = model.match_score("a dancer performing the waltz", 0.2)
    assert blended is not None and abs(blended - (0.1 + 0.5 * known)) < 1e-5
    assert model.match_score("x", None) is None
    assert all(v.startswith("a person ") for v in vocabulary()) and len(vocabulary()) > 60


def test_familiarity_is_the_mean_of_the_best_vocabulary_cosines(tiny_model) -> None:  # type: ignore[no-untyped-def]
    import torch

    from embedders.runtime import FAMILIARITY_NEIGHBOURS, DanceSearchModel

    model = DanceSearchModel(tiny_model)
    text = "a dancer performing the waltz"
    familiarity = float(model.familiarity([text])[0])
    vocab = model._vocabulary  # filled by the call above: descriptions + vocabulary.json, unit rows
    assert vocab is not None and vocab.shape[0] > FAMILIARITY_NEIGHBOURS
    cosines = sorted((torch.nn.functional.normalize(model.minilm([text]), dim=-1) @ vocab.T)[0].tolist(), reverse=True)
    assert abs(familiarity - float(np.mean(cosines[:FAMILIARITY_NEIGHBOURS]))) < 1e-5
    assert familiarity < cosines[0] - 1e-4  # a mean over neighbours, not the single best
