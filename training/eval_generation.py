"""Evaluation of text-to-dance generation: does the motion match its text, and is it physical?

Retrieval check (as in text-to-motion work): each generated motion is embedded with the trained
retrieval model and ranked against its own query and 31 other queries; Recall@3 of its own text.
Physical checks against real held-out windows: bone-length drift (a real skeleton's bones do not
stretch), lowest-foot height (feet should touch the floor, not sink or float) and jerk.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from embedders.runtime import DanceSearchModel
from motion.skeleton import BONES, JOINT_INDEX, N_JOINTS
from training.eval_tasks import FPS, EncodedSplit
from training.text.captions import CaptionError, eval_queries_for_labels

_FEET = [JOINT_INDEX[j] for j in ("l_ankle", "r_ankle", "l_toe", "r_toe")]
GALLERY = 32


def physical_stats(windows: np.ndarray) -> dict[str, float]:
    """Bone drift (mean over bones of std/mean length within a window), lowest-foot height (m) and
    jerk (m/s^3, mean magnitude) of windows (N, S, J, 3)."""
    child = np.array([c for c, _ in BONES])
    parent = np.array([p for _, p in BONES])
    lengths = np.linalg.norm(windows[:, :, child] - windows[:, :, parent], axis=-1)  # (N, S, B)
    drift = (lengths.std(1) / np.maximum(lengths.mean(1), 1e-6)).mean()
    foot = windows[:, :, _FEET, 1].min(-1)  # (N, S)
    jerk = np.linalg.norm(np.diff(windows, n=3, axis=1), axis=-1).mean() * FPS ** 3
    return {"bone_drift": float(drift), "foot_height_mean": float(foot.mean()),
            "foot_below_floor_frac": float((foot < -0.05).mean()), "jerk": float(jerk)}


def _queries(split: EncodedSplit, n: int, seed: int) -> list[tuple[str, str]]:
    """(query, key) pairs: one held-out phrasing per distinct label key, up to `n` keys."""
    seen: dict[str, tuple[str, dict]] = {}
    for i, key in enumerate(split.keys):
        if key and key not in seen:
            seen[key] = (split.windows.sources[i], split.windows.labels[i])
    rng = random.Random(seed)
    keys = sorted(seen)
    rng.shuffle(keys)
    out = []
    for key in keys:
        try:
            q = eval_queries_for_labels(*seen[key], random.Random(f"gen:{seed}:{key}"), 1)
        except CaptionError:
            continue
        if q:
            out.append((q[0], key))
    return out[:n]


def recall_at_3_among(text_emb: np.ndarray, motion_emb: np.ndarray, rng: np.random.Generator) -> float:
    """R@3 of each motion (row i of ``motion_emb``) ranking its own text (row i of ``text_emb``) against
    ``GALLERY - 1`` other texts drawn from ``rng``; both arrays are unit rows of one space."""
    hits = []
    for i in range(len(text_emb)):
        others = rng.choice(np.delete(np.arange(len(text_emb)), i), GALLERY - 1, replace=False)
        scores = text_emb[np.concatenate([[i], others])] @ motion_emb[i]
        hits.append(int((scores > scores[0]).sum()) < 3)
    return float(np.mean(hits))


@torch.no_grad()
def evaluate_generation(model: DanceSearchModel, split: EncodedSplit, n: int, seed: int) -> dict[str, Any]:
    """Recall@3 among 32 texts, and physical statistics of generated versus real windows."""
    pairs = _queries(split, n, seed)
    if len(pairs) < GALLERY:
        return {"skipped": f"only {len(pairs)} distinct label keys; need {GALLERY}"}
    texts = [q for q, _ in pairs]
    feats = model.generator.generate(model.minilm(texts))  # (n, S, F) normalised
    rng = np.random.default_rng(seed)
    r_at_3 = recall_at_3_among(model.embed_texts(texts), model.embed_features(feats), rng)
    gen_pos = model.normalizer.inverse(feats.numpy()).reshape(len(texts), -1, N_JOINTS, 3)
    real_idx = rng.choice(len(split.features), min(512, len(split.features)), replace=False)
    real_pos = model.normalizer.inverse(split.features[torch.from_numpy(real_idx)].numpy()
                                        ).reshape(len(real_idx), -1, N_JOINTS, 3)
    return {"queries": len(texts), "gallery": GALLERY, "R@3": r_at_3,
            "random_R@3": 3 / GALLERY, "space": model.space_name,
            "generated": physical_stats(gen_pos), "real": physical_stats(real_pos)}
