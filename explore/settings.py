"""Inference-time settings of the capabilities, chosen on ``val`` and stored beside the model.

``capabilities.json`` in the model directory (written by ``dancesearch eval-capabilities --calibrate``)
holds the classification temperature and prompt, the stylization method and strength, the concept
learner's settings, generation's latent (the projector's plus noise, or the latent prior's sample
with its guidance) and what decodes it (the stage-6 generator or the VAE's decoder), a reference skeleton (bone lengths) and the style means
in the VAE latent. The model's weights are never touched; a model without the file gets the defaults
below (documented as such, not tuned).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

FILENAME = "capabilities.json"
NEGATIVES = "capabilities_negatives.npy"
"""The concept learner's negative bank: train window vectors (float16), written by calibration."""


def load_negatives(model_dir: Path | str) -> np.ndarray | None:
    """The model's negative bank (M, D) float32, or None when calibration has not written one."""
    path = Path(model_dir) / NEGATIVES
    return np.load(path).astype(np.float32) if path.is_file() else None


@dataclass
class CapabilitySettings:
    """Every knob the capabilities use; ``chosen_on`` says which split chose them ("default": none)."""

    temperature: float = 0.05
    prompt: str = "{}"
    span_seconds: float = 2.0
    style_method: str = "data"          # "data", "adain", "text", "prior" or "pose" (explore.stylize)
    style_strength: float = 1.0
    style_residual: bool = False
    concept_steps: int = 150
    concept_lr: float = 0.05
    concept_tau: float = 0.07
    concept_text_weight: float = 1.0
    generation_noise: float = 0.0
    generation_latent: str = "projector"  # "projector" (stage 3 + noise) or "prior" (the latent prior's sample)
    generation_guidance: float = 1.0      # the prior's classifier-free guidance (1: none)
    generation_decoder: str = "generator"  # "generator" (stage 6, text + latent) or "vae" (the VAE decodes the latent)
    generation_candidates: int = 1         # samples per chained window; the one that joins best is kept
    generation_gait: bool = False          # steps for stretches that travel on gliding feet (explore.gait)
    bone_lengths: list[float] = field(default_factory=list)  # reference skeleton (J,), metres; [] = per clip
    style_means: dict[str, list[float]] = field(default_factory=dict)  # style -> mean VAE mu (train)
    style_global: list[float] = field(default_factory=list)             # mean VAE mu of the styled clips
    style_stds: dict[str, list[float]] = field(default_factory=dict)   # style -> std of VAE mu (train)
    style_classifier: dict[str, Any] = field(default_factory=dict)     # classes, coef, intercept on mu
    style_pose: dict[str, list[float]] = field(default_factory=dict)   # style -> pose mean + spread (2*J*3, train)
    style_pose_classifier: dict[str, Any] = field(default_factory=dict)  # classes, coef, intercept on pose stats
    style_best: dict[str, dict[str, Any]] = field(default_factory=dict)  # method -> its best {strength, residual} on val
    style_words_method: str = "text"    # for a style the corpus does not label: "text" or "prior" (better on val)
    generation_bones: str = "own"       # "own" (the motion's median lengths) or "reference" (bone_lengths)
    chosen_on: str = "default"
    notes: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, model_dir: Path | str) -> CapabilitySettings:
        """The model's settings file, or the defaults when it has none."""
        path = Path(model_dir) / FILENAME
        if not path.is_file():
            return cls()
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: unreadable capability settings ({exc})") from None
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})

    def save(self, model_dir: Path | str) -> Path:
        path = Path(model_dir) / FILENAME
        path.write_text(json.dumps(asdict(self), indent=1), encoding="utf-8")
        return path
