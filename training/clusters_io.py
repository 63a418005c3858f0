"""Stage-2 outputs on disk: centroids, silhouette curve and a description of every cluster.

The paper wrote its three cluster descriptions by hand from nine exemplars; our clips carry real
labels, so each cluster is described by the labels of the clips nearest its centroid (the most
common plain captions among them) plus the label mix over all its members.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from training.clustering import Clustering
from training.data import SplitWindows
from training.text.captions import CaptionError, canonical_caption


def _caption(windows: SplitWindows, i: int) -> str | None:
    try:
        return canonical_caption(windows.sources[i], windows.labels[i])
    except CaptionError:
        return None


def describe_clusters(clu: Clustering, windows: SplitWindows) -> list[dict[str, Any]]:
    """Per cluster: size, description from the exemplars' captions, top label keys of all members."""
    out: list[dict[str, Any]] = []
    for c in range(clu.k):
        members = np.flatnonzero(clu.labels == c)
        exemplar_caps = Counter(cap for i in clu.nearest[c] if (cap := _caption(windows, int(i))))
        keys = Counter(k for i in members if (k := windows.keys[int(i)]))
        sources = Counter(windows.sources[int(i)] for i in members)
        top = [cap.rstrip(".") for cap, _ in exemplar_caps.most_common(3)]
        text = "; or ".join(top) if top else f"cluster {c}"
        if any(o["description"].rstrip(".") == text[:1].upper() + text[1:] for o in out):
            text += f" (mostly {', '.join(s for s, _ in sources.most_common(2))} motion)"  # keep texts distinct
        out.append({"cluster": c, "size": int(len(members)), "description": text[:1].upper() + text[1:] + ".",
                    "top_labels": keys.most_common(8), "sources": dict(sources)})
    return out


def save_clustering(clu: Clustering, descriptions: list[dict[str, Any]], path: Path) -> None:
    """Write clusters.json (k, centroids, silhouette per K, exemplars, descriptions)."""
    path.write_text(json.dumps({
        "k": clu.k, "centroids": clu.centroids.tolist(),
        "silhouette": {str(k): v for k, v in clu.silhouette.items()},
        "nearest": [n.tolist() for n in clu.nearest], "clusters": descriptions}, indent=1) + "\n")


def load_clustering(path: Path, mu: np.ndarray | None = None) -> Clustering:
    """Read clusters.json; member labels are recomputed from `mu` by nearest centroid when given."""
    raw = json.loads(path.read_text())
    centroids = np.asarray(raw["centroids"], dtype=np.float32)
    labels = (np.zeros(0, np.int64) if mu is None
              else ((mu[:, None, :] - centroids[None]) ** 2).sum(-1).argmin(1))
    return Clustering(int(raw["k"]), centroids, labels,
                      {int(k): float(v) for k, v in raw["silhouette"].items()},
                      [np.asarray(n, dtype=np.int64) for n in raw.get("nearest", [])])


def cluster_descriptions(path: Path) -> list[dict[str, Any]]:
    return list(json.loads(path.read_text()).get("clusters", []))
