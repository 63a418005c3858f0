"""What the search layer needs from a trained model, as a Protocol.

`embedders.runtime.DanceSearchModel` (the loaded model directory) implements it; index tests use a
tiny deterministic fake. Vectors are float32 and L2-normalised, so inner product = cosine.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np


class WindowEmbedder(Protocol):
    """Embeds canonical motion windows and texts into the model's shared space."""

    @property
    def version(self) -> str:
        """Identifies the weights (e.g. a hash of the model directory); indexes built by another
        version are stale."""

    @property
    def dim(self) -> int:
        """Dimension of the shared space."""

    @property
    def window_size(self) -> int:
        """Frames per window (canonical 25 fps)."""

    def embed_windows(self, positions: np.ndarray, starts: Sequence[int]) -> np.ndarray:
        """(len(starts), dim) embeddings of the windows of one canonical clip (T, J, 3) starting at
        `starts` (frames); windows running past the end repeat the last frame."""

    def pose_vectors(self, positions: np.ndarray, starts: Sequence[int]) -> np.ndarray:
        """(len(starts), p) unit vectors of the windows' poses themselves (no learned weights), for
        "same motion" search by example: the same movement on another rig or body stays close."""

    def embed_clips(self, clips: Sequence[tuple[np.ndarray, Sequence[int]]]) -> tuple[np.ndarray, np.ndarray]:
        """Embeddings (N, dim) and cluster ids (N,) of the windows of several clips in one batch:
        the same as `embed_windows` and `cluster_of` clip by clip, with fewer, larger model calls."""

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) embeddings of texts in the shared space (for text -> motion queries)."""

    def embed_descriptions(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), d) embeddings of descriptions in the space motion -> text search compares
        against `describe_windows` (may equal `embed_texts`)."""

    def describe_windows(self, positions: np.ndarray, starts: Sequence[int]) -> np.ndarray:
        """(len(starts), d) query vectors for motion -> text search, comparable with `embed_descriptions`."""

    def cluster_of(self, positions: np.ndarray, starts: Sequence[int]) -> np.ndarray:
        """(len(starts),) semantic cluster id of each window (stage 2 clustering)."""

    def cluster_of_texts(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts),) semantic cluster id predicted for each text."""


class SearchModel(WindowEmbedder, Protocol):
    """A full model as the Engine uses it: embeddings plus generation and calibrated defaults."""

    @property
    def settings(self) -> dict[str, object]:
        """Calibrated search defaults from training/evaluation on the validation split:
        ``fallback_threshold`` (float: best text -> motion score below which the engine generates),
        ``cluster_filter_text``, ``cluster_filter_motion``, ``cluster_filter_describe`` (bools: whether
        cluster-consistency filtering is on by default for each direction), ``name``."""

    def descriptions(self) -> list[tuple[str, int | None]]:
        """The model's own description database: (text, cluster id) pairs built at training time."""

    def match_score(self, text: str, best_motion: float | None) -> float | None:
        """The calibrated score compared with ``fallback_threshold`` for a text whose best library
        motion scored ``best_motion`` (None: empty library)."""

    def generate(self, text: str, seconds: float, seed: int = 0) -> np.ndarray:
        """A synthesized canonical motion (T, J, 3), metres, Y up, 25 fps, for a text."""
