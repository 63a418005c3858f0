"""Generation measured: retrieval of its text (R@3 among 32), physics against real motion of the same
captions, and diversity across seeds.

Texts are the held-out phrasings of the split's label keys (as ``dancesearch eval``'s generation
section). For each text: the shipped path (:meth:`DanceSearchModel.generate`, raw) and this package's
(:func:`explore.generation.generate`: latent noise, bone projection, planted feet) make 4 s motions.
R@3: the first window's shared-space vector ranked against its own text and 31 others (seeded); the same
for captured windows of each text's label key (the measure's ceiling on real motion).
Physics (:func:`explore.body.physical_stats`) of generated motions vs. the real windows of the same
label keys; jerk also as the median over texts of generated / real jerk of that text's clips.
Diversity: 3 seeds per text, the mean pairwise joint distance (m, after putting each on the floor) and
the mean pairwise shared-space cosine distance. ``generation_noise`` is chosen on ``val``: the largest
value whose R@3 is within 0.03 of no noise. A model with a latent prior then has the prior's guidance
chosen on ``val`` (best R@3, the smaller guidance on a tie), and the prior replaces the projector's
latent only when its R@3 is higher than the projector's. Last the decoder: the VAE's replaces the
generator when its R@3 is within ``DECODER_TOLERANCE`` of the generator's and its feet skate less; and
the samples per chained window: of ``CANDIDATES``, the one whose feet skate least among those with R@3
within that tolerance of one sample's; and gait synthesis for gliding locomotion (:mod:`explore.gait`),
taken when its feet skate less, its R@3 is within that tolerance and its jerk ratio within
``JERK_RATIO_BOUNDS``.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import combinations

import numpy as np

from embedders.runtime import DanceSearchModel
from explore.body import physical_stats
from explore.evaluation.data import EncodedWindows
from explore.generation import generate
from explore.latent import mean_vector, motion_vectors
from explore.settings import CapabilitySettings
from training.eval_generation import GALLERY, recall_at_3_among
from training.eval_generation import _queries as heldout_queries
from training.eval_tasks import EncodedSplit

NOISES = (0.0, 0.25, 0.5, 1.0)
GUIDANCES = (1.0, 2.0, 3.0, 4.0, 6.0)
DECODERS = ("generator", "vae")
DECODER_TOLERANCE = 0.03
"""The VAE's decoder replaces the generator when its val R@3 is at most this much lower and its feet skate less;
the same tolerance bounds the candidates per chained window (:data:`CANDIDATES`)."""
CANDIDATES = (1, 4, 8)
JERK_RATIO_BOUNDS = (0.5, 2.0)
"""Generated / real jerk must stay within the issue's factor 2 for gait synthesis to be taken."""
SEEDS = 3
REAL_DRAWS = 5
"""Captured windows of each text's label key ranked the same way (one random window per text, this many
draws): how far the retrieval model that scores R@3 can go on real motion."""
SECONDS = 4.0


def _split(data: EncodedWindows) -> EncodedSplit:
    keys = np.array([k or "" for k in data.windows.keys], dtype=object)
    return EncodedSplit(data.windows, data.features, np.zeros(len(keys), np.int64), keys)


def _r_at_3(model: DanceSearchModel, texts: list[str], motions: list[np.ndarray], seed: int) -> float:
    motion_emb = np.stack([model.embed_windows(m, [0])[0] for m in motions])
    return recall_at_3_among(model.embed_texts(texts), motion_emb, np.random.default_rng(seed))


def _mean_stats(motions: list[np.ndarray]) -> dict[str, float]:
    rows = [physical_stats(m) for m in motions]
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}


def _diversity(model: DanceSearchModel, samples: list[np.ndarray]) -> tuple[float, float]:
    joints, space = [], []
    vecs = [mean_vector(motion_vectors(model, m)) for m in samples]
    for i, j in combinations(range(len(samples)), 2):
        n = min(len(samples[i]), len(samples[j]))
        joints.append(float(np.linalg.norm(samples[i][:n] - samples[j][:n], axis=-1).mean()))
        space.append(float(1.0 - vecs[i] @ vecs[j]))
    return float(np.mean(joints)), float(np.mean(space))


def run(model: DanceSearchModel, data: EncodedWindows, s: CapabilitySettings, n: int = 64, seed: int = 1234,
        full: bool = True) -> dict[str, object]:
    split = _split(data)
    pairs = heldout_queries(split, n, seed)
    if len(pairs) < GALLERY:
        return {"skipped": f"only {len(pairs)} texts; need {GALLERY}"}
    texts = [q for q, _ in pairs]
    ours = [generate(model, t, SECONDS, 0, s) for t in texts]
    out: dict[str, object] = {"texts": len(texts), "noise": s.generation_noise, "latent": s.generation_latent,
                              "guidance": s.generation_guidance, "decoder": s.generation_decoder,
                              "candidates": s.generation_candidates, "gait": s.generation_gait,
                              "R@3": _r_at_3(model, texts, ours, seed), "random_R@3": 3 / GALLERY}
    out["generated"] = _mean_stats(ours)
    real_by_key: dict[str, list[int]] = {}
    for i, k in enumerate(data.windows.keys):
        if k:
            real_by_key.setdefault(k, []).append(i)
    ratios = []
    for (_, key), motion in zip(pairs, ours, strict=True):
        idx = np.array(real_by_key[key][:20])
        real_jerk = np.mean([physical_stats(w)["jerk"] for w in data.windows.positions(idx)])
        ratios.append(physical_stats(motion)["jerk"] / max(float(real_jerk), 1e-6))
    out["jerk_ratio_median"] = float(np.median(ratios))
    if not full:
        return out
    raw = [DanceSearchModel.generate(model, t, SECONDS) for t in texts]
    out["R@3_shipped_path"] = _r_at_3(model, texts, raw, seed)
    out["shipped_path"] = _mean_stats(raw)
    real_idx = np.array(sorted({i for _, k in pairs for i in real_by_key[k][:20]}))
    out["real"] = _mean_stats([w for w in data.windows.positions(real_idx)])
    text_emb = model.embed_texts(texts)
    draws = [recall_at_3_among(text_emb, data.vectors[[int(np.random.default_rng(seed + d).choice(real_by_key[k]))
                                                       for _, k in pairs]], np.random.default_rng(seed))
             for d in range(REAL_DRAWS)]
    out["R@3_real"] = float(np.mean(draws))  # the measure's ceiling: captured windows of the same texts
    div = [_diversity(model, [generate(model, t, SECONDS, sd, s) for sd in range(SEEDS)]) for t in texts[:16]]
    out["diversity_joint_m"] = float(np.mean([d[0] for d in div]))
    out["diversity_space"] = float(np.mean([d[1] for d in div]))
    return out


def _r3_skate(result: dict[str, object]) -> tuple[float, float]:
    """(R@3, mean foot skate of the generated motions) of a :func:`run` result."""
    generated = result["generated"]
    assert isinstance(generated, dict)
    return float(result["R@3"]), float(generated["foot_skate"])  # type: ignore[arg-type]


def _jerk_ratio(result: dict[str, object]) -> float:
    return float(result["jerk_ratio_median"])  # type: ignore[arg-type]


def calibrate(model: DanceSearchModel, val: EncodedWindows, base: CapabilitySettings
              ) -> tuple[CapabilitySettings, dict[str, object]]:
    """Bone lengths (the motion's own or the reference skeleton's) by val R@3, then the latent noise, the
    latent prior's guidance, the decoder, the samples per chained window and gait synthesis (module docstring)."""
    bones = {b: float(run(model, val, replace(base, generation_bones=b), full=False)["R@3"])  # type: ignore[arg-type]
             for b in ("own", "reference")}
    base = replace(base, generation_bones="own" if bones["own"] >= bones["reference"] else "reference")
    table = {noise: run(model, val, replace(base, generation_noise=noise), full=False) for noise in NOISES}
    r0 = float(table[0.0]["R@3"])  # type: ignore[arg-type]
    ok = [noise for noise in NOISES if float(table[noise]["R@3"]) >= r0 - 0.03]  # type: ignore[arg-type]
    base = replace(base, generation_noise=max(ok), generation_latent="projector")
    notes: dict[str, object] = {"R@3 by bones": bones, "R@3 by noise": {str(k): v["R@3"] for k, v in table.items()}}
    if model.latent_prior is None:
        return base, notes
    prior = {g: float(run(model, val, replace(base, generation_latent="prior", generation_guidance=g),  # type: ignore[arg-type]
                          full=False)["R@3"]) for g in GUIDANCES}
    notes["R@3 by prior guidance"] = {str(k): v for k, v in prior.items()}
    best = max(GUIDANCES, key=lambda g: (prior[g], -g))
    if prior[best] > float(table[base.generation_noise]["R@3"]):  # type: ignore[arg-type]
        base = replace(base, generation_latent="prior", generation_guidance=best)
    by_decoder = {d: _r3_skate(run(model, val, replace(base, generation_decoder=d), full=False)) for d in DECODERS}
    notes["by decoder"] = {d: {"R@3": r3, "foot_skate": skate} for d, (r3, skate) in by_decoder.items()}
    (gen_r3, gen_skate), (vae_r3, vae_skate) = by_decoder["generator"], by_decoder["vae"]
    use_vae = vae_r3 >= gen_r3 - DECODER_TOLERANCE and vae_skate < gen_skate
    base = replace(base, generation_decoder="vae" if use_vae else "generator")
    by_k = {k: _r3_skate(run(model, val, replace(base, generation_candidates=k), full=False)) for k in CANDIDATES}
    notes["by candidates"] = {str(k): {"R@3": r3, "foot_skate": skate} for k, (r3, skate) in by_k.items()}
    fits = [k for k in CANDIDATES if by_k[k][0] >= by_k[1][0] - DECODER_TOLERANCE]
    base = replace(base, generation_candidates=min(fits, key=lambda k: (by_k[k][1], k)))
    by_gait = {g: run(model, val, replace(base, generation_gait=g), full=False) for g in (False, True)}
    gait_rows = {g: (*_r3_skate(r), _jerk_ratio(r)) for g, r in by_gait.items()}
    notes["by gait"] = {str(g): {"R@3": r3, "foot_skate": skate, "jerk_ratio": jr} for g, (r3, skate, jr) in gait_rows.items()}
    (r3, skate, _), (gait_r3, gait_skate, gait_jerk) = gait_rows[False], gait_rows[True]
    lo, hi = JERK_RATIO_BOUNDS
    use_gait = gait_skate < skate and gait_r3 >= r3 - DECODER_TOLERANCE and lo <= gait_jerk <= hi
    return replace(base, generation_gait=use_gait), notes


def reference_lengths(train: EncodedWindows, n: int = 2000, seed: int = 0) -> list[float]:
    """The median bone lengths (J,) of ``n`` random train windows at the model's body scale."""
    from explore.body import bone_lengths

    rng = np.random.default_rng(seed)
    idx = rng.choice(len(train.windows), min(n, len(train.windows)), replace=False)
    pos = train.windows.positions(idx)
    return [round(float(x), 5) for x in np.median(np.stack([bone_lengths(p) for p in pos]), axis=0)]
