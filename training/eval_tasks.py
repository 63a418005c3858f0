"""The retrieval tasks of the evaluation, each computed over a whole split with one embedding space.

Inputs are a `SplitWindows` (the held-out windows, their clips and labels) and a loaded
`DanceSearchModel` viewed through one joint space; outputs are plain dicts of metrics. Cluster
filtering, when on, pushes items outside the query's semantic cluster below every item inside it
(the paper's consistency check, applied as a ranking filter so recall stays defined).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from embedders.runtime import DanceSearchModel
from training.data import SplitWindows
from training.metrics import (
    first_relevant_ranks,
    median_rank,
    precision_at_k,
    random_ranking_expectation,
    recall_at_k,
    topk_accuracy,
)
from training.text.captions import CaptionError, eval_queries_for_labels
from training.text.relevance import UserQuery

PERFUME_TOLERANCE_S = 1.0
FPS = 25.0


@dataclass
class EncodedSplit:
    """A split encoded once per model: normalised features, clusters, and per-space embeddings."""

    windows: SplitWindows
    features: torch.Tensor
    clusters: np.ndarray
    keys: np.ndarray  # relevance key per window ("" when none)

    @classmethod
    def build(cls, model: DanceSearchModel, windows: SplitWindows) -> EncodedSplit:
        windows.normalise_body = model.body_normalised  # features exactly as the model was trained on
        x = torch.from_numpy(model.normalizer.transform(windows.features()))
        clusters = model.clusters_of_features(x)
        keys = np.array([k or "" for k in windows.keys], dtype=object)
        return cls(windows, x, clusters, keys)


@dataclass
class TextQueries:
    """Text queries with their relevance over the split's windows and their 'family'."""

    texts: list[str]
    relevant: np.ndarray  # (Q, N) bool
    keys: list[str]
    compositional: np.ndarray  # (Q,) bool: bandai-1 held-out content x style combinations


def caption_queries(split: EncodedSplit, per_key: int, seed: int, heldout_combos: set[str]) -> TextQueries:
    """Held-out phrasings (eval templates only) for every label key present in the split."""
    texts, keys = [], []
    seen: dict[str, tuple[str, dict[str, Any]]] = {}
    for i, key in enumerate(split.keys):
        if key and key not in seen:
            seen[key] = (split.windows.sources[i], split.windows.labels[i])
    for key, (source, labels) in sorted(seen.items()):
        try:
            qs = eval_queries_for_labels(source, labels, random.Random(f"{seed}:{key}"), per_key)
        except CaptionError:
            continue
        for q in dict.fromkeys(qs):
            texts.append(q)
            keys.append(key)
    relevant = np.array([split.keys == k for k in keys], dtype=bool).reshape(len(keys), len(split.keys))
    return TextQueries(texts, relevant, keys, np.array([k in heldout_combos for k in keys], dtype=bool))


def user_queries(split: EncodedSplit, queries: Sequence[UserQuery]) -> TextQueries:
    """Hand-written free-form queries that have at least one relevant window in the split."""
    texts, rel = [], []
    for q in queries:
        r = np.array([q.is_relevant(s, lab) for s, lab in zip(split.windows.sources, split.windows.labels,
                                                               strict=True)], dtype=bool)
        if r.any():
            texts.append(q.query)
            rel.append(r)
    relevant = np.array(rel, dtype=bool).reshape(len(texts), len(split.keys))
    return TextQueries(texts, relevant, ["user"] * len(texts), np.zeros(len(texts), bool))


def _filter_by_cluster(scores: np.ndarray, query_clusters: np.ndarray, item_clusters: np.ndarray) -> np.ndarray:
    """Scores with out-of-cluster items moved below every in-cluster item (order kept within each)."""
    same = query_clusters[:, None] == item_clusters[None, :]
    return np.where(same, scores, scores - 1e3)


def _ranking_metrics(scores: np.ndarray, relevant: np.ndarray) -> dict[str, float]:
    ranks = first_relevant_ranks(scores, relevant)
    return {**recall_at_k(ranks), "MedR": median_rank(ranks), "queries": int(len(ranks))}


def text_to_motion(model: DanceSearchModel, split: EncodedSplit, queries: TextQueries,
                   cluster_filter: bool) -> dict[str, float]:
    """Recall@1/5/10 and median rank of text queries over the split's windows."""
    if not queries.texts:
        return {}
    motion = model.embed_features(split.features)
    scores = model.embed_texts(queries.texts) @ motion.T
    if cluster_filter:
        scores = _filter_by_cluster(scores, model.cluster_of_texts(queries.texts), split.clusters)
    return _ranking_metrics(scores, queries.relevant)


def random_text_to_motion(queries: TextQueries) -> dict[str, float]:
    """Exact expectation of a random ranking (no sampling noise)."""
    if not queries.texts:
        return {}
    n = queries.relevant.shape[1]
    r = queries.relevant.sum(1)
    expected_first = np.median((n + 1) / (r + 1))
    return {**random_ranking_expectation(queries.relevant), "MedR": float(expected_first),
            "queries": len(queries.texts)}


def motion_to_text(model: DanceSearchModel, split: EncodedSplit, cluster_filter: bool) -> dict[str, float]:
    """Top-1/top-5 accuracy of describing each window by the model's description database."""
    records = [r for r in model.description_records() if r.get("key")]
    if not records:
        return {}
    desc_keys = np.array([r["key"] for r in records], dtype=object)
    has_key = split.keys != ""
    d = model.embed_descriptions([r["text"] for r in records])
    q = model.describe_features(split.features[torch.from_numpy(np.flatnonzero(has_key))])
    scores = q @ d.T
    if cluster_filter:
        desc_clusters = np.array([r.get("cluster", -1) for r in records])
        scores = _filter_by_cluster(scores, split.clusters[has_key], desc_clusters)
    relevant = split.keys[has_key][:, None] == desc_keys[None, :]
    return {**topk_accuracy(scores, relevant), "queries": int(has_key.sum()), "descriptions": len(records)}


def random_motion_to_text(model: DanceSearchModel, split: EncodedSplit) -> dict[str, float]:
    records = [r for r in model.description_records() if r.get("key")]
    desc_keys = np.array([r["key"] for r in records], dtype=object)
    has_key = split.keys != ""
    relevant = split.keys[has_key][:, None] == desc_keys[None, :]
    exp = random_ranking_expectation(relevant, (1, 5))
    return {"top1": exp["R@1"], "top5": exp["R@5"], "queries": int(has_key.sum()), "descriptions": len(records)}


def _other_clip_mask(split: EncodedSplit) -> np.ndarray:
    cids = split.windows.clip_ids
    return cids[:, None] != cids[None, :]


def motion_to_motion(vectors: np.ndarray, split: EncodedSplit, clusters: np.ndarray | None) -> dict[str, float]:
    """Precision@10 (same labels, other clips) and the Perfume cross-dancer task, for window vectors."""
    scores = vectors @ vectors.T
    other = _other_clip_mask(split)
    scores = np.where(other, scores, -np.inf)
    if clusters is not None:
        scores = _filter_by_cluster(scores, clusters, clusters)
    has_key = split.keys != ""
    relevant = (split.keys[:, None] == split.keys[None, :]) & other & has_key[:, None]
    out: dict[str, float] = {"P@10": precision_at_k(scores[has_key], relevant[has_key], 10),
                             "queries": int(has_key.sum())}
    out.update(perfume_cross_dancer(scores, split))
    return out


def perfume_cross_dancer(scores: np.ndarray, split: EncodedSplit) -> dict[str, float]:
    """Perfume: the three dancers do the same routine in sync; a hit is a window of another dancer
    starting within 1 s of the query's start. R@k over the whole split as the gallery."""
    src = np.array(split.windows.sources, dtype=object)
    perf = np.flatnonzero(src == "perfume")
    if len(perf) == 0:
        return {}
    starts = split.windows.starts
    cids = split.windows.clip_ids
    tol = PERFUME_TOLERANCE_S * FPS
    relevant = ((src[None, :] == "perfume") & (cids[perf][:, None] != cids[None, :])
                & (np.abs(starts[perf][:, None] - starts[None, :]) <= tol))
    ranks = first_relevant_ranks(scores[perf], relevant)
    r = recall_at_k(ranks, (1, 5))
    return {"perfume_R@1": r["R@1"], "perfume_R@5": r["R@5"], "perfume_queries": int(len(perf))}


def random_motion_to_motion(split: EncodedSplit) -> dict[str, float]:
    other = _other_clip_mask(split)
    has_key = split.keys != ""
    relevant = (split.keys[:, None] == split.keys[None, :]) & other & has_key[:, None]
    p10 = float((relevant[has_key].sum(1) / np.maximum(other[has_key].sum(1), 1)).mean())
    out: dict[str, float] = {"P@10": p10, "queries": int(has_key.sum())}
    src = np.array(split.windows.sources, dtype=object)
    perf = np.flatnonzero(src == "perfume")
    if len(perf):
        rel = ((src[None, :] == "perfume") & (split.windows.clip_ids[perf][:, None] != split.windows.clip_ids[None, :])
               & (np.abs(split.windows.starts[perf][:, None] - split.windows.starts[None, :]) <= PERFUME_TOLERANCE_S * FPS))
        rel = rel & other[perf]
        exp = random_ranking_expectation(rel, (1, 5))
        out.update({"perfume_R@1": exp["R@1"], "perfume_R@5": exp["R@5"], "perfume_queries": int(len(perf))})
    return out


def raw_feature_vectors(split: EncodedSplit) -> np.ndarray:
    """The raw-feature baseline: normalised canonical window features, flattened and L2-normalised."""
    flat = split.features.reshape(len(split.features), -1).numpy().astype(np.float32)
    return flat / np.maximum(np.linalg.norm(flat, axis=1, keepdims=True), 1e-8)
