"""Search by example for *the same* movement, on another rig, body or dancer (``match="same"``).

The learned shared space is trained to group movement by what it means ("a waltz turn", "a sad walk"),
which is what ``match="similar"`` (the default) ranks by. Asked for the same movement on another rig or
body, it sometimes prefers a merely similar clip; the windows' normalised poses themselves
(``SearchModel.pose_vectors``: canonical skeleton, body normalised, no learned weights) are better at
that and worse at meaning.

So "same" re-ranks the learned space's best :data:`SAME_CANDIDATES` clips by the blend
``(1 - w) * learned + w * pose`` of the window similarities, ``w`` = the model's calibrated
``same_motion_pose_weight`` (0.35, the best val cross-rig R@1 of ``scripts/eval_by_example.py --split val
--choose``); beyond them the learned order continues, so every page of one query comes from the same
ranking. Measured with the shipped model (docs/experiments.md, "Search by example: the same movement"):
test cross-rig R@1 0.871 -> 0.918 and Perfume cross-dancer R@1 0.728 -> 0.766, for Bandai content+style
P@5 0.578 -> 0.564 and label P@10 0.522 -> 0.495; the 10 CMU takes present on two rigs
(``scripts/eval_twins.py --match``) reach the top 5 for 75 % of queries instead of 55 % (median rank 3.5
instead of 5; first: 20 % either way). A clip's score is, as everywhere, the mean over the query's windows
of its best window; its moment is the span around its best blended window. Pose vectors of candidate clips
are computed from the motion store and kept in a small LRU (:data:`POSE_CACHE_CLIPS` clips).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from db.annotations import WindowTable
from search.ann import AnnIndex
from search.hits import Ranked, member_similarities

MATCHES = ("similar", "same")
SAME_CANDIDATES = 50
"""Clips of the learned ranking re-ranked by pose (each twin above ranks at most 11th in it)."""
POSE_CACHE_CLIPS = 128
DEFAULT_POSE_WEIGHT = 0.35
"""For models whose settings lack ``same_motion_pose_weight``: the shipped model's val choice."""


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


def rerank_same(index: AnnIndex, queries: np.ndarray, query_poses: np.ndarray, candidates: list[Ranked],
                table: WindowTable, poses: PoseCache, weight: float) -> list[Ranked]:
    """``candidates`` (learned ranking) re-scored by ``(1 - weight) * learned + weight * pose``
    similarity, best first (ties by clip id)."""
    if not candidates:
        return []
    members = np.concatenate([c.member_ids for c in candidates])
    order = np.argsort(members, kind="stable")
    learned_sorted = member_similarities(index, queries, members[order])
    learned = np.empty_like(learned_sorted)
    learned[:, order] = learned_sorted
    out: list[Ranked] = []
    lo = 0
    for c in candidates:
        hi = lo + c.member_ids.size
        pose = query_poses @ poses.vectors(c.group, table, c.member_ids).T
        sims = (1.0 - weight) * learned[:, lo:hi] + weight * pose
        out.append(Ranked(c.group, float(sims.max(axis=1).mean()), c.member_ids, sims.max(axis=0)))
        lo = hi
    return sorted(out, key=lambda r: (-r.score, r.group))
