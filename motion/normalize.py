"""Feature normalisation with a global mean and standard deviation from the training split only."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

_MIN_STD = 1e-3  # metres: features that barely move are not blown up into noise


@dataclass
class Normalizer:
    """Per-feature mean and std (F,), fitted on training windows and saved with the model."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, features: np.ndarray) -> Normalizer:
        """Statistics over all frames of training windows (N, S, F)."""
        flat = features.reshape(-1, features.shape[-1]).astype(np.float64)
        if flat.shape[0] == 0:
            raise ValueError("cannot fit a normaliser on zero windows")
        return cls(flat.mean(0).astype(np.float32), np.maximum(flat.std(0), _MIN_STD).astype(np.float32))

    def transform(self, features: np.ndarray) -> np.ndarray:
        return ((features - self.mean) / self.std).astype(np.float32)

    def inverse(self, features: np.ndarray) -> np.ndarray:
        return (features * self.std + self.mean).astype(np.float32)

    def save(self, path: Path) -> None:
        np.savez(path, mean=self.mean, std=self.std)

    @classmethod
    def load(cls, path: Path) -> Normalizer:
        with np.load(path) as data:
            return cls(data["mean"].astype(np.float32), data["std"].astype(np.float32))
