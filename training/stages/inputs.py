"""In-memory inputs of the stage trainers: windows of one split with their captions, groups and clusters.

The lead's data pipeline builds one :class:`WindowSet` per split and a :class:`StageData` holding both
splits and the frozen MiniLM embeddings of all captions (caption indices are rows of `text_emb`).
Augmentation is plugged in through `WindowSet.batch_fn(indices, rng) -> (B, S, F)` on the training set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

BatchFn = Callable[[np.ndarray, np.random.Generator], torch.Tensor]


class TrainingDataError(ValueError):
    """Trainer inputs are missing, empty or of the wrong shape; the message says which."""


@dataclass
class WindowSet:
    """Windows of one split (N, S, F) float32, normalised, and per-window annotations.

    - `captions[i]`: indices into `StageData.text_emb` of the captions of window i (may be empty).
    - `groups[i]`: windows with the same labels share a group; same group = never a negative.
    - `clusters[i]`: stage-2 cluster id (needed by stages 4 and 5).
    - `mu`: VAE latents (N, L) (needed by stages 3-6; fill with :func:`attach_latents`).
    - `batch_fn(indices, rng)`: returns the (augmented) windows for those indices; default `x[indices]`.
    """

    x: torch.Tensor
    captions: Sequence[Sequence[int]] | None = None
    groups: torch.Tensor | None = None
    clusters: torch.Tensor | None = None
    mu: torch.Tensor | None = None
    batch_fn: BatchFn | None = None

    def __post_init__(self) -> None:
        if self.x.dim() != 3:
            raise TrainingDataError(f"windows must be (N, S, F), got shape {tuple(self.x.shape)}")
        n = self.x.shape[0]
        for name in ("captions", "groups", "clusters", "mu"):
            value = getattr(self, name)
            if value is not None and len(value) != n:
                raise TrainingDataError(f"{name} has {len(value)} entries for {n} windows")

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def batch(self, indices: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        """Windows for `indices` through `batch_fn` (augmentation) when set."""
        if self.batch_fn is None:
            return self.x[torch.as_tensor(indices)]
        return self.batch_fn(indices, rng).float()

    def need(self, *names: str) -> None:
        """Raise :class:`TrainingDataError` unless every named annotation is present."""
        missing = [n for n in names if getattr(self, n) is None]
        if missing:
            raise TrainingDataError(f"this stage needs {', '.join(missing)} on every split")

    def captioned(self) -> np.ndarray:
        """Indices of the windows that have at least one caption, ascending."""
        self.need("captions")
        assert self.captions is not None
        return np.array([i for i, c in enumerate(self.captions) if len(c)], dtype=np.int64)

    def random_pairs(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One (window, caption) pair per captioned window (ascending windows), caption drawn at random."""
        win = self.captioned()
        assert self.captions is not None
        picks = (rng.random(len(win)) * np.array([len(self.captions[i]) for i in win])).astype(np.int64)
        cap = np.array([self.captions[i][int(k)] for i, k in zip(win, picks, strict=True)], dtype=np.int64)
        return win, cap

    def all_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """Every (window, caption) pair, for deterministic validation."""
        self.need("captions")
        assert self.captions is not None
        win = [i for i, caps in enumerate(self.captions) for _ in caps]
        cap = [c for caps in self.captions for c in caps]
        return np.array(win, dtype=np.int64), np.array(cap, dtype=np.int64)


@dataclass
class StageData:
    """Both splits and the caption embedding matrix (C, 384) from the frozen MiniLM."""

    train: WindowSet
    val: WindowSet
    text_emb: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if len(self.train) == 0 or len(self.val) == 0:
            raise TrainingDataError(f"need training and validation windows, got {len(self.train)} "
                                    f"and {len(self.val)}")
        if self.train.x.shape[1:] != self.val.x.shape[1:]:
            raise TrainingDataError(f"train windows {tuple(self.train.x.shape[1:])} and validation windows "
                                    f"{tuple(self.val.x.shape[1:])} differ in shape")

    def need_text(self) -> torch.Tensor:
        """The caption embeddings, checked against every caption index."""
        if self.text_emb is None:
            raise TrainingDataError("this stage needs the caption embeddings (text_emb)")
        for split in (self.train, self.val):
            split.need("captions")
            top = max((max(c) for c in split.captions or () if len(c)), default=-1)
            if top < 0:
                raise TrainingDataError("no window of a split has a caption: text stages need captions")
            if top >= len(self.text_emb):
                raise TrainingDataError(f"caption index {top} out of range for {len(self.text_emb)} captions")
        return self.text_emb

    def check_windows(self, seq_len: int, n_features: int, module: str) -> None:
        """Raise :class:`TrainingDataError` unless windows are (N, seq_len, n_features) as `module` expects."""
        got = tuple(self.train.x.shape[1:])
        if got != (seq_len, n_features):
            raise TrainingDataError(f"{module} expects windows of {seq_len} frames x {n_features} features, "
                                    f"the data has {got[0]} x {got[1]}")

    def with_latents(self, mu_train: torch.Tensor, mu_val: torch.Tensor) -> StageData:
        """A copy with VAE latents attached to both splits."""
        return replace(self, train=replace(self.train, mu=mu_train), val=replace(self.val, mu=mu_val))

    def with_clusters(self, train: torch.Tensor, val: torch.Tensor) -> StageData:
        """A copy with stage-2 cluster ids attached to both splits."""
        return replace(self, train=replace(self.train, clusters=train), val=replace(self.val, clusters=val))


def shuffled_batches(n: int, batch_size: int, rng: np.random.Generator, drop_last: bool = False
                     ) -> Iterator[np.ndarray]:
    """Random permutation of range(n) cut into batches (the last short one kept unless `drop_last`)."""
    order = rng.permutation(n)
    stop = n - n % batch_size if drop_last and n >= batch_size else n
    for i in range(0, stop, batch_size):
        yield order[i:i + batch_size]


def ordered_batches(n: int, batch_size: int) -> Iterator[np.ndarray]:
    """range(n) in order, cut into batches (validation)."""
    for i in range(0, n, batch_size):
        yield np.arange(i, min(n, i + batch_size))


def balanced_batches(labels: np.ndarray, batch_size: int, n_batches: int, rng: np.random.Generator
                     ) -> Iterator[np.ndarray]:
    """Class-balanced batches: every label equally likely, then a uniform member of that label."""
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    p = 1.0 / (len(classes) * counts[inverse])
    for _ in range(n_batches):
        yield rng.choice(len(labels), size=min(batch_size, len(labels)), replace=False, p=p)
