"""The measures of the capability report (explore/evaluation): small cases with known answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from explore.body import physical_stats
from explore.evaluation.classification import Task, clip_accuracy, nll
from explore.evaluation.concepts import _recall
from explore.evaluation.interpolation import _spearman
from explore.evaluation.report import write_report


def test_clip_accuracy_votes_with_the_mean_of_window_logits() -> None:
    t = Task("t", ["a", "b"], np.arange(4), np.array([0, 0, 1, 1]), np.array([7, 7, 9, 9]))
    logits = np.array([[3.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, 2.0]])  # clip 7: mean favours a; clip 9: b
    assert clip_accuracy(logits, t) == 1.0
    assert clip_accuracy(-logits, t) == 0.0
    assert nll(np.array([[10.0, -10.0]]), np.array([0])) < 1e-6 < nll(np.array([[0.0, 0.0]]), np.array([0]))


def test_recall_and_rank_correlation() -> None:
    relevant = np.array([True, False, True, False, False, False])
    scores = np.array([0.9, 0.8, 0.1, 0.7, 0.6, 0.5])
    assert _recall(scores, relevant, 1) == 1.0
    assert _recall(scores, relevant, 5) == 0.5  # one of the two relevant clips in the top 5
    assert abs(_spearman(np.arange(5.0), np.array([0.1, 0.2, 0.5, 0.6, 0.9])) - 1.0) < 1e-9
    assert abs(_spearman(np.arange(5.0), -np.arange(5.0)) + 1.0) < 1e-9


def test_physical_stats_see_stretching_bones_and_skating_feet() -> None:
    from motion.skeleton import JOINT_INDEX

    rng = np.random.default_rng(0)
    still = np.repeat(rng.normal(size=(1, 19, 3)), 50, axis=0)
    still[..., 1] += 2.0
    feet = [JOINT_INDEX[j] for j in ("l_ankle", "r_ankle", "l_toe", "r_toe")]
    still[:, feet, 1] = 0.05
    calm = physical_stats(still)
    assert calm["bone_drift"] < 1e-9 and calm["foot_skate"] == 0.0 and calm["jerk"] == 0.0
    sliding = still.copy()
    sliding[:, feet, 0] += np.linspace(0, 1.0, 50)[:, None]  # feet glide 1 m in 2 s while on the floor
    assert abs(physical_stats(sliding)["foot_skate"] - 0.5) < 0.05
    stretched = still * np.linspace(1.0, 1.2, 50)[:, None, None]
    assert physical_stats(stretched)["bone_drift"] > 0.03


def test_report_has_a_section_per_capability(tmp_path: Path) -> None:
    report = {"split": "test", "model_version": "m", "settings": {"chosen_on": "val"}, "seconds": 1.0,
              "concepts": {"concepts": 2, "draws": 6, "learned_R@5": 0.5, "learned_R@10": 0.6},
              "stylize": {"bandai-1 held-out combinations": {"moved": {"jobs": 0}, "unmoved": {"jobs": 0}}}}
    write_report(report, tmp_path / "r.md")
    text = (tmp_path / "r.md").read_text()
    assert "## Learned concepts" in text and "| learned | 0.500 | 0.600 |" in text
    assert "none on this split" in text


def test_generation_section_names_its_settings_and_the_real_motion_ceiling(tmp_path: Path) -> None:
    stats = {"bone_drift": 0.0, "foot_skate": 0.05, "below_floor_frac": 0.0, "jerk": 90.0}
    report = {"split": "val", "model_version": "m", "settings": {"chosen_on": "val"}, "seconds": 1.0,
              "generation": {"texts": 64, "latent": "prior", "guidance": 6.0, "noise": 0.0, "decoder": "generator",
                             "candidates": 8, "gait": True, "R@3": 0.656, "R@3_shipped_path": 0.5, "R@3_real": 0.65,
                             "generated": stats, "shipped_path": stats, "real": stats, "jerk_ratio_median": 1.1,
                             "diversity_joint_m": 0.5, "diversity_space": 0.3, "random_R@3": 0.094}}
    write_report(report, tmp_path / "r.md")
    text = (tmp_path / "r.md").read_text()
    assert "decoded by the generator, each chained window the best-joining of 8 samples, steps synthesised" in text
    assert "| real windows of the same keys | 0.650 |" in text and "| generated, body-respecting | 0.656 |" in text


def test_style_transfer_rows_include_the_real_target_clips(tmp_path: Path) -> None:
    row = {"style": 0.5, "content": 0.5, "both": 0.25, "jobs": 4}
    report = {"split": "test", "model_version": "m", "settings": {"chosen_on": "val"}, "seconds": 1.0,
              "stylize": {"bandai-2 test clips": {"moved": row, "unmoved": row,
                                                  "real target clip": {**row, "both": 0.75}}}}
    write_report(report, tmp_path / "r.md")
    assert "| bandai-2 test clips | real target clip | 0.500 | 0.500 | 0.750 | 4 |" in (tmp_path / "r.md").read_text()
