"""`dancesearch eval`: an honest retrieval report on a held-out split, with baselines in the same table.

The split's clips are ingested into an evaluation library of their own (the training library never
reads `test`), windows are embedded with the model, and every direction is measured against the
same relevance definition: a window is relevant when its clip has the query's labels (genre;
content + style; CMU description). Text queries are held-out phrasings (eval templates and
synonyms never used for training captions) plus hand-written free-form user queries.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from db.library import Library
from embedders.runtime import DanceSearchModel
from training.corpus import has_split, ingest_files, manifest_entries, select_files
from training.data import load_split
from training.eval_tasks import (
    EncodedSplit,
    caption_queries,
    motion_to_motion,
    motion_to_text,
    random_motion_to_motion,
    random_motion_to_text,
    random_text_to_motion,
    raw_feature_vectors,
    text_to_motion,
    user_queries,
)
from training.text.relevance import load_user_queries, try_label_key

log = logging.getLogger(__name__)

SPACES = (("InfoNCE space", "shared_space"), ("triplet space (paper)", "triplet"))


class EvalError(RuntimeError):
    """Evaluation cannot run (no model, no windows in the split)."""


@dataclass
class EvalOptions:
    model: Path
    corpus: Path
    split: str
    out: Path
    work: Path
    queries_per_key: int = 3
    seed: int = 1234
    workers: int = 2
    generation_samples: int = 64
    sources: tuple[str, ...] | None = None  # restrict to these sources (tests, quick runs)
    max_clips_per_source: int | None = None
    compare: Path | None = None  # a previous model directory, measured beside this one (v2 section)


def eval_library(opts: EvalOptions) -> Library:
    """Ingest the files with any part in the evaluated split into the evaluation library (idempotent)."""
    try:
        paths = select_files(opts.corpus, lambda e: has_split(e, opts.split), opts.sources,
                             opts.max_clips_per_source)
    except FileNotFoundError as exc:
        raise EvalError(str(exc)) from None
    lib, failed = ingest_files(opts.corpus, paths, opts.work / "library", opts.workers)
    if failed:
        raise EvalError(f"{failed} corpus files of split {opts.split!r} failed to ingest")
    return lib


def heldout_combinations(corpus: Path) -> set[str]:
    """Label keys of bandai-1 content x style combinations that appear only in `test`."""
    entries = manifest_entries(corpus)
    seen_train = {try_label_key(e["source"], e["labels"]) for e in entries
                  if e["source"] == "bandai-1" and e["split"] != "test"}
    return {k for e in entries if e["source"] == "bandai-1" and e["split"] == "test"
            and (k := try_label_key(e["source"], e["labels"])) and k not in seen_train}


def _space_rows(model: DanceSearchModel, split: EncodedSplit, cap_q, user_q, comp_q) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    for label, space in SPACES:
        m = model.with_space(space)
        vectors = m.embed_features(split.features)
        for filt in (False, True):
            name = f"{label}{' + cluster filter' if filt else ''}"
            rows[name] = {
                "text_to_motion": text_to_motion(m, split, cap_q, filt),
                "text_to_motion_user": text_to_motion(m, split, user_q, filt),
                "compositional": text_to_motion(m, split, comp_q, filt),
                "motion_to_text": motion_to_text(m, split, filt),
                "motion_to_motion": motion_to_motion(vectors, split, split.clusters if filt else None),
            }
    return rows


def evaluate(opts: EvalOptions) -> dict[str, Any]:
    """Compute every metric and write report.json and report.md into `opts.out`."""
    from training.eval_generation import evaluate_generation
    from training.eval_report import write_report

    t0 = time.perf_counter()
    model = DanceSearchModel(opts.model)
    lib = eval_library(opts)
    windows = load_split(lib, opts.split, model.window_size, opts.sources)
    if len(windows) == 0:
        raise EvalError(f"no windows in split {opts.split!r}")
    split = EncodedSplit.build(model, windows)
    held = heldout_combinations(opts.corpus)
    cap_q = caption_queries(split, opts.queries_per_key, opts.seed, held)
    comp = cap_q.compositional
    comp_q = type(cap_q)([t for t, c in zip(cap_q.texts, comp, strict=True) if c], cap_q.relevant[comp],
                         [k for k, c in zip(cap_q.keys, comp, strict=True) if c], comp[comp])
    user_q = user_queries(split, load_user_queries())
    rows: dict[str, Any] = {
        "random": {"text_to_motion": random_text_to_motion(cap_q),
                   "text_to_motion_user": random_text_to_motion(user_q),
                   "compositional": random_text_to_motion(comp_q),
                   "motion_to_text": random_motion_to_text(model, split),
                   "motion_to_motion": random_motion_to_motion(split)},
        "raw canonical features": {"motion_to_motion": motion_to_motion(raw_feature_vectors(split), split, None)},
        "VAE latent mu (stage 1)": {"motion_to_motion": motion_to_motion(vae_vectors(model, split), split, None)},
    }
    rows.update(_space_rows(model, split, cap_q, user_q, comp_q))
    report = {
        "model": {"name": model.name, "version": model.config["version"],
                  "code_version": model.config.get("code_version"),
                  "default_space": model.config.get("search", {}).get("space"),
                  "training": model.config.get("training", {})},
        "split": opts.split, "windows": len(windows), "clips": int(len(set(windows.clip_ids.tolist()))),
        "queries": {"captions": len(cap_q.texts), "user": len(user_q.texts), "compositional": len(comp_q.texts)},
        "rows": rows,
        "generation": evaluate_generation(model, split, opts.generation_samples, opts.seed),
        "v2": v2_section(model, split, rows, cap_q, user_q, opts),
        "seconds": 0.0,
    }
    report["seconds"] = round(time.perf_counter() - t0, 1)
    opts.out.mkdir(parents=True, exist_ok=True)
    (opts.out / "report.json").write_text(json.dumps(report, indent=1, default=_json_default) + "\n")
    write_report(report, opts.out / "report.md")
    return report


def v2_section(model: DanceSearchModel, split: EncodedSplit, rows: dict[str, Any], cap_q: Any, user_q: Any,
               opts: EvalOptions) -> dict[str, Any]:
    """Kinematic queries, grouped by-example precision, cross-rig retrieval and off-domain detection, for
    this model, the previous one (``opts.compare``) and raw pose features (see :mod:`training.eval_v2`)."""
    from training import eval_v2

    facts = eval_v2.window_fact_lists(split)
    kin_q = eval_v2.kinematic_queries(split, facts, opts.seed)
    in_domain = list(cap_q.texts) + list(user_q.texts)
    default = "InfoNCE space" if model.settings.get("space", "shared_space") == "shared_space" else "triplet space (paper)"
    raw = raw_feature_vectors(split)
    out: dict[str, Any] = {"kinematic_queries": len(kin_q.texts), "facts": sorted(set(kin_q.keys)),
                           "models": {}, "random_kinematic": random_text_to_motion(kin_q)}
    out["models"]["this model"] = {**eval_v2.model_rows(model, split, kin_q, in_domain),
                                   "user_R@1": rows[default]["text_to_motion_user"].get("R@1"),
                                   "perfume": {k: rows[default]["motion_to_motion"].get(k)
                                               for k in ("perfume_R@1", "perfume_R@5")}}
    out["models"]["raw pose features"] = {"grouped": eval_v2.grouped_precision(raw, split),
                                          "perfume": {k: rows["raw canonical features"]["motion_to_motion"].get(k)
                                                      for k in ("perfume_R@1", "perfume_R@5")}}
    embedders = {"this model": eval_v2.model_embedder(model), "raw pose features": eval_v2.raw_embedder(model)}
    galleries = {"this model": model.with_space(str(model.settings.get("space", "shared_space"))
                                                ).embed_features(split.features), "raw pose features": raw}
    if opts.compare is not None:
        prev = DanceSearchModel(opts.compare)
        prev_split = EncodedSplit.build(prev, split.windows)
        split.windows.normalise_body = model.body_normalised
        pm = prev.with_space(str(prev.settings.get("space", "shared_space")))
        prev_vectors = pm.embed_features(prev_split.features)
        from training.eval_tasks import motion_to_motion
        mm = motion_to_motion(prev_vectors, prev_split, None)
        out["models"]["previous model"] = {
            **eval_v2.model_rows(prev, prev_split, kin_q, in_domain),
            "user_R@1": text_to_motion(pm, prev_split, user_q, False).get("R@1"),
            "perfume": {k: mm.get(k) for k in ("perfume_R@1", "perfume_R@5")},
            "name": str(opts.compare)}
        embedders["previous model"] = eval_v2.model_embedder(prev)
        galleries["previous model"] = prev_vectors
    for name, result in eval_v2.cross_rig(split, embedders, galleries, opts.seed).items():
        out["models"][name]["cross_rig"] = result
    out["search_modes"] = eval_v2.search_modes(model, split)
    return out


def vae_vectors(model: DanceSearchModel, split: EncodedSplit) -> np.ndarray:
    """Stage-1 VAE means of the windows, L2-normalised (a motion -> motion candidate space)."""
    import torch

    with torch.no_grad():
        mu = model.vae.embed_mu(split.features).numpy()
    return mu / np.maximum(np.linalg.norm(mu, axis=1, keepdims=True), 1e-8)


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(type(o))
