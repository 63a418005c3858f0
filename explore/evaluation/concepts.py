"""Learned concepts measured: do a few examples teach a word that finds the other clips of the concept?

A concept is one label value of one corpus source (a Bandai style, a ballroom genre). On a split, 4
clips of the concept are drawn as examples (3 draws per concept, seeded); every other clip of the split
is ranked, each by its best window, and the clips of the concept are the relevant ones. Three queries:
the learned concept's text embedding (:mod:`explore.concepts`), the mean of the examples' window vectors
(baseline: search by example), and the label written as text (what a user could type without
examples). R@k: relevant clips in the top k over min(k, relevant clips). Settings (steps, temperature)
are chosen on ``val`` by mean R@10 and reported on ``test``. The model saw these labels in training
captions (no concept is new to it); the learned word is measured against what it adds over them.
One concept is new to it: the Perfume routine, a source only in ``test`` (:func:`unseen`, 4 s segments).
"""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np

from embedders.runtime import DanceSearchModel
from explore.classify import label_text
from explore.concepts import initial_vector, learn_vector
from explore.evaluation.data import EncodedWindows
from explore.latent import mean_vector
from explore.settings import CapabilitySettings

CONCEPTS = (("ballroom", "genre"), ("bandai-1", "style"), ("bandai-2", "style"))
N_EXAMPLES, DRAWS = 4, 3
GRID = ({"concept_steps": 0}, {"concept_steps": 100, "concept_tau": 0.07},
        {"concept_steps": 300, "concept_tau": 0.07}, {"concept_steps": 100, "concept_tau": 0.2})


def negative_bank(train: EncodedWindows, n: int = 1024, seed: int = 0) -> np.ndarray:
    """``n`` train window vectors drawn at random: what a concept must rank its examples above."""
    rng = np.random.default_rng(seed)
    return train.vectors[rng.choice(len(train.vectors), min(n, len(train.vectors)), replace=False)]


def _clip_scores(query: np.ndarray, data: EncodedWindows, clips: np.ndarray,
                 groups: np.ndarray | None = None) -> np.ndarray:
    """Each item's best window score; items are clips, or the given per-window ``groups``."""
    sims = data.vectors @ query
    ids = data.clip_ids if groups is None else groups
    return np.array([sims[ids == c].max() for c in clips])


def _queries(model: DanceSearchModel, ex_vecs: np.ndarray, negatives: np.ndarray, settings: CapabilitySettings,
             label: str, with_baselines: bool) -> dict[str, np.ndarray]:
    learned = learn_vector(model, ex_vecs, negatives, settings, initial_vector(model, ex_vecs)[0])
    queries = {"learned": model.space.embed_text(learned.unsqueeze(0)).detach().numpy()[0]}
    if with_baselines:
        queries["examples_mean"] = mean_vector(ex_vecs)
        queries["label_text"] = model.embed_texts([label_text(label)])[0]
    return queries


SEGMENT = 100  # frames: the unseen concept's items are 4 s pieces of clips
UNSEEN = ("perfume", "genre")


def unseen(model: DanceSearchModel, data: EncodedWindows, negatives: np.ndarray,
           settings: CapabilitySettings) -> dict[str, object] | None:
    """A concept the model never saw: the Perfume routine (a test-only source). Items are 4 s segments
    of every clip of the split; 4 Perfume segments are the examples (3 draws), the other Perfume
    segments are relevant. None when the split has no Perfume clips."""
    source, key = UNSEEN
    groups = data.clip_ids * 10_000 + data.windows.starts // SEGMENT
    is_source = np.array([s == source for s in data.windows.sources])
    if not is_source.any():
        return None
    members = sorted(set(groups[is_source].tolist()))
    label = str(data.windows.labels[int(np.flatnonzero(is_source)[0])].get(key, source))
    rows: dict[str, list[float]] = {}
    for draw in range(DRAWS):
        examples = random.Random(f"unseen:{draw}").sample(members, N_EXAMPLES)
        gallery = np.array([g for g in np.unique(groups) if g not in examples])
        relevant = np.isin(gallery, members)
        for name, q in _queries(model, data.vectors[np.isin(groups, examples)], negatives, settings, label,
                                True).items():
            scores = _clip_scores(q, data, gallery, groups)
            for k in (5, 10):
                rows.setdefault(f"{name}_R@{k}", []).append(_recall(scores, relevant, k))
    out: dict[str, object] = {k: float(np.mean(v)) for k, v in rows.items()}
    out.update({"concept": f"{source} ({label})", "segments": len(np.unique(groups)), "relevant": len(members) - N_EXAMPLES,
                "draws": DRAWS})
    return out


def _recall(scores: np.ndarray, relevant: np.ndarray, k: int) -> float:
    top = np.argsort(-scores)[:k]
    return float(relevant[top].sum() / max(1, min(k, int(relevant.sum()))))


def run(model: DanceSearchModel, data: EncodedWindows, negatives: np.ndarray,
        settings: CapabilitySettings, with_baselines: bool = True) -> dict[str, object]:
    """Mean R@5/R@10 over concepts and draws for the learned word (and the baselines)."""
    clip_ids = np.array(data.windows.clips_in_order())
    first = {int(c): int(np.flatnonzero(data.clip_ids == c)[0]) for c in clip_ids}
    rows: dict[str, list[float]] = {}
    per_concept = []
    for source, key in CONCEPTS:
        values = sorted({str(data.windows.labels[i][key]) for i in first.values()
                         if data.windows.sources[i] == source and data.windows.labels[i].get(key)})
        for value in values:
            members = [c for c, i in first.items()
                       if data.windows.sources[i] == source and str(data.windows.labels[i].get(key)) == value]
            if len(members) < N_EXAMPLES + 2:
                continue
            for draw in range(DRAWS):
                examples = random.Random(f"{source}:{value}:{draw}").sample(members, N_EXAMPLES)
                gallery = np.array([c for c in clip_ids if c not in examples])
                relevant = np.isin(gallery, members)
                ex_vecs = data.vectors[np.isin(data.clip_ids, examples)]
                for name, q in _queries(model, ex_vecs, negatives, settings, value, with_baselines).items():
                    scores = _clip_scores(q, data, gallery)
                    for k in (5, 10):
                        rows.setdefault(f"{name}_R@{k}", []).append(_recall(scores, relevant, k))
                per_concept.append(f"{source}:{value}")
    out: dict[str, object] = {k: float(np.mean(v)) for k, v in rows.items()}
    out["concepts"] = len(set(per_concept))
    out["draws"] = len(per_concept)
    if with_baselines and (extra := unseen(model, data, negatives, settings)) is not None:
        out["unseen"] = extra
    return out


def calibrate(model: DanceSearchModel, val: EncodedWindows, negatives: np.ndarray,
              base: CapabilitySettings) -> tuple[CapabilitySettings, dict[str, object]]:
    """The grid point with the best mean learned R@10 on val; the table."""
    table = {}
    for point in GRID:
        s = replace(base, **point)  # type: ignore[arg-type]
        table[str(point)] = run(model, val, negatives, s, with_baselines=False)
    best = max(GRID, key=lambda p: table[str(p)]["learned_R@10"])  # type: ignore[arg-type,return-value]
    return replace(base, **best), {"grid": table, "chosen": best}  # type: ignore[arg-type]
