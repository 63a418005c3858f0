"""The model-v2 measures of the evaluation report: generalisation beyond the label captions.

* **Kinematic queries**: for every kinematic fact (:mod:`training.text.kinematics`) that holds in at least
  KINEMATIC_MIN_WINDOWS windows of the split, held-out phrasings (words never used in training) are
  queries; relevant windows are those where the same fact is measured.
* **By example, grouped**: P@5 over windows of other clips with the same content + style (Bandai windows
  as queries, and Bandai-2's alone, the issue's figure: bandai-1's test clips are content x style
  combinations held out of training) and with the same genre (ballroom, salsa, Perfume).
* **Cross-rig**: test clips retargeted onto other rig conventions and body sizes
  (:mod:`motion.conventions`), read back through the product's own readers and rig recognition, and
  searched against the split: R@1 of finding the original moment (same clip, start within 0.2 s).
* **Off-domain**: the best text -> motion score of in-domain queries (held-out phrasings and user
  queries) against off-domain queries written for evaluation only (disjoint from the calibration set):
  AUROC, and the rates at the model's calibrated fallback threshold.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import numpy as np

from embedders.runtime import DanceSearchModel
from motion.bvh import read_bvh_text
from motion.canonical import to_canonical
from motion.conventions import CONVENTIONS, convention_bvh
from motion.data import Motion
from motion.skeleton import CANONICAL_FPS, JOINTS, PARENTS
from training.eval_tasks import EncodedSplit, TextQueries, text_to_motion
from training.metrics import first_relevant_ranks, precision_at_k, recall_at_k
from training.text.kinematics import FACTS, fact_query, window_facts

KINEMATIC_MIN_WINDOWS = 5
CROSS_RIG_CLIPS = 30
CROSS_RIG_SECONDS = 12.0
CROSS_RIG_TOLERANCE = 5  # canonical frames (0.2 s): a rest frame dropped on the way back shifts by one

# Off-domain queries for evaluation only (training/calibrate.py has its own, disjoint set).
OFF_DOMAIN_EVAL = (
    "cycling up a steep hill", "swimming freestyle laps in a pool", "typing an email on a laptop",
    "eating soup with a spoon", "climbing a ladder to the roof", "brushing teeth in front of a mirror",
    "knitting a scarf", "a cat stretching on the sofa", "playing the drums", "reading a newspaper",
    "washing dishes at the sink", "surfing a big wave", "shoveling snow off the driveway",
    "ice skating backwards", "writing on a blackboard with chalk", "pouring a cup of coffee",
    "fishing with a rod from a boat", "tying shoelaces", "paddling a canoe", "ironing a shirt",
)


def window_fact_lists(split: EncodedSplit) -> list[list[str]]:
    """The kinematic facts of every window of the split (measured on its unnormalised positions)."""
    out: list[list[str]] = []
    n = len(split.windows)
    for i in range(0, n, 1024):
        for w in split.windows.positions(np.arange(i, min(i + 1024, n)), normalise=False):
            out.append(window_facts(w))
    return out


def kinematic_queries(split: EncodedSplit, facts: list[list[str]], seed: int, per_fact: int = 2) -> TextQueries:
    """Held-out phrasings of every fact present in at least KINEMATIC_MIN_WINDOWS windows."""
    rng = random.Random(seed)
    texts, keys, rel = [], [], []
    for fact in FACTS:
        mask = np.array([fact in f for f in facts])
        if mask.sum() < KINEMATIC_MIN_WINDOWS or mask.mean() > 0.8:
            continue
        for _ in range(per_fact):
            texts.append(fact_query(fact, rng))
            keys.append(fact)
            rel.append(mask)
    relevant = np.stack(rel) if rel else np.zeros((0, len(facts)), bool)
    return TextQueries(texts, relevant, keys, np.zeros(len(texts), bool))


def kinematic_precision(model: DanceSearchModel, split: EncodedSplit, queries: TextQueries, k: int = 10) -> float:
    """Mean precision@k of the kinematic queries (share of the top k windows where the fact holds)."""
    if not queries.texts:
        return float("nan")
    scores = model.embed_texts(queries.texts) @ model.embed_features(split.features).T
    return precision_at_k(scores, queries.relevant, k)


def grouped_precision(vectors: np.ndarray, split: EncodedSplit, k: int = 5) -> dict[str, float]:
    """P@k by example: same content + style (Bandai windows) and same genre (genre-labelled windows)."""
    return grouped_precision_of_scores(vectors @ vectors.T, split, k)


def grouped_precision_of_scores(sims: np.ndarray, split: EncodedSplit, k: int = 5) -> dict[str, float]:
    """:func:`grouped_precision` from window similarities (windows x windows), e.g. re-scored in context."""
    src = np.array(split.windows.sources, dtype=object)
    cids = split.windows.clip_ids
    other = cids[:, None] != cids[None, :]
    scores = np.where(other, sims, -np.inf)
    out: dict[str, float] = {}
    bandai = np.flatnonzero(np.char.startswith(src.astype(str), "bandai"))
    keys = split.keys
    if len(bandai):
        relevant = (keys[bandai][:, None] == keys[None, :]) & other[bandai]
        out["P@5 content+style"] = precision_at_k(scores[bandai], relevant, k)
    bandai2 = np.flatnonzero(src == "bandai-2")
    if len(bandai2):  # the issue's figure: Bandai-2 queries (bandai-1's test combinations are held out of training)
        relevant = (keys[bandai2][:, None] == keys[None, :]) & other[bandai2]
        out["P@5 content+style bandai-2"] = precision_at_k(scores[bandai2], relevant, k)
    genres = np.array([str(lab.get("genre", "")) for lab in split.windows.labels], dtype=object)
    with_genre = np.flatnonzero(genres != "")
    if len(with_genre):
        relevant = (genres[with_genre][:, None] == genres[None, :]) & other[with_genre]
        out["P@5 genre"] = precision_at_k(scores[with_genre], relevant, k)
    return out


def search_modes(model: DanceSearchModel, split: EncodedSplit) -> dict[str, dict[str, Any]]:
    """Search by example as the engine scores windows, per match mode (:mod:`search.by_example`): the
    learned similarities, with the model's pose weight blended in for ``same``, re-scored in temporal
    context (the model's ``by_example_context``) with each query window's neighbours in its own clip. The
    whole split is the gallery, every window a query: Perfume cross-dancer R@1/R@5 and grouped P@5."""
    from motion.windows import DEFAULT_STRIDE
    from search.by_example import MATCHES, by_example_settings, in_context
    from training.eval_tasks import perfume_cross_dancer

    learned = model.with_space(str(model.settings.get("space", "shared_space"))).embed_features(split.features)
    sims = learned @ learned.T
    poses = model.pose_vectors_of_features(split.features)
    keys = split.windows.clip_ids.astype(np.int64) * (1 << 32) + split.windows.starts.astype(np.int64)
    other = split.windows.clip_ids[:, None] != split.windows.clip_ids[None, :]
    out: dict[str, dict[str, Any]] = {}
    for match in MATCHES:
        weight, context = by_example_settings(model.settings, match)
        mixed = sims if weight == 0 else (1.0 - weight) * sims + weight * (poses @ poses.T)
        scored = in_context(mixed, keys, keys, context, DEFAULT_STRIDE)
        out[match] = {"pose_weight": weight, "context": context,
                      **grouped_precision_of_scores(scored, split),
                      **perfume_cross_dancer(np.where(other, scored, -np.inf), split)}
    return out


def _retargeted(split: EncodedSplit, seed: int) -> list[tuple[int, Motion, str]]:
    """(clip id, canonical motion read back from another rig, convention) for a sample of the split's clips."""
    rng = np.random.default_rng(seed)
    clip_ids = split.windows.clips_in_order()
    chosen = [clip_ids[i] for i in sorted(rng.choice(len(clip_ids), min(CROSS_RIG_CLIPS, len(clip_ids)),
                                                     replace=False))]
    names = sorted(CONVENTIONS)
    out = []
    for n, cid in enumerate(chosen):
        positions = split.windows.clip_positions[cid][: int(CROSS_RIG_SECONDS * CANONICAL_FPS)]
        original = Motion(positions, CANONICAL_FPS, list(JOINTS), list(PARENTS))
        conv = CONVENTIONS[names[n % len(names)]]
        text = convention_bvh(conv, original, root_mode=str(rng.choice(["absolute", "offset+absolute", "delta"])),
                              pose=str(rng.choice(["T", "A"])), body_scale=float(rng.uniform(0.8, 1.2)))
        out.append((cid, to_canonical(read_bvh_text(text)), conv.name))
    return out


def cross_rig(split: EncodedSplit, embedders: dict[str, Callable[[np.ndarray, list[int]], np.ndarray]],
              galleries: dict[str, np.ndarray], seed: int) -> dict[str, dict[str, float]]:
    """R@1/R@5 of finding the original window from its retargeted copy, for each named embedding."""
    copies = _retargeted(split, seed)
    starts_all, cids_all = split.windows.starts, split.windows.clip_ids
    results: dict[str, dict[str, float]] = {}
    for name, embed in embedders.items():
        gallery = galleries[name]
        ranks = []
        for cid, motion, _ in copies:
            idx = np.flatnonzero(cids_all == cid)
            starts = [int(s) for s in starts_all[idx] if s + split.windows.size <= motion.n_frames]
            if not starts:
                continue
            q = embed(motion.positions, starts)
            scores = q @ gallery.T
            relevant = (cids_all[None, :] == cid) & (np.abs(starts_all[None, :] - np.array(starts)[:, None])
                                                     <= CROSS_RIG_TOLERANCE)
            ranks.append(first_relevant_ranks(scores, relevant))
        all_ranks = np.concatenate(ranks) if ranks else np.zeros(0)
        results[name] = {**recall_at_k(all_ranks, (1, 5)), "queries": int(len(all_ranks)), "clips": len(copies)}
    return results


def auroc(positive: np.ndarray, negative: np.ndarray) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    pos, neg = np.asarray(positive)[:, None], np.asarray(negative)[None, :]
    return float(((pos > neg).sum() + 0.5 * (pos == neg).sum()) / max(pos.size * neg.size, 1))


def off_domain(model: DanceSearchModel, split: EncodedSplit, in_domain: list[str]) -> dict[str, float]:
    """AUROC of the best library score separating in-domain from off-domain queries, and the rates at
    the model's calibrated fallback threshold."""
    motion = model.embed_features(split.features)
    off = list(OFF_DOMAIN_EVAL)
    best_in = (model.embed_texts(in_domain) @ motion.T).max(1)
    best_out = (model.embed_texts(off) @ motion.T).max(1)
    motion_auroc = auroc(best_in, best_out)
    best_in = np.array([model.match_score(t, float(b)) for t, b in zip(in_domain, best_in, strict=True)])
    best_out = np.array([model.match_score(t, float(b)) for t, b in zip(off, best_out, strict=True)])
    thr = float(model.settings.get("fallback_threshold", 0.0) or 0.0)  # type: ignore[arg-type]
    return {"AUROC": auroc(best_in, best_out), "AUROC motion score only": motion_auroc, "threshold": thr,
            "in_domain_served": float((best_in >= thr).mean()), "off_domain_generated": float((best_out < thr).mean()),
            "in_domain_median": float(np.median(best_in)), "off_domain_median": float(np.median(best_out)),
            "in_queries": len(in_domain), "off_queries": len(OFF_DOMAIN_EVAL)}


def model_rows(model: DanceSearchModel, split: EncodedSplit, kin_q: TextQueries, in_domain: list[str]) -> dict[str, Any]:
    """Every v2 measure of one model (its default space) on the split, except cross-rig."""
    m = model.with_space(str(model.settings.get("space", "shared_space")))
    vectors = m.embed_features(split.features)
    return {"kinematic": {**text_to_motion(m, split, kin_q, False), "P@10": kinematic_precision(m, split, kin_q)},
            "grouped": grouped_precision(vectors, split),
            "off_domain": off_domain(m, split, in_domain)}


def model_embedder(model: DanceSearchModel) -> Callable[[np.ndarray, list[int]], np.ndarray]:
    m = model.with_space(str(model.settings.get("space", "shared_space")))
    return lambda positions, starts: m.embed_windows(positions, starts)


def raw_embedder(model: DanceSearchModel) -> Callable[[np.ndarray, list[int]], np.ndarray]:
    """Raw pose features (the model's normalised window features), flattened and L2-normalised."""
    def embed(positions: np.ndarray, starts: list[int]) -> np.ndarray:
        flat = model.window_features(positions, starts).reshape(len(starts), -1).numpy()
        return flat / np.maximum(np.linalg.norm(flat, axis=1, keepdims=True), 1e-8)
    return embed
