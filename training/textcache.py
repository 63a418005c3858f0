"""Frozen MiniLM sentence embeddings with a cache on disk, so each text is encoded once per work dir.

The text encoder never runs inside a training loop: captions are embedded once here and the
stages train on the cached (C, 384) matrix.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

log = logging.getLogger(__name__)


class TextEmbeddingCache:
    """`encode(texts) -> (N, 384)` backed by an npz file of texts and their embeddings."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._encoder: Any = None
        self._cache: dict[str, np.ndarray] = {}
        self._dirty = False
        if path is not None and path.exists():
            with np.load(path, allow_pickle=False) as data:
                self._cache = dict(zip(data["texts"].tolist(), data["emb"], strict=True))

    def _model(self):
        if self._encoder is None:
            from embedders.text import FrozenMiniLM

            self._encoder = FrozenMiniLM()
        return self._encoder

    def encode(self, texts: Sequence[str], show_progress: bool = True) -> torch.Tensor:
        """Embeddings of `texts` in order; unseen texts are encoded in batches (with a progress bar)."""
        todo = sorted({t for t in texts if t not in self._cache})
        if todo:
            from tqdm import tqdm

            model = self._model()
            step = 256
            for i in tqdm(range(0, len(todo), step), desc="MiniLM captions", unit="batch",
                          disable=not show_progress or len(todo) < 2 * step):
                chunk = todo[i:i + step]
                for t, e in zip(chunk, model.encode(chunk).numpy(), strict=True):
                    self._cache[t] = e.astype(np.float32)
            self._dirty = True
        if not texts:
            return torch.zeros(0, 384)
        return torch.from_numpy(np.stack([self._cache[t] for t in texts]))

    def save(self) -> None:
        if self.path is None or not self._dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        texts = list(self._cache)
        tmp = self.path.with_name(self.path.stem + ".tmp.npz")
        np.savez(tmp, texts=np.array(texts, dtype=np.str_), emb=np.stack([self._cache[t] for t in texts]))
        tmp.replace(self.path)
        self._dirty = False
