"""Search by example: the learned ranking's best clips re-ranked by temporal context and, for "the
same movement", by the poses themselves.

Two meanings of "moves alike" (``match``):

* ``similar`` (default): movement that means the same ("a waltz turn", "a sad walk"), as the learned
  shared space ranks it;
* ``same``: the same movement first, on another rig, body or dancer. The learned space sometimes
  prefers a merely similar clip there; the windows' normalised poses themselves
  (``SearchModel.pose_vectors``: canonical skeleton, body normalised, no learned weights) are better at
  that and worse at meaning, so "same" blends them in: ``(1 - w) * learned + w * pose`` window
  similarities, ``w`` = the model's calibrated ``same_motion_pose_weight``.

Both modes use **temporal context**: a 2 s window alone is ambiguous, a phrase is not. The similarity of
query window ``i`` and library window ``j`` becomes the mean of the similarities of the pairs
``(i + d, j + d)`` for ``|d| <= K`` that exist in both (the same time shift on both sides: neighbours in
the query and in the library clip, ``K`` = ``by_example_context[match]`` windows each way), so a library
moment scores high when the moments around it also match those around the query moment.

Which clips are re-scored: every clip holding one of the :data:`RERANK_FETCH` nearest library windows of
some query window (one ANN search, no growing fetch); they come first, in re-scored order, and beyond them
the learned ranking continues, so every page of one query comes from the same ranking. A clip's score is,
as everywhere, the mean over the query's windows of its best (re-scored) window; its moment is the span
around its best re-scored window.

Settings chosen on val by ``scripts/eval_by_example.py --split val --choose`` (docs/experiments.md,
"Search by example in temporal context" and "... the same moment by another performer"): context K = 2 for
``similar`` (best val label P@10) and, for ``same``, weight 0.5 with K = 8 (best val mean of cross-rig R@1
and the synthetic other-performer R@1 of :mod:`training.eval_performers`; K = 1 before, by cross-rig
alone). Test, once: "similar" cross-rig R@1 0.871 -> 0.912, Perfume cross-dancer R@1 0.728 -> 0.766,
Bandai content+style P@5 0.578 -> 0.610 (same-genre P@5 0.725 -> 0.698); "same" (at first pose weight
0.35 without context) cross-rig 0.918 -> 0.936,
Perfume 0.766 -> 0.923 (0.793 with K = 1). Pose vectors of candidate
clips are computed from the motion store and kept in a small LRU (:data:`POSE_CACHE_CLIPS` clips).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping

import numpy as np

from db.annotations import WindowTable
from search.ann import AnnIndex
from search.hits import Groups, Ranked, member_similarities

MATCHES = ("similar", "same")
RERANK_FETCH = 64
"""Nearest library windows fetched per query window; every clip they belong to is re-scored."""
POSE_CACHE_CLIPS = 128
DEFAULT_POSE_WEIGHT = 0.5
"""For models whose settings lack ``same_motion_pose_weight``: the shipped model's val choice."""
DEFAULT_CONTEXT = 0
"""For models whose settings lack ``by_example_context``: no temporal context (windows alone)."""


def by_example_settings(settings: Mapping[str, object], match: str) -> tuple[float, int]:
    """``(pose weight, context windows each way)`` of ``match`` from a model's search settings."""
    weight = float(settings.get("same_motion_pose_weight", DEFAULT_POSE_WEIGHT)) if match == "same" else 0.0  # type: ignore[arg-type]
    context = settings.get("by_example_context")
    return weight, int(context.get(match, DEFAULT_CONTEXT) if isinstance(context, Mapping) else DEFAULT_CONTEXT)


class PoseCache:
    """Pose vectors of every window of recently used clips, by clip id (least recently used evicted)."""

    def __init__(self, compute: Callable[[int, np.ndarray], np.ndarray], max_clips: int = POSE_CACHE_CLIPS) -> None:
        self._compute = compute
        self._max = max_clips
        self._clips: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()

    def vectors(self, clip_id: int, table: WindowTable, window_ids: np.ndarray) -> np.ndarray:
        """Pose vectors of ``window_ids`` (windows of ``clip_id``), in that order."""
        cached = self._clips.get(clip_id)
        if cached is None or not np.isin(window_ids, cached[0]).all():
            ids = table.ids[table.clip_ids == clip_id]
            cached = (ids, self._compute(clip_id, table.starts[table.rows(ids)]))
            self._clips[clip_id] = cached
            while len(self._clips) > self._max:
                self._clips.popitem(last=False)
        self._clips.move_to_end(clip_id)
        ids, vecs = cached
        return vecs[np.searchsorted(ids, window_ids)]

    def clear(self) -> None:
        self._clips.clear()


CLIP_KEY = 1 << 32
"""Library window keys for :func:`in_context`: ``clip index * CLIP_KEY + start frame``, so that a shift by
whole windows never leaves a clip."""


def _shifted(keys: np.ndarray, order: np.ndarray, shift: int) -> np.ndarray:
    """Index of the window whose key is ``shift`` more than each of ``keys`` (-1 where none is);
    ``order`` sorts ``keys``."""
    ordered = keys[order]
    pos = np.clip(np.searchsorted(ordered, keys + shift), 0, keys.size - 1)
    return np.where(ordered[pos] == keys + shift, order[pos], -1)


def in_context(sims: np.ndarray, query_starts: np.ndarray, library_keys: np.ndarray, context: int,
               step: int) -> np.ndarray:
    """``sims`` (query windows x library windows) with each entry replaced by the mean over the diagonal
    pairs ``(i + d, j + d)``, ``|d| <= context``: the windows starting ``d * step`` frames later
    (``step`` = the window stride) on both sides, where both exist (a clip's end-aligned tail window, or a
    library cut with another stride, simply has fewer pairs). ``library_keys``: the library windows'
    start frames, plus ``CLIP_KEY`` times a clip index when they come from several clips."""
    if context <= 0 or sims.size == 0:
        return sims
    q_order, g_order = np.argsort(query_starts, kind="stable"), np.argsort(library_keys, kind="stable")
    total, count = sims.astype(np.float64), np.ones(sims.shape)
    for d in (*range(1, context + 1), *range(-context, 0)):
        qi, gj = _shifted(query_starts, q_order, d * step), _shifted(library_keys, g_order, d * step)
        valid = (qi >= 0)[:, None] & (gj >= 0)[None, :]
        total += np.where(valid, sims[np.ix_(np.maximum(qi, 0), np.maximum(gj, 0))], 0.0)
        count += valid
    return (total / count).astype(np.float32)


def clip_windows(groups: Groups, clip_ids: np.ndarray, allowed: np.ndarray | None) -> list[tuple[int, np.ndarray]]:
    """``(clip id, its allowed window ids in id order)`` of each of ``clip_ids`` that has one, by clip id:
    the candidates :func:`rerank` re-scores."""
    members = groups.members(clip_ids)
    if allowed is not None:
        members = np.intersect1d(members, allowed)
    of = groups.group_of(members)
    order = np.argsort(of, kind="stable")
    members, of = members[order], of[order]
    ids, first = np.unique(of, return_index=True)
    return [(int(g), part) for g, part in zip(ids, np.split(members, first[1:]), strict=False) if g >= 0]


def rerank(index: AnnIndex, queries: np.ndarray, query_starts: list[int], candidates: list[tuple[int, np.ndarray]],
           table: WindowTable, weight: float = 0.0, context: int = 0, step: int = 1,
           query_poses: np.ndarray | None = None, poses: PoseCache | None = None) -> list[Ranked]:
    """``candidates`` (``(clip id, window ids)``, :func:`clip_windows`) scored, best first (ties by clip id):
    window similarities ``(1 - weight) * learned + weight * pose`` (pose only when ``weight > 0``), then in
    temporal context (``context`` windows each way, ``step`` frames apart: the stride of the query's and the
    library's windows). All candidates' windows are scored in one matrix."""
    candidates = [(g, ids) for g, ids in candidates if ids.size]
    if not candidates:
        return []
    members = np.concatenate([ids for _, ids in candidates])
    bounds = np.cumsum([0] + [ids.size for _, ids in candidates])
    order = np.argsort(members, kind="stable")
    sims = np.empty((len(queries), members.size), dtype=np.float32)
    sims[:, order] = member_similarities(index, queries, members[order])
    if weight > 0:
        if query_poses is None or poses is None:
            raise ValueError("a pose weight needs the query's pose vectors and a pose cache")
        pose = np.concatenate([query_poses @ poses.vectors(g, table, ids).T for g, ids in candidates], axis=1)
        sims = ((1.0 - weight) * sims + weight * pose).astype(np.float32)
    if context > 0:
        clip_index = np.repeat(np.arange(len(candidates), dtype=np.int64), np.diff(bounds))
        keys = clip_index * CLIP_KEY + table.starts[table.rows(members)].astype(np.int64)
        sims = in_context(sims, np.asarray(query_starts, dtype=np.int64), keys, context, step)
    scores = np.maximum.reduceat(sims, bounds[:-1], axis=1).mean(axis=0)
    window_scores = sims.max(axis=0)
    out = [Ranked(g, float(scores[i]), ids, window_scores[bounds[i]:bounds[i + 1]])
           for i, (g, ids) in enumerate(candidates)]
    return sorted(out, key=lambda r: (-r.score, r.group))
