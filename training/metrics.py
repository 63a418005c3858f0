"""Retrieval metrics computed over a whole split at once (not averaged per batch), as in TMR.

Inputs are a score matrix (queries x items, higher = more similar) and a boolean relevance matrix of
the same shape. Ties are broken by item order (a stable sort), so results are deterministic and a
constant score matrix gives the pessimistic-by-order ranking, never an optimistic one.
"""

from __future__ import annotations

import numpy as np


def _check(scores: np.ndarray, relevant: np.ndarray) -> None:
    if scores.shape != relevant.shape or scores.ndim != 2:
        raise ValueError(f"scores {scores.shape} and relevance {relevant.shape} must be equal 2-D shapes")


def first_relevant_ranks(scores: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    """1-based rank of the best-ranked relevant item per query; `inf` where a query has none."""
    _check(scores, relevant)
    order = np.argsort(-scores, axis=1, kind="stable")
    hits = np.take_along_axis(relevant, order, axis=1)
    ranks = np.full(scores.shape[0], np.inf)
    has = hits.any(axis=1)
    ranks[has] = hits[has].argmax(axis=1) + 1
    return ranks


def recall_at_k(ranks: np.ndarray, ks: tuple[int, ...] = (1, 5, 10)) -> dict[str, float]:
    """Share of queries whose first relevant item is within the top k (queries without any count as misses)."""
    if ranks.size == 0:
        return {f"R@{k}": float("nan") for k in ks}
    return {f"R@{k}": float(np.mean(ranks <= k)) for k in ks}


def median_rank(ranks: np.ndarray) -> float:
    """Median of the first-relevant ranks (inf if more than half the queries have no relevant item)."""
    return float(np.median(ranks)) if ranks.size else float("nan")


def precision_at_k(scores: np.ndarray, relevant: np.ndarray, k: int = 10) -> float:
    """Mean share of relevant items among each query's top k."""
    _check(scores, relevant)
    k = min(k, scores.shape[1])
    if k == 0 or scores.shape[0] == 0:
        return float("nan")
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float(np.take_along_axis(relevant, order, axis=1).mean())


def topk_accuracy(scores: np.ndarray, relevant: np.ndarray, ks: tuple[int, ...] = (1, 5)) -> dict[str, float]:
    """Share of queries with at least one relevant item in the top k (motion -> text accuracy)."""
    ranks = first_relevant_ranks(scores, relevant)
    return {f"top{k}": float(np.mean(ranks <= k)) if ranks.size else float("nan") for k in ks}


def random_ranking_expectation(relevant: np.ndarray, ks: tuple[int, ...] = (1, 5, 10)) -> dict[str, float]:
    """Exact expected Recall@k of a uniformly random ranking (the 'random' baseline, no sampling noise).

    For a query with r relevant among n items, P(no relevant in top k) = C(n-r, k) / C(n, k).
    """
    n = relevant.shape[1]
    r = relevant.sum(axis=1)
    out = {}
    for k in ks:
        kk = min(k, n)
        p_miss = np.ones(len(r))
        for i in range(kk):
            p_miss *= np.clip((n - r - i) / (n - i), 0.0, 1.0)
        out[f"R@{k}"] = float(np.mean(1.0 - p_miss)) if len(r) else float("nan")
    return out
