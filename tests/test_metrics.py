"""Retrieval metrics against hand-made rankings."""

from __future__ import annotations

import numpy as np
import pytest

from training.metrics import (
    first_relevant_ranks,
    median_rank,
    precision_at_k,
    random_ranking_expectation,
    recall_at_k,
    topk_accuracy,
)

SCORES = np.array([
    [0.9, 0.8, 0.7, 0.1],   # relevant item 2 -> rank 3
    [0.1, 0.2, 0.3, 0.4],   # relevant item 3 -> rank 1
    [0.5, 0.4, 0.3, 0.2],   # nothing relevant
])
RELEVANT = np.array([
    [False, False, True, False],
    [False, False, False, True],
    [False, False, False, False],
])


def test_first_relevant_ranks_by_hand() -> None:
    ranks = first_relevant_ranks(SCORES, RELEVANT)
    assert ranks[0] == 3 and ranks[1] == 1 and np.isinf(ranks[2])


def test_recall_and_median() -> None:
    ranks = first_relevant_ranks(SCORES, RELEVANT)
    assert recall_at_k(ranks, (1, 3)) == {"R@1": pytest.approx(1 / 3), "R@3": pytest.approx(2 / 3)}
    assert median_rank(ranks) == 3.0
    assert median_rank(np.array([1.0, np.inf, np.inf])) == np.inf


def test_ties_are_not_optimistic() -> None:
    flat = np.zeros((1, 4))
    rel = np.array([[False, False, False, True]])
    assert first_relevant_ranks(flat, rel)[0] == 4


def test_precision_at_k() -> None:
    scores = np.array([[4.0, 3.0, 2.0, 1.0]])
    rel = np.array([[True, False, True, True]])
    assert precision_at_k(scores, rel, 2) == pytest.approx(0.5)
    assert precision_at_k(scores, rel, 4) == pytest.approx(0.75)
    assert precision_at_k(scores, rel, 10) == pytest.approx(0.75)  # k capped at the item count


def test_topk_accuracy() -> None:
    assert topk_accuracy(SCORES, RELEVANT, (1, 3)) == {"top1": pytest.approx(1 / 3), "top3": pytest.approx(2 / 3)}


def test_random_expectation_matches_simulation() -> None:
    rng = np.random.default_rng(0)
    rel = rng.random((50, 40)) < 0.05
    exact = random_ranking_expectation(rel, (1, 5))
    sims = [recall_at_k(first_relevant_ranks(rng.random(rel.shape), rel), (1, 5)) for _ in range(300)]
    for key in ("R@1", "R@5"):
        assert exact[key] == pytest.approx(np.mean([s[key] for s in sims]), abs=0.01)


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError):
        first_relevant_ranks(np.zeros((2, 3)), np.zeros((2, 4), bool))


def test_grouped_by_example_precision_by_hand() -> None:
    """Bandai-2 queries alone (the issue's figure) and all Bandai queries, each query's own clip excluded."""
    from types import SimpleNamespace

    from training.eval_v2 import grouped_precision

    vectors = np.array([[1, 0], [1, 0], [0.8, 0.6], [0, 1], [0.6, 0.8]])
    windows = SimpleNamespace(sources=["bandai-2"] * 4 + ["bandai-1"], clip_ids=np.array([0, 0, 1, 2, 3]),
                              labels=[{}] * 5)
    keys = np.array(["walk|sad", "walk|sad", "walk|sad", "run|happy", "run|happy"], dtype=object)
    out = grouped_precision(vectors, SimpleNamespace(windows=windows, keys=keys), k=1)  # type: ignore[arg-type]
    # nearest other clip: w0, w1 -> clip 1 (same key); w2 -> clip 3 (other key); w3 -> clip 3 (same); w4 -> clip 1
    assert out == {"P@5 content+style": pytest.approx(3 / 5), "P@5 content+style bandai-2": pytest.approx(3 / 4)}


def test_another_performer_keeps_the_moment_and_changes_the_body() -> None:
    """The Perfume stand-in (training.eval_performers): a mild smooth time warp, another posture and size."""
    from types import SimpleNamespace

    from motion.skeleton import JOINT_INDEX, N_JOINTS
    from training.eval_performers import MAX_SPEED_CHANGE, TOLERANCE_FRAMES, performed_again, relevant_windows

    rng = np.random.default_rng(0)
    long = rng.normal(size=(400, N_JOINTS, 3)).cumsum(0).astype(np.float32) * 0.01
    short = long[:100]
    windows = SimpleNamespace(clips_in_order=lambda: [7, 8], clip_positions={7: long, 8: short})
    copies = performed_again(SimpleNamespace(windows=windows), seed=1)
    assert [c.clip_id for c in copies] == [7]  # the 4 s clip is too short to perform again
    copy = copies[0]
    speed = np.diff(copy.source_frame)
    assert len(copy.positions) == len(copy.source_frame) and copy.source_frame[0] == 0
    assert np.all(speed >= 1 - MAX_SPEED_CHANGE - 1e-9) and np.all(speed <= 1 + MAX_SPEED_CHANGE + 1e-9)
    assert speed.max() - speed.min() > MAX_SPEED_CHANGE  # the speed does vary
    pelvis = JOINT_INDEX["pelvis"]
    moment = np.round(copy.source_frame).astype(int)
    np.testing.assert_allclose(copy.positions[:, pelvis], long[moment, pelvis], atol=0.02)  # the same path
    body = copy.positions - copy.positions[:, pelvis:pelvis + 1]
    assert np.abs(body - (long - long[:, pelvis:pelvis + 1])[moment]).mean() > 0.01  # another body
    starts = np.arange(0, 400, 20)
    rel = relevant_windows(copy, np.array([0, 200]), np.full(len(starts), 7), starts)
    assert rel[0].sum() == 2 and rel[0, 0]  # starts 0 and 20 are within 1 s of frame 0
    assert rel[1].sum() >= 2 and np.all(np.abs(starts[rel[1]] - copy.source_frame[200]) <= TOLERANCE_FRAMES)
