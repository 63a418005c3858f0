"""Zero-shot classification: which of a few class names, written as text, a motion is (Lang2Motion).

Each label becomes a text through a prompt (``"{}"`` unless calibration chose another), is embedded in
the shared space, and scored against the motion's windows by cosine. Probabilities are a softmax of
cosine / temperature; the temperature is fitted on ``val`` by likelihood (``capabilities.json``), so a
0.8 means about 80 % right on held-out clips, not just "highest". The whole clip's probabilities come
from the mean of its windows' logits; each window is also reported as a time span.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from embedders.runtime import DanceSearchModel
from explore.settings import CapabilitySettings
from motion.skeleton import CANONICAL_FPS
from motion.windows import window_starts

MAX_LABELS = 64


class LabelError(ValueError):
    """The labels given cannot be classified against (empty, duplicated, too many)."""


def parse_labels(text: str | Sequence[str]) -> list[str]:
    """Labels from ``"waltz, rumba, cha-cha"`` (or a list): stripped, non-empty, unique, at most 64."""
    raw = text.split(",") if isinstance(text, str) else list(text)
    labels = [label.strip() for label in raw if label.strip()]
    if len(labels) < 2:
        raise LabelError(f"give at least two labels separated by commas, got {labels!r}")
    if len(set(labels)) != len(labels):
        raise LabelError(f"labels repeat: {labels!r}")
    if len(labels) > MAX_LABELS:
        raise LabelError(f"at most {MAX_LABELS} labels, got {len(labels)}")
    return labels


def label_text(label: str, prompt: str = "{}") -> str:
    """The text a label is embedded as: hyphens and underscores read as spaces, inside the prompt."""
    return prompt.format(label.replace("-", " ").replace("_", " ").strip())


def label_vectors(model: DanceSearchModel, labels: Sequence[str], prompt: str = "{}") -> np.ndarray:
    """Unit vectors (K, D) of the labels in the shared space; a prompt with ``|`` is an ensemble of
    prompts (the mean of their vectors)."""
    prompts = prompt.split("|")
    vecs = np.stack([model.embed_texts([label_text(lab, p) for lab in labels]) for p in prompts]).mean(0)
    return (vecs / np.linalg.norm(vecs, axis=1, keepdims=True)).astype(np.float32)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


@dataclass
class Span:
    """One window of the clip: seconds [start, end) and the label probabilities there."""

    start: float
    end: float
    probabilities: dict[str, float]

    @property
    def best(self) -> str:
        return max(self.probabilities, key=self.probabilities.__getitem__)


@dataclass
class Classification:
    """Probabilities of each label for the whole motion and per span; ``best`` is the argmax."""

    labels: list[str]
    probabilities: dict[str, float]
    spans: list[Span]
    temperature: float
    prompt: str

    @property
    def best(self) -> str:
        return max(self.probabilities, key=self.probabilities.__getitem__)

    def to_json(self) -> dict[str, object]:
        return {"labels": self.labels, "best": self.best, "probabilities": self.probabilities,
                "temperature": self.temperature, "prompt": self.prompt,
                "spans": [{"start": s.start, "end": s.end, "best": s.best, "probabilities": s.probabilities}
                          for s in self.spans]}


def classify_vectors(vectors: np.ndarray, labels_vecs: np.ndarray, temperature: float) -> np.ndarray:
    """Logits (N, K): cosine of each window vector with each label vector, over the temperature."""
    return (vectors @ labels_vecs.T) / temperature


def classify(model: DanceSearchModel, positions: np.ndarray, labels: str | Sequence[str],
             settings: CapabilitySettings | None = None, span_seconds: float | None = None,
             offset_seconds: float = 0.0) -> Classification:
    """Classify a canonical motion (T, J, 3) against ``labels``; one span per window, windows
    ``span_seconds`` apart (default: the calibrated setting). ``offset_seconds``: where ``positions``
    start in the clip they were cut from, so that span times are times of that clip."""
    s = settings or CapabilitySettings()
    names = parse_labels(labels)
    step = max(1, int(round((span_seconds or s.span_seconds) * CANONICAL_FPS)))
    starts = window_starts(len(positions), model.window_size, step)
    logits = classify_vectors(model.embed_windows(positions, starts), label_vectors(model, names, s.prompt),
                              s.temperature)
    overall = softmax(logits.mean(0))
    per_window = softmax(logits)
    spans = [Span(round(offset_seconds + st / CANONICAL_FPS, 3),
                  round(offset_seconds + min(len(positions), st + model.window_size) / CANONICAL_FPS, 3),
                  {n: round(float(p), 4) for n, p in zip(names, row, strict=True)})
             for st, row in zip(starts, per_window, strict=True)]
    return Classification(names, {n: round(float(p), 4) for n, p in zip(names, overall, strict=True)}, spans,
                          s.temperature, s.prompt)
