"""Style transfer measured on Bandai: is the result recognised as the target style, its content kept?

Recognition is by linear probes on the ``train`` windows' shared-space vectors (one for style, one for
content, per Bandai data set; a clip is recognised by the mean of its windows' probabilities).
``val`` (bandai-2, whose content x style combinations all occur in train): 30 clips, each moved to two
other styles; the method, residual decoding and strength are chosen by the rate at which both style and
content are recognised (and, per method, its best strength; between the two words methods, the better one
for styles the corpus does not label). ``test``: bandai-1's held-out combinations (no content x
style pair of its test clips occurs in train): every test clip (content c, style a) is moved to each style
b such that (c, b) is another held-out test combination, so a real clip of the result's combination
exists that neither training nor the source contains; the result's shared-space similarity to that real
clip is compared with the source's. Also the split's bandai-2 clips, as on val.
Methods (:mod:`explore.stylize`): latent moves (data, adain, text), the latent prior's edit and the pose
statistics' transfer. The unmoved clip (strength 0) is the baseline.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import replace

import numpy as np
from sklearn.linear_model import LogisticRegression

from embedders.runtime import DanceSearchModel
from explore.evaluation.data import EncodedWindows
from explore.latent import mean_vector, motion_vectors
from explore.settings import CapabilitySettings
from explore.stylize import METHODS, pose_statistics, stylize

GRID = tuple({"style_method": m, "style_residual": r, "style_strength": k}
             for m in ("data", "text") for r in (False, True) for k in (1.0, 2.0, 3.0, 5.0)) + tuple(
    {"style_method": "adain", "style_residual": r, "style_strength": k} for r in (False, True)
    for k in (0.5, 1.0, 1.5, 2.0)) + tuple(
    {"style_method": "prior", "style_residual": r, "style_strength": k} for r in (False, True)
    for k in (0.3, 0.5, 0.7, 0.9)) + tuple(
    {"style_method": "pose", "style_residual": False, "style_strength": k} for k in (0.5, 1.0, 1.5, 2.0, 3.0))
VAL_CLIPS, TARGETS = 30, 2


def _r(values: np.ndarray) -> list[float]:
    return [round(float(x), 5) for x in values]


def style_statistics(train: EncodedWindows, s: CapabilitySettings) -> CapabilitySettings:
    """Per Bandai style: mean and spread of the train windows' VAE latents; the mean over all styled
    windows; a logistic-regression classifier of the style on the latent (AdaIN's source style); and for
    the pose method the mean over the style's train clips of their :func:`pose_statistics`, with a
    classifier of the style on those statistics (the source style of a clip)."""
    idx = train.select(("bandai-1", "bandai-2"), "style")
    styles = np.array(train.labels_of(idx, "style"))
    names = sorted(set(styles))
    clf = LogisticRegression(max_iter=3000).fit(train.mu[idx], styles)
    clip_style = {int(c): str(st) for c, st in zip(train.clip_ids[idx], styles, strict=True)}
    clips = sorted(clip_style)
    stats = np.stack([pose_statistics(train.windows.clip_positions[c]).ravel() for c in clips])
    clip_styles = np.array([clip_style[c] for c in clips])
    pose_clf = LogisticRegression(max_iter=5000).fit(stats, clip_styles)
    return replace(s, style_means={n: _r(train.mu[idx[styles == n]].mean(0)) for n in names},
                   style_stds={n: _r(train.mu[idx[styles == n]].std(0)) for n in names},
                   style_global=_r(train.mu[idx].mean(0)),
                   style_classifier={"classes": [str(c) for c in clf.classes_],
                                     "coef": [_r(row) for row in clf.coef_], "intercept": _r(clf.intercept_)},
                   style_pose={n: _r(stats[clip_styles == n].mean(0)) for n in names},
                   style_pose_classifier={"classes": [str(c) for c in pose_clf.classes_],
                                          "coef": [_r(row) for row in pose_clf.coef_],
                                          "intercept": _r(pose_clf.intercept_)})


class Probes:
    """Style and content probes of one Bandai data set."""

    def __init__(self, train: EncodedWindows, source: str) -> None:
        self.models = {}
        for key in ("style", "content"):
            i = train.select(source, key)
            self.models[key] = LogisticRegression(max_iter=2000).fit(train.vectors[i], train.labels_of(i, key))

    def predict(self, vectors: np.ndarray, key: str) -> str:
        clf = self.models[key]
        return str(clf.classes_[clf.predict_proba(vectors).mean(0).argmax()])


def _clips(data: EncodedWindows, source: str) -> dict[int, dict[str, str]]:
    out: dict[int, dict[str, str]] = {}
    for i in data.select(source, "style"):
        c = int(data.clip_ids[i])
        out.setdefault(c, {k: str(v) for k, v in data.windows.labels[int(i)].items()})
    return out


def _recognition(probes: Probes, items: Iterable[tuple[np.ndarray, str, str]]) -> dict[str, float]:
    """How often the probes name each item's style and content from its window vectors (and both)."""
    st = ct = both = n = 0
    for v, style, content in items:
        a, b = probes.predict(v, "style") == style, probes.predict(v, "content") == content
        st, ct, both, n = st + a, ct + b, both + (a and b), n + 1
    return {"style": st / max(n, 1), "content": ct / max(n, 1), "both": both / max(n, 1), "jobs": n}


def _score(model: DanceSearchModel, probes: Probes, jobs: list[tuple[np.ndarray, str, str]],
           s: CapabilitySettings) -> dict[str, float]:
    return _recognition(probes, ((motion_vectors(model, stylize(model, pos, target, settings=s)[0]), target, content)
                                 for pos, target, content in jobs))


def _real_score(probes: Probes, data: EncodedWindows, targets: list[tuple[int | None, str, str]]
                ) -> dict[str, float]:
    """The probes on real clips of each job's target combination (``None``: the split has none): how
    often they recognise the style and content of captured motion, the measure's ceiling."""
    return _recognition(probes, ((data.vectors[data.clip_ids == clip], style, content)
                                 for clip, style, content in targets if clip is not None))


def _jobs(data: EncodedWindows, source: str, styles: list[str], n_clips: int | None, seed: int
          ) -> list[tuple[np.ndarray, str, str]]:
    clips = _clips(data, source)
    ids = sorted(clips)
    random.Random(seed).shuffle(ids)
    jobs = []
    for c in ids[:n_clips]:
        lab = clips[c]
        for target in random.Random(c).sample([x for x in styles if x != lab["style"]], TARGETS):
            jobs.append((data.windows.clip_positions[c], target, lab["content"]))
    return jobs


def calibrate(model: DanceSearchModel, val: EncodedWindows, train: EncodedWindows,
              base: CapabilitySettings) -> tuple[CapabilitySettings, dict[str, object]]:
    probes = Probes(train, "bandai-2")
    styles = sorted(set(train.labels_of(train.select("bandai-2", "style"), "style")))
    jobs = _jobs(val, "bandai-2", styles, VAL_CLIPS, 0)
    table = {str(p): _score(model, probes, jobs, replace(base, **p)) for p in GRID}  # type: ignore[arg-type]
    def rank(p: Mapping[str, object]) -> tuple[float, float]:
        return table[str(p)]["both"], table[str(p)]["style"]

    best = max(GRID, key=rank)
    per_method = {m: max((p for p in GRID if p["style_method"] == m), key=rank) for m in METHODS}
    words = max(("text", "prior"), key=lambda m: rank(per_method[m]))
    base_row = _score(model, probes, jobs, replace(base, style_strength=0.0, style_residual=True))
    chosen = replace(base, **best, style_words_method=words,  # type: ignore[arg-type]
                     style_best={m: {"strength": p["style_strength"], "residual": p["style_residual"]}
                                 for m, p in per_method.items()})
    return chosen, {"grid": table, "chosen": best, "words_method": words, "unmoved": base_row}


def evaluate(model: DanceSearchModel, test: EncodedWindows, train: EncodedWindows,
             s: CapabilitySettings) -> dict[str, object]:
    out: dict[str, object] = {}
    probes = Probes(train, "bandai-1")
    clips = _clips(test, "bandai-1")
    by_combo = {(lab["content"], lab["style"]): c for c, lab in clips.items()}
    jobs, real = [], []
    for c, lab in sorted(clips.items()):
        for (content, style), other in sorted(by_combo.items()):
            if content == lab["content"] and style != lab["style"]:
                jobs.append((test.windows.clip_positions[c], style, content))
                real.append((c, other))
    moved = _score(model, probes, jobs, s)
    unmoved = _score(model, probes, jobs, replace(s, style_strength=0.0, style_residual=True))
    closer = []
    for (pos, target, _), (src, other) in zip(jobs, real, strict=True):
        v_real = mean_vector(test.vectors[test.clip_ids == other])
        v_src = mean_vector(test.vectors[test.clip_ids == src])
        out_motion, _ = stylize(model, pos, target, settings=s)
        closer.append(float(mean_vector(motion_vectors(model, out_motion)) @ v_real > v_src @ v_real))
    out["bandai-1 held-out combinations"] = {
        "moved": moved, "unmoved": unmoved,
        "real target clip": _real_score(probes, test, [(o, t, c) for (_, t, c), (_, o) in zip(jobs, real, strict=True)]),
        "closer_to_real_target_clip": float(np.mean(closer)) if closer else None}
    probes2 = Probes(train, "bandai-2")
    styles2 = sorted(set(train.labels_of(train.select("bandai-2", "style"), "style")))
    jobs2 = _jobs(test, "bandai-2", styles2, VAL_CLIPS, 1)
    by_combo2: dict[tuple[str, str], int] = {}
    for c, lab in sorted(_clips(test, "bandai-2").items()):
        by_combo2.setdefault((lab["content"], lab["style"]), c)
    out[f"bandai-2 {test.split} clips"] = {"moved": _score(model, probes2, jobs2, s),
                                  "unmoved": _score(model, probes2, jobs2, replace(s, style_strength=0.0,
                                                                                   style_residual=True)),
                                  "real target clip": _real_score(probes2, test, [(by_combo2.get((c, t)), t, c)
                                                                                  for _, t, c in jobs2])}
    return out
