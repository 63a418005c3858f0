"""The corpus splits as the capability evaluations need them, encoded once per model and cached.

The split's files are ingested into a work library with the product's own ingest (as ``dancesearch
eval`` does); every window gets its normalised features, shared-space vector and VAE latent mu.
Vectors and latents are cached in the work folder under the model's version, so the sections (and
re-runs) do not embed the 11,000 train windows again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from embedders.runtime import DanceSearchModel
from training.corpus import has_split, ingest_files, select_files
from training.data import SplitWindows, load_split

log = logging.getLogger(__name__)


@dataclass
class EncodedWindows:
    """One split's windows: features (N, S, F) normalised, vectors (N, D), mu (N, L), and per window
    its clip id, source and labels (``clip_positions`` maps clip id -> canonical positions)."""

    split: str
    windows: SplitWindows
    features: torch.Tensor
    vectors: np.ndarray
    mu: np.ndarray

    @property
    def clip_ids(self) -> np.ndarray:
        return self.windows.clip_ids

    def label(self, i: int, key: str) -> Any:
        return self.windows.labels[i].get(key)

    def select(self, source: str | tuple[str, ...], key: str) -> np.ndarray:
        """Indices of the windows of ``source`` whose labels have ``key``."""
        sources = (source,) if isinstance(source, str) else source
        return np.array([i for i, (s, lab) in enumerate(zip(self.windows.sources, self.windows.labels, strict=True))
                         if s in sources and lab.get(key) not in (None, "")], dtype=np.int64)

    def labels_of(self, idx: np.ndarray, key: str) -> list[str]:
        return [str(self.windows.labels[int(i)][key]) for i in idx]


def work_library(corpus: Path, work: Path, splits: tuple[str, ...], workers: int = 1) -> Any:
    """The work library holding every corpus file with a part in ``splits`` (idempotent ingest)."""
    paths = select_files(corpus, lambda e: any(has_split(e, s) for s in splits))
    lib, failed = ingest_files(corpus, paths, work / "library", workers)
    if failed:
        raise RuntimeError(f"{failed} corpus files failed to ingest into {work / 'library'}")
    return lib


@torch.no_grad()
def encode_split(model: DanceSearchModel, lib: Any, split: str, work: Path) -> EncodedWindows:
    """The split's windows encoded by ``model`` (vectors and mu cached in ``work``)."""
    windows = load_split(lib, split, model.window_size, None, model.body_normalised)
    x = torch.from_numpy(model.normalizer.transform(windows.features()))
    cache = work / f"encoded-{model.config['version']}-{split}.npz"
    if cache.is_file():
        with np.load(cache) as data:
            if len(data["window_ids"]) == len(windows) and (data["window_ids"] == windows.window_ids).all():
                return EncodedWindows(split, windows, x, data["vectors"], data["mu"])
    vectors = model.embed_features(x)
    mu = torch.cat([model.vae.embed_mu(x[i:i + 1024]) for i in range(0, len(x), 1024)]).numpy()
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, window_ids=windows.window_ids, vectors=vectors, mu=mu)
    log.info("encoded %d %s windows", len(windows), split)
    return EncodedWindows(split, windows, x, vectors, mu)
