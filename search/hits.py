"""Turning ANN window matches into ranked clip hits (and description matches), with paging.

Ranking (one code path for every direction). A query is one or more vectors ``q_1..q_m`` (a text
is one; a motion query longer than a window is cut into ``m`` windows). Index rows are grouped (the
windows of a clip; each description is its own group) and a group ``g`` scores

    score(g) = mean_i max_{w in g} <q_i, w>

i.e. each part of the query finds its best match inside the clip and the clip scores the average:
a clip that contains the whole query outranks one that matches only part of it. With one query
vector this is simply the clip's best window score; for descriptions (one row per group) it is the
mean similarity over the query windows.

Exactness and paging. :func:`rank_groups` over-fetches ``fetch`` rows per query vector from the ANN
index, takes the groups seen as candidates and rescores all their (allowed) members exactly. A group
never seen has ``max_w <q_i, w> <= tau_i`` (the ``fetch``-th score of query ``i``), so its score is at
most ``mean_i tau_i``; candidates scoring at least that bound are final. The fetch grows until
``offset + k`` final groups are found or the index is exhausted, so page 2 (``offset = k``) continues
page 1 without gaps or overlaps (ties broken by group id), up to the ANN backend's own recall.
With one query vector every candidate is final at once. With several, the bound can stay loose when
the query parts match unrelated clips, so the fetch stops growing at :data:`MAX_FETCH` rows per query
vector (or the first fetch, if larger) once ``offset + k`` candidates are known; these are ranked by
their exact scores, and a clip absent from every part's top rows is missed. The cap does not depend on the page while
``(offset + k) * OVERFETCH <= MAX_FETCH``, so pages stay consistent; latency stays bounded.

Spans. A clip hit covers its best window (highest ``max_i <q_i, w>``, earliest on ties) extended
over the contiguous run of overlapping or touching neighbouring windows whose score is within
:data:`SPAN_MARGIN` of the best: several adjacent high-scoring windows merge into one moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from db.annotations import WindowTable
from search.ann import AnnIndex, InvalidInputError
from search.types import Filters

OVERFETCH = 4
MIN_FETCH = 64
MAX_FETCH = 4096
"""Most rows fetched per query vector for multi-vector queries (see the module docstring)."""
RESCORE_CHUNK = 8192
"""Members are rescored in chunks this small (FAISS answers small id subsets exactly and fast)."""
SPAN_MARGIN = 0.05
"""Windows next to the best one join the hit's span when their score is at least best - margin."""
MAX_SPAN_FRAMES = 150
"""A hit's span is at most this many canonical frames (6 s at 25 fps)."""


class Groups(Protocol):
    """How index row ids are grouped into results."""

    def group_of(self, ids: np.ndarray) -> np.ndarray:
        """Group id of each row id (-1 for ids the grouping does not know)."""

    def members(self, groups: np.ndarray) -> np.ndarray:
        """Sorted row ids of the given groups."""


class WindowGroups:
    """Windows grouped by clip, from the engine's window table."""

    def __init__(self, table: WindowTable) -> None:
        self.table = table

    def group_of(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64)
        if len(self.table) == 0:
            return np.full(ids.shape, -1, dtype=np.int64)
        pos = np.clip(np.searchsorted(self.table.ids, ids), 0, len(self.table) - 1)
        known = self.table.ids[pos] == ids
        return np.where(known, self.table.clip_ids[pos], -1)

    def members(self, groups: np.ndarray) -> np.ndarray:
        return self.table.ids[np.isin(self.table.clip_ids, groups)]


class IdentityGroups:
    """Every row is its own group (descriptions)."""

    def group_of(self, ids: np.ndarray) -> np.ndarray:
        return np.asarray(ids, dtype=np.int64)

    def members(self, groups: np.ndarray) -> np.ndarray:
        return np.unique(np.asarray(groups, dtype=np.int64))


@dataclass(frozen=True)
class Ranked:
    """A ranked group: its score and every allowed member with its window score (max over queries)."""

    group: int
    score: float
    member_ids: np.ndarray
    member_scores: np.ndarray


def member_similarities(index: AnnIndex, queries: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Exact similarities (m, len(members)) of every query to every (sorted) member (-inf where
    the index could not return one)."""
    try:  # the stored vectors times the queries: no top-k selection and sort of every member
        return np.concatenate([queries @ index.vectors_for(members[lo:lo + RESCORE_CHUNK]).T
                               for lo in range(0, members.size, RESCORE_CHUNK)] or
                              [np.zeros((len(queries), 0), np.float32)], axis=1).astype(np.float32, copy=False)
    except InvalidInputError:  # a member the index lacks (a row deleted behind its back): ask it member by member
        pass
    out = np.full((len(queries), members.size), -np.inf, dtype=np.float32)
    for lo in range(0, members.size, RESCORE_CHUNK):
        part = members[lo:lo + RESCORE_CHUNK]
        scores, ids = index.search(queries, int(part.size), allowed_ids=part)
        rows, cols = np.nonzero(ids >= 0)
        out[rows, lo + np.searchsorted(part, ids[rows, cols])] = scores[rows, cols]
    return out


def rank_groups(index: AnnIndex, queries: np.ndarray, need: int, groups: Groups,
                allowed: np.ndarray | None = None) -> list[Ranked]:
    """The best ``need`` groups, best first (see the module docstring for score and guarantees)."""
    available = len(index) if allowed is None else int(allowed.size)
    if need < 1 or available == 0 or len(queries) == 0:
        return []
    fetch = min(available, max(need * OVERFETCH, MIN_FETCH))
    cap = max(fetch, min(available, MAX_FETCH))
    scored: dict[int, Ranked] = {}
    while True:
        scores, ids = index.search(queries, fetch, allowed_ids=allowed)
        exhausted = fetch >= available or bool((ids < 0).any())
        seen = np.unique(groups.group_of(np.unique(ids[ids >= 0])))
        new = seen[(seen >= 0) & ~np.isin(seen, np.fromiter(scored, dtype=np.int64, count=len(scored)))]
        scored.update((r.group, r) for r in _rescore(index, queries, groups, new, allowed))
        ranked = sorted(scored.values(), key=lambda r: (-r.score, r.group))
        bound = float(np.mean(scores[:, -1]))
        if exhausted or sum(1 for r in ranked if r.score >= bound) >= need:
            return ranked[:need]
        if fetch >= cap and len(ranked) >= need:
            return ranked[:need]
        fetch = min(available, fetch * OVERFETCH if fetch >= cap else min(cap, fetch * OVERFETCH))


def score_groups(index: AnnIndex, queries: np.ndarray, groups: Groups, candidates: np.ndarray,
                 allowed: np.ndarray | None = None) -> list[Ranked]:
    """Exact scores (as :func:`rank_groups` computes them) of the given groups, in group id order;
    groups without an allowed member are left out (hybrid search scores clips found by metadata)."""
    candidates = np.unique(np.asarray(candidates, dtype=np.int64))
    if candidates.size == 0 or len(queries) == 0 or len(index) == 0:
        return []
    return _rescore(index, queries, groups, candidates, allowed)


def _rescore(index: AnnIndex, queries: np.ndarray, groups: Groups, candidates: np.ndarray,
             allowed: np.ndarray | None) -> list[Ranked]:
    """Exact scores of the candidate groups, from all their allowed members."""
    members = groups.members(candidates)
    if allowed is not None:
        members = np.intersect1d(members, allowed)
    if members.size == 0:
        return []
    sims = member_similarities(index, queries, members)
    member_group = groups.group_of(members)
    order = np.argsort(member_group, kind="stable")
    members, member_group, sims = members[order], member_group[order], sims[:, order]
    group_ids, first = np.unique(member_group, return_index=True)
    per_query = np.maximum.reduceat(sims, first, axis=1)  # (m, groups): best member per query part
    seen = np.isfinite(per_query).any(axis=0)
    scores = np.where(np.isfinite(per_query), per_query, -1.0).mean(axis=0)
    window_scores = sims.max(axis=0)
    bounds = np.append(first, members.size)
    return [Ranked(int(group_ids[g]), float(scores[g]), members[bounds[g]:bounds[g + 1]],
                   window_scores[bounds[g]:bounds[g + 1]])
            for g in np.flatnonzero(seen & (group_ids >= 0))]


def best_span(starts: np.ndarray, ends: np.ndarray, scores: np.ndarray,
              margin: float = SPAN_MARGIN, max_frames: int = MAX_SPAN_FRAMES) -> tuple[int, int, int]:
    """``(start frame, end frame, index of the best window)`` of a clip hit: the best window
    extended over contiguous neighbours (overlapping or touching) scoring at least best - margin,
    the better-scoring side first, while the span stays within `max_frames` (a hit is a moment: a
    clip that matches everywhere, like a long waltz for "waltz", is not returned whole)."""
    order = np.lexsort((np.arange(starts.size), starts))
    s, e, sc = starts[order], ends[order], scores[order]
    best = int(np.flatnonzero(sc == sc.max())[0])
    threshold = sc[best] - margin
    lo = hi = best
    span_start, span_end = int(s[best]), int(e[best])
    while True:
        left = lo > 0 and e[lo - 1] >= span_start and sc[lo - 1] >= threshold \
            and span_end - min(span_start, int(s[lo - 1])) <= max_frames
        right = hi + 1 < s.size and s[hi + 1] <= span_end and sc[hi + 1] >= threshold \
            and max(span_end, int(e[hi + 1])) - span_start <= max_frames
        if not (left or right):
            break
        if left and (not right or sc[lo - 1] >= sc[hi + 1]):
            lo -= 1
            span_start = min(span_start, int(s[lo]))
        else:
            hi += 1
            span_end = max(span_end, int(e[hi]))
    return span_start, span_end, int(order[best])


def filter_key(filters: Filters) -> tuple[object, ...]:
    """A hashable key of a filter (for the per-filter cache of allowed windows)."""
    return (filters.source, tuple(sorted((str(k), str(v)) for k, v in filters.labels.items())),
            filters.min_duration, filters.max_duration)
