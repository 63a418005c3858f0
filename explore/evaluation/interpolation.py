"""Interpolation measured: do the motions along a path move steadily from A to B, and stay physical?

Pairs on a split (seeded): motion -> motion (4 s of two clips with different labels), text -> text
(label phrasings) and text -> motion. Each path is decoded at 7 evenly spaced points
(:mod:`explore.interpolate`). For every decoded motion m_t the shared-space progress is
cos(m_t, B) - cos(m_t, A) (A, B: the ends' shared-space vectors: texts' embeddings, motions' mean window
vectors). Reported: Spearman's rank correlation of progress with t (1 = strictly monotone), the fraction
of steps where progress grows, and the physical measures of the intermediate motions (t strictly between
0 and 1) against real motion: bone-length drift, foot skating, floor, jerk (:func:`explore.body.physical_stats`),
without and with the body clean-up; paths with a motion end also without the ends' detail (``detail=False``),
and every path without the steps synthesised for gliding locomotion when the settings use them.
Physical references: the motion ends of the paths themselves, and 40 clips of the split (4 s each).
"""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np

from embedders.runtime import DanceSearchModel
from explore.body import physical_stats
from explore.classify import label_text
from explore.evaluation.data import EncodedWindows
from explore.interpolate import Endpoint, interpolate
from explore.latent import mean_vector, motion_vectors
from explore.settings import CapabilitySettings

STEPS = 7
SEGMENT = 100  # frames (4 s) of each motion end
PAIRS = {"motion-motion": 10, "text-text": 8, "text-motion": 8}


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    rx, ry = np.argsort(np.argsort(x)), np.argsort(np.argsort(y))
    if rx.std() == 0 or ry.std() == 0:
        return 0.0
    return float(np.corrcoef(rx, ry)[0, 1])


def _end_vector(model: DanceSearchModel, end: Endpoint) -> np.ndarray:
    if end.text is not None:
        return model.embed_texts([end.text])[0]
    assert end.positions is not None
    return mean_vector(motion_vectors(model, end.positions))


def _clips(data: EncodedWindows) -> list[tuple[np.ndarray, str]]:
    """(first 4 s, label text) of every labelled clip of the split."""
    out, seen = [], set()
    for i, c in enumerate(data.clip_ids.tolist()):
        if c in seen:
            continue
        seen.add(c)
        lab = data.windows.labels[i]
        name = lab.get("genre") or lab.get("content") or lab.get("description")
        if name:
            out.append((data.windows.clip_positions[c][:SEGMENT], str(name)))
    return out


def pairs(data: EncodedWindows, seed: int) -> list[tuple[str, Endpoint, Endpoint]]:
    rng = random.Random(seed)
    clips = _clips(data)
    names = sorted({n for _, n in clips if len(n) < 40})
    out: list[tuple[str, Endpoint, Endpoint]] = []
    while sum(k == "motion-motion" for k, _, _ in out) < PAIRS["motion-motion"]:
        (pa, na), (pb, nb) = rng.sample(clips, 2)
        if na != nb:
            out.append(("motion-motion", Endpoint(na, positions=pa), Endpoint(nb, positions=pb)))
    for _ in range(PAIRS["text-text"]):
        ta, tb = rng.sample(names, 2)
        out.append(("text-text", Endpoint(ta, text=label_text(ta)), Endpoint(tb, text=label_text(tb))))
    for _ in range(PAIRS["text-motion"]):
        ta = rng.choice(names)
        pb, nb = rng.choice([c for c in clips if c[1] != ta])
        out.append(("text-motion", Endpoint(ta, text=label_text(ta)), Endpoint(nb, positions=pb)))
    return out


def evaluate(model: DanceSearchModel, data: EncodedWindows, settings: CapabilitySettings | None = None,
             seed: int = 7) -> dict[str, object]:
    """Per kind of path: monotonicity and physical measures; plus real motion's physical measures. With
    the settings' ``generation_gait`` the paths are measured with and without the synthesised steps."""
    s = settings or CapabilitySettings()
    result: dict[str, object] = {"steps": STEPS}
    stats: dict[str, dict[str, list[float]]] = {}
    ends: list[dict[str, float]] = []
    for kind, a, b in pairs(data, seed):
        ends.extend(physical_stats(e.positions) for e in (a, b) if e.positions is not None)
        va, vb = _end_vector(model, a), _end_vector(model, b)
        variants = [("", True, True, s.generation_gait), (" (raw decode)", False, True, False)]
        if kind != "text-text":  # the detail of a motion end: the path with and without it
            variants.append((" (without the ends' detail)", True, False, s.generation_gait))
        if s.generation_gait:
            variants.append((" (without synthesised steps)", True, True, False))
        for suffix, clean, detail, gait in variants:
            path = interpolate(model, a, b, STEPS, replace(s, generation_gait=gait), clean=clean, detail=detail)
            key = f"{kind}{suffix}"
            row = stats.setdefault(key, {})
            if clean:
                progress = np.array([float(mean_vector(motion_vectors(model, m)) @ (vb - va)) for m in path.motions])
                row.setdefault("spearman", []).append(_spearman(np.array(path.ts), progress))
                row.setdefault("monotone_steps", []).append(float((np.diff(progress) > 0).mean()))
                row.setdefault("progress_gain", []).append(float(progress[-1] - progress[0]))
            for m in path.motions[1:-1]:
                for name, value in physical_stats(m).items():
                    row.setdefault(name, []).append(value)
    result["paths"] = {k: {n: float(np.mean(v)) for n, v in row.items()} for k, row in stats.items()}
    real = [physical_stats(p[:SEGMENT]) for p, _ in _clips(data)[:40]]
    result["real"] = {n: float(np.mean([r[n] for r in real])) for n in real[0]}
    result["ends"] = {n: float(np.mean([r[n] for r in ends])) for n in ends[0]} if ends else None
    result["pairs"] = dict(PAIRS)
    return result
