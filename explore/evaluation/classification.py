"""Zero-shot classification measured: accuracy on held-out clips against a linear probe and chance.

Tasks are label sets of the corpus: ballroom genres, and the contents and styles of each Bandai data set
(bandai-1 has no ``val`` clips, so it is reported on ``test`` only). The label set of a task is what its
``train`` clips carry. Zero-shot: the label names as text (:mod:`explore.classify`). Probe: a logistic
regression on the ``train`` windows' shared-space vectors (it has seen labelled examples; zero-shot has
not). Clip accuracy takes the mean of a clip's window logits (log-probabilities for the probe).
Calibration (``val`` only): the prompt by mean clip accuracy, then the temperature by the negative
log-likelihood of the windows' true labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression

from embedders.runtime import DanceSearchModel
from explore.classify import classify_vectors, label_vectors, softmax
from explore.evaluation.data import EncodedWindows

TASKS = (("ballroom genre", "ballroom", "genre"), ("bandai-1 content", "bandai-1", "content"),
         ("bandai-1 style", "bandai-1", "style"), ("bandai-2 content", "bandai-2", "content"),
         ("bandai-2 style", "bandai-2", "style"))
PROMPTS = ("{}", "a person {}", "{} motion", "{}|a person {}|{} motion")
TEMPERATURES = tuple(float(t) for t in np.geomspace(0.005, 0.5, 41))


@dataclass
class Task:
    """One task on one split: window indices, their true label index, clips, and the label set."""

    name: str
    labels: list[str]
    idx: np.ndarray
    truth: np.ndarray
    clips: np.ndarray


def task(data: EncodedWindows, train: EncodedWindows, name: str, source: str, key: str) -> Task | None:
    labels = sorted(set(train.labels_of(train.select(source, key), key)))
    idx = data.select(source, key)
    idx = np.array([i for i in idx if str(data.windows.labels[int(i)][key]) in labels], dtype=np.int64)
    if not len(idx) or len(labels) < 2:
        return None
    truth = np.array([labels.index(v) for v in data.labels_of(idx, key)])
    return Task(name, labels, idx, truth, data.clip_ids[idx])


def clip_accuracy(logits: np.ndarray, t: Task) -> float:
    """Accuracy of the clips, each predicted by the mean of its windows' logits."""
    right = []
    for clip in np.unique(t.clips):
        rows = t.clips == clip
        right.append(int(logits[rows].mean(0).argmax() == t.truth[rows][0]))
    return float(np.mean(right))


def zero_shot_logits(model: DanceSearchModel, data: EncodedWindows, t: Task, prompt: str,
                     temperature: float) -> np.ndarray:
    return classify_vectors(data.vectors[t.idx], label_vectors(model, t.labels, prompt), temperature)


def nll(logits: np.ndarray, truth: np.ndarray) -> float:
    p = softmax(logits)
    return float(-np.log(np.maximum(p[np.arange(len(truth)), truth], 1e-12)).mean())


def calibrate(model: DanceSearchModel, val: EncodedWindows, train: EncodedWindows) -> dict[str, object]:
    """The prompt (mean val clip accuracy over tasks) and temperature (val window NLL); the table."""
    tasks = [t for n, s, k in TASKS if (t := task(val, train, n, s, k)) is not None]
    by_prompt = {p: float(np.mean([clip_accuracy(zero_shot_logits(model, val, t, p, 1.0), t) for t in tasks]))
                 for p in PROMPTS}
    prompt = max(PROMPTS, key=lambda p: (by_prompt[p], -PROMPTS.index(p)))
    cos = [zero_shot_logits(model, val, t, prompt, 1.0) for t in tasks]
    by_temp = {tau: float(np.mean([nll(c / tau, t.truth) for c, t in zip(cos, tasks, strict=True)]))
               for tau in TEMPERATURES}
    temperature = min(by_temp, key=by_temp.__getitem__)
    return {"tasks": [t.name for t in tasks], "prompt": prompt, "temperature": temperature,
            "val_accuracy_by_prompt": by_prompt, "val_nll": by_temp[temperature],
            "val_nll_at_1": by_temp[min(TEMPERATURES, key=lambda x: abs(x - 0.5))]}


def probe(train: EncodedWindows, t_train: Task) -> LogisticRegression:
    clf = LogisticRegression(max_iter=2000, C=1.0)
    clf.fit(train.vectors[t_train.idx], t_train.truth)
    return clf


def evaluate(model: DanceSearchModel, data: EncodedWindows, train: EncodedWindows, prompt: str,
             temperature: float) -> list[dict[str, object]]:
    """Per task: zero-shot clip/window accuracy and NLL, probe accuracy, chance and majority rates."""
    rows = []
    for name, source, key in TASKS:
        t = task(data, train, name, source, key)
        t_train = task(train, train, name, source, key)
        if t is None or t_train is None:
            continue
        logits = zero_shot_logits(model, data, t, prompt, temperature)
        clf = probe(train, t_train)
        plog = np.full((len(t.idx), len(t.labels)), -30.0)
        plog[:, clf.classes_] = clf.predict_log_proba(data.vectors[t.idx])
        counts = np.bincount(t.truth, minlength=len(t.labels))
        rows.append({"task": name, "labels": len(t.labels), "clips": int(len(np.unique(t.clips))),
                     "windows": int(len(t.idx)),
                     "zero_shot_clip": clip_accuracy(logits, t),
                     "zero_shot_window": float((logits.argmax(1) == t.truth).mean()),
                     "zero_shot_nll": nll(logits, t.truth),
                     "probe_clip": clip_accuracy(plog, t), "probe_window": float((plog.argmax(1) == t.truth).mean()),
                     "chance": 1.0 / len(t.labels), "majority_window": float(counts.max() / counts.sum())})
    return rows
