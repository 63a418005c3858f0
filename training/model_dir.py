"""Writing the model directory: config, description database, version hash and training report.

Layout (read back by :mod:`embedders.runtime`): ``config.json`` (name, version, code version, corpus
manifest hash, window settings, pipeline config, search defaults), ``normalizer.npz``, one
``NAME.json`` + ``NAME.safetensors`` per module, ``clusters.json``, ``descriptions.json`` with
``descriptions.safetensors`` (their MiniLM embeddings), ``stages.json`` and ``report/``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors.torch import save_file

from embedders.text import TextProjector
from training.clusters_io import cluster_descriptions
from training.corpus import manifest_entries
from training.text.captions import CaptionError, canonical_caption
from training.text.relevance import try_label_key
from training.textcache import TextEmbeddingCache

if TYPE_CHECKING:
    from training.pipeline import Prepared, TrainOptions

log = logging.getLogger(__name__)

CHOSEN_FOR_WEIGHTS = ("same_motion_pose_weight", "by_example_context")
"""Search settings chosen for one set of weights by a tool outside training (``scripts/eval_by_example.py
--choose``): a resumed run that leaves the weights as they were keeps them, a run that changes the weights
drops them (they were chosen for other weights), and calibration never touches them."""

WEIGHT_FILES = ("normalizer.npz", "vae.safetensors", "projector.safetensors", "heads.safetensors",
                "dance_to_text.safetensors", "shared_space.safetensors", "text_head.safetensors")
"""The files that decide stored vectors and descriptions. The generator and the latent prior are not
among them: retraining generation leaves every index valid and keeps the settings chosen for these weights."""


def code_version(repo: Path | None = None) -> str:
    """`git describe` of the code that trained the model (or the package version outside a checkout)."""
    repo = repo or Path(__file__).resolve().parents[1]
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=repo, capture_output=True,
                             text=True, timeout=10, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        from dancesearch import __version__

        return __version__


def weights_version(out: Path) -> str:
    """Short sha256 over every weight file: identifies the model for index staleness checks."""
    h = hashlib.sha256()
    for name in WEIGHT_FILES:
        p = out / name
        if p.exists():
            h.update(name.encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


def manifest_label_sets(corpus: Path) -> list[tuple[str, dict[str, Any]]]:
    """Distinct (source, labels) of the corpus manifest, every split: the label TEXTS are the known
    descriptions (like class names in zero-shot classification); no motion of `test` is read."""
    seen: dict[str, tuple[str, dict[str, Any]]] = {}
    for e in manifest_entries(corpus):
        key = try_label_key(e["source"], e["labels"])
        if key is not None and key not in seen:
            seen[key] = (e["source"], e["labels"])
    return list(seen.values())


def build_descriptions(corpus: Path, out: Path, encoder: TextEmbeddingCache) -> list[dict[str, Any]]:
    """The description database: a plain caption per label set plus each cluster's description,
    with cluster ids predicted through the stage-3 projector; embeddings saved beside it."""
    rows: list[dict[str, Any]] = []
    for source, labels in manifest_label_sets(corpus):
        try:
            rows.append({"text": canonical_caption(source, labels), "kind": "labels",
                         "key": try_label_key(source, labels)})
        except CaptionError:
            continue
    for c in cluster_descriptions(out / "clusters.json"):
        rows.append({"text": c["description"], "kind": "cluster", "key": None, "cluster": c["cluster"]})
    unique: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["text"] in unique and r["kind"] == "cluster":
            unique[r["text"]]["describes_cluster"] = r["cluster"]  # a label caption that also names a cluster
        unique.setdefault(r["text"], r)
    rows = list(unique.values())
    emb = encoder.encode([r["text"] for r in rows])
    projector = TextProjector.load(out, "projector").eval()
    centroids = torch.tensor(json.loads((out / "clusters.json").read_text())["centroids"])
    with torch.no_grad():
        clusters = torch.cdist(projector(emb), centroids).argmin(1).tolist()
    for r, c in zip(rows, clusters, strict=True):
        r.setdefault("cluster", int(c))
    (out / "descriptions.json").write_text(json.dumps(rows, indent=1) + "\n")
    save_file({"minilm": emb.contiguous()}, str(out / "descriptions.safetensors"))
    return rows


def write_model_dir(opts: TrainOptions, prep: Prepared, encoder: TextEmbeddingCache,
                    prep_seconds: float, total_seconds: float) -> dict[str, Any]:
    """Descriptions, config.json (with version) and the training report."""
    from training.report import write_training_report

    out = opts.out
    descriptions = build_descriptions(opts.corpus, out, encoder)
    stages = json.loads((out / "stages.json").read_text())
    previous = json.loads((out / "config.json").read_text()) if (out / "config.json").exists() else {}
    config = {
        "name": out.name,
        "version": weights_version(out),
        "code_version": code_version(),
        "corpus_manifest_sha256": hashlib.sha256((opts.corpus / "manifest.json").read_bytes()).hexdigest(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seed": opts.seed,
        "window": {"size": opts.window, "stride": opts.stride, "fps": 25.0},
        "features": {"body_normalised": opts.normalise_body},
        "augment": asdict(opts.augment),
        "kinematic_captions_per_window": opts.kinematic_captions,
        "training": {"train_windows": len(prep.train), "val_windows": len(prep.val),
                     "captions": len(prep.bank.texts), "groups": len(prep.groups),
                     "descriptions": len(descriptions), "sources": sorted(set(prep.train.sources)),
                     "prepare_seconds": round(prep_seconds, 1), "total_seconds": round(total_seconds, 1),
                     "stage_seconds": {k: v.get("seconds") for k, v in stages.items()},
                     "torch_threads": torch.get_num_threads(),
                     "device": "cuda" if torch.cuda.is_available() else "cpu"},
        "pipeline": asdict(opts.config),
        "search": previous.get("search", {"space": "shared_space", "fallback_threshold": 0.0,
                                          "cluster_filter_text": False, "cluster_filter_motion": False,
                                          "cluster_filter_describe": False}),
    }
    if previous.get("version") != config["version"]:
        for key in CHOSEN_FOR_WEIGHTS:
            config["search"].pop(key, None)
    (out / "config.json").write_text(json.dumps(config, indent=1) + "\n")
    write_training_report(out, config, stages)
    return config
