"""Search defaults chosen on the validation split (never `test`) and written into the model config.

- which joint space serves by default (InfoNCE or the paper's triplet space): the one with the
  better mean of text -> motion R@5 (held-out phrasings and user queries), motion -> text top-5 and
  motion -> motion P@10 on validation windows;
- whether cluster-consistency filtering is on by default, per direction: only where it helps;
- the generation fallback threshold: the best text -> motion score below which a query is treated
  as having no match, chosen to separate validation queries that have matches from queries about
  movements the corpus does not contain, while keeping at least 95 % of matched queries served
  from the library.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np

from db.config import LibraryLocation
from db.library import Library
from embedders.runtime import DanceSearchModel
from training.data import load_split
from training.eval_tasks import (
    EncodedSplit,
    caption_queries,
    motion_to_motion,
    motion_to_text,
    text_to_motion,
    user_queries,
)
from training.model_dir import CHOSEN_FOR_WEIGHTS
from training.pipeline import TrainOptions
from training.text.relevance import load_user_queries

log = logging.getLogger(__name__)

# Movements absent from the corpus: their best library score should fall below the threshold.
OFF_DOMAIN_QUERIES = (
    "swimming the butterfly stroke", "riding a bicycle down a hill", "a horse galloping across a field",
    "playing the piano with both hands", "typing on a keyboard at a desk", "climbing a rope ladder",
    "doing push-ups on the floor", "skiing down a slope", "rowing a boat", "a dog chasing its tail",
    "juggling three balls", "lifting a heavy barbell overhead", "crawling on hands and knees like a baby",
    "driving a car and turning the wheel", "painting a wall with a roller", "skateboarding and doing a kickflip",
    "a person lying asleep in bed", "hammering a nail into wood", "playing the violin", "sweeping the floor with a broom",
)


def _quality(model: DanceSearchModel, split: EncodedSplit, cap_q, user_q, filt: dict[str, bool]) -> dict[str, float]:
    vectors = model.embed_features(split.features)
    return {
        "text": text_to_motion(model, split, cap_q, filt["text"]).get("R@5", 0.0),
        "user": text_to_motion(model, split, user_q, filt["text"]).get("R@5", 0.0) if user_q.texts else 0.0,
        "describe": motion_to_text(model, split, filt["describe"]).get("top5", 0.0),
        "motion": motion_to_motion(vectors, split, split.clusters if filt["motion"] else None)["P@10"],
    }


# The fallback answers "the library has nothing like this", so the library's best motion score always keeps
# a quarter of the say at least (familiarity alone would ignore what the library holds).
FAMILIARITY_WEIGHTS = (0.0, 0.25, 0.5, 0.75)


def fallback_threshold(model: DanceSearchModel, split: EncodedSplit, matched: list[str]) -> dict[str, Any]:
    """Weight and threshold of the match score (best text -> motion score blended with the text's
    familiarity, :meth:`DanceSearchModel.match_score`) separating matched from off-domain queries: the
    weight with the best AUROC on val, then the threshold with the best balanced accuracy that still
    serves at least 95 % of matched queries from the library."""
    from training.eval_v2 import auroc

    motion = model.embed_features(split.features)
    off = list(OFF_DOMAIN_QUERIES)
    best_m_in = (model.embed_texts(matched) @ motion.T).max(1)
    best_m_out = (model.embed_texts(off) @ motion.T).max(1)
    fam_in, fam_out = model.familiarity(matched), model.familiarity(off)
    aurocs = {w: auroc((1 - w) * best_m_in + w * fam_in, (1 - w) * best_m_out + w * fam_out)
              for w in FAMILIARITY_WEIGHTS}
    weight = max(aurocs, key=lambda w: (aurocs[w], -w))
    best_in = (1 - weight) * best_m_in + weight * fam_in
    best_out = (1 - weight) * best_m_out + weight * fam_out
    candidates = np.unique(np.concatenate([best_in, best_out]))
    bal = [((best_in >= t).mean() + (best_out < t).mean()) / 2 for t in candidates]
    thr = float(candidates[int(np.argmax(bal))])
    cap = float(np.quantile(best_in, 0.05))
    thr = min(thr, cap)
    return {"threshold": thr, "familiarity_weight": weight, "auroc_by_weight": {str(w): a for w, a in aurocs.items()},
            "matched_served": float((best_in >= thr).mean()),
            "off_domain_generated": float((best_out < thr).mean()),
            "matched_median": float(np.median(best_in)), "off_domain_median": float(np.median(best_out))}


def calibrate_model(opts: TrainOptions) -> dict[str, Any]:
    """Choose the defaults on validation windows and store them under ``search`` in config.json."""
    from training.text.kinematics import vocabulary

    (opts.out / "vocabulary.json").write_text(json.dumps(vocabulary(), indent=0) + "\n")
    model = DanceSearchModel(opts.out)
    with Library.open(LibraryLocation.resolve(opts.work / "library")) as lib:
        windows = load_split(lib, "val", model.window_size, opts.sources)
    split = EncodedSplit.build(model, windows)
    cap_q = caption_queries(split, 2, opts.seed + 99, set())
    user_q = user_queries(split, load_user_queries())
    off = {"text": False, "describe": False, "motion": False}
    scores: dict[str, dict[str, Any]] = {}
    for space in ("shared_space", "triplet"):
        q = _quality(model.with_space(space), split, cap_q, user_q, off)
        scores[space] = {"metrics": q, "mean": float(np.mean(list(q.values())))}
    space = max(scores, key=lambda s: scores[s]["mean"])
    m = model.with_space(space)
    base = scores[space]["metrics"]
    with_filter = _quality(m, split, cap_q, user_q, {"text": True, "describe": True, "motion": True})
    filters = {"text": with_filter["text"] + with_filter["user"] > base["text"] + base["user"],
               "describe": with_filter["describe"] > base["describe"],
               "motion": with_filter["motion"] > base["motion"]}
    fb = fallback_threshold(m, split, cap_q.texts)
    settings = {"space": space, "fallback_threshold": round(fb["threshold"], 4),
                "fallback_familiarity_weight": fb["familiarity_weight"],
                "cluster_filter_text": filters["text"], "cluster_filter_describe": filters["describe"],
                "cluster_filter_motion": filters["motion"],
                "calibration": {"split": "val", "spaces": scores, "with_cluster_filter": with_filter,
                                "fallback": fb}}
    cfg_path = opts.out / "config.json"
    cfg = json.loads(cfg_path.read_text())
    kept = {k: v for k, v in cfg.get("search", {}).items() if k in CHOSEN_FOR_WEIGHTS}
    cfg["search"] = {**settings, **kept}
    cfg_path.write_text(json.dumps(cfg, indent=1) + "\n")
    return {k: v for k, v in settings.items() if k != "calibration"}
