"""Stage 2: K-means over VAE latents, K chosen by silhouette score, and cluster exemplars.

:func:`cluster_latents` fits K-means for every K in a range, scores each with the silhouette
coefficient (on a fixed random sample of at most `silhouette_sample` points, so it stays fast on
tens of thousands of windows), keeps the best K, and lists for each cluster the windows nearest its
centroid (the lead describes clusters from those windows' clip labels). :func:`assign_clusters` puts
new latents (validation windows, queries) into the nearest cluster.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


class ClusteringError(ValueError):
    """Clustering cannot run on these latents (too few points, bad K range) or a saved file is bad."""


@dataclass
class ClusterConfig:
    """K range (inclusive), exemplars per cluster, K-means restarts, silhouette sample size, seed."""

    k_min: int = 2
    k_max: int = 10
    n_nearest: int = 9
    n_init: int = 4
    silhouette_sample: int = 5000
    seed: int = 0


@dataclass
class Clustering:
    """The chosen clustering: K, centroids (K, L), labels (N,), silhouette per K, exemplar indices."""

    k: int
    centroids: np.ndarray
    labels: np.ndarray
    silhouette: dict[int, float]
    nearest: list[np.ndarray] = field(default_factory=list)

    def save(self, path: Path) -> None:
        """Write JSON: k, centroids, silhouette curve, exemplars (labels are not saved)."""
        path.write_text(json.dumps({
            "k": self.k, "centroids": self.centroids.tolist(),
            "silhouette": {str(k): v for k, v in self.silhouette.items()},
            "nearest": [n.tolist() for n in self.nearest]}, indent=1) + "\n")

    @classmethod
    def load(cls, path: Path) -> Clustering:
        """Read what :meth:`save` wrote; labels come back empty (recompute with :func:`assign_clusters`)."""
        try:
            meta = json.loads(path.read_text())
            centroids = np.asarray(meta["centroids"], dtype=np.float32)
            return cls(int(meta["k"]), centroids, np.zeros(0, np.int64),
                       {int(k): float(v) for k, v in meta["silhouette"].items()},
                       [np.asarray(n, dtype=np.int64) for n in meta["nearest"]])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ClusteringError(f"{path}: cannot read clusters: {exc}") from exc


def cluster_latents(mu: np.ndarray, cfg: ClusterConfig | None = None) -> Clustering:
    """K-means on latents (N, L) for K = k_min..k_max; the K with the highest silhouette wins."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    cfg = cfg or ClusterConfig()
    mu = np.asarray(mu, dtype=np.float32)
    k_max = min(cfg.k_max, len(mu) - 1)
    if cfg.k_min < 2 or k_max < cfg.k_min:
        raise ClusteringError(f"cannot try K = {cfg.k_min}..{cfg.k_max} on {len(mu)} latents")
    rng = np.random.default_rng(cfg.seed)
    sample = rng.choice(len(mu), size=min(len(mu), cfg.silhouette_sample), replace=False)
    fits, curve = {}, {}
    for k in range(cfg.k_min, k_max + 1):
        km = KMeans(n_clusters=k, n_init=cfg.n_init, random_state=cfg.seed).fit(mu)
        labels = km.labels_
        curve[k] = (float(silhouette_score(mu[sample], labels[sample]))
                    if len(np.unique(labels[sample])) > 1 else -1.0)
        fits[k] = km
        log.info("K=%d silhouette %.4f", k, curve[k])
    best = max(curve, key=lambda k: curve[k])
    km = fits[best]
    centroids = km.cluster_centers_.astype(np.float32)
    labels = km.labels_.astype(np.int64)
    return Clustering(best, centroids, labels, curve, nearest_to_centroids(mu, labels, centroids, cfg.n_nearest))


def nearest_to_centroids(mu: np.ndarray, labels: np.ndarray, centroids: np.ndarray, n: int) -> list[np.ndarray]:
    """For each cluster, indices of its `n` members nearest its centroid, nearest first."""
    out = []
    for c, centre in enumerate(centroids):
        members = np.flatnonzero(labels == c)
        dist = np.linalg.norm(mu[members] - centre, axis=1)
        out.append(members[np.argsort(dist, kind="stable")[:n]])
    return out


def assign_clusters(mu: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the nearest centroid (Euclidean) for each latent (N, L)."""
    mu = np.asarray(mu, dtype=np.float32)
    centroids = np.asarray(centroids, dtype=np.float32)
    d = (centroids ** 2).sum(1)[None, :] - 2.0 * mu @ centroids.T  # |mu|^2 is the same for every centroid
    return d.argmin(1).astype(np.int64)


def caption_clusters(captions: Sequence[Sequence[int]], labels: np.ndarray, n_captions: int) -> np.ndarray:
    """Cluster of every caption (C,): the most frequent cluster among the windows it describes.

    A caption's text embedding is one point whatever window it is paired with, so it can carry one
    cluster label only (as the paper's descriptions each belong to one cluster); ties go to the
    smaller cluster id, captions of no window get -1.
    """
    counts = np.zeros((n_captions, int(labels.max(initial=-1)) + 1), dtype=np.int64)
    for caps, label in zip(captions, labels, strict=True):
        for c in caps:
            counts[c, label] += 1
    out = counts.argmax(1) if counts.shape[1] else np.zeros(n_captions, np.int64)
    out[counts.sum(1) == 0] = -1
    return out.astype(np.int64)
