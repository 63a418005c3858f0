"""`dancesearch train`: the seven stages in order, resumable per stage, into one model directory.

Reads the corpus through the product's own ingest (into a work library, so the model sees exactly
what a user's library holds), builds captions and the frozen MiniLM embeddings once, then trains:
1 VAE, 2 clustering, 3 text projector, 4 triplet heads, 5 dance-to-text, 6 generator (and its
text-conditioned latent prior, which samples the latent a text's windows have instead of their mean),
7 InfoNCE space.
A stage whose outputs are already in the model directory (and listed in ``stages.json``) is loaded,
not retrained, so a killed run resumes where it stopped; inside a stage, epochs resume from the
stage's checkpoint in the work directory. Only `train` windows train; `val` windows early-stop.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from db.library import Library
from embedders.heads import DanceToText, ProjectionHeads
from embedders.motion import DanceVAE
from embedders.spaces import SharedSpace, TextHead
from embedders.text import TextProjector
from motion.augment import AugmentConfig
from motion.normalize import Normalizer
from training.clustering import Clustering, cluster_latents
from training.corpus import ingest_files, select_files
from training.data import (
    CaptionBank,
    SplitWindows,
    add_kinematic_captions,
    group_ids,
    load_split,
    make_batch_fn,
    sided_windows,
    window_kinematic_facts,
    window_set,
)
from training.stages.config import PipelineConfig
from training.stages.contrastive import train_projection_heads
from training.stages.dance_to_text import train_dance_to_text
from training.stages.generator import train_generator
from training.stages.inputs import StageData
from training.stages.latent_prior import train_latent_prior
from training.stages.loop import changed_settings, seed_everything
from training.stages.shared_space import train_shared_space
from training.stages.text_head import train_text_head
from training.stages.text_projector import train_text_projector
from training.stages.vae import encode_latents, train_vae
from training.textcache import TextEmbeddingCache

log = logging.getLogger(__name__)

STAGES = ("vae", "clusters", "projector", "heads", "dance_to_text", "generator", "latent_prior", "shared_space",
          "text_head")


class TrainError(RuntimeError):
    """Training cannot start or continue (missing corpus, empty split, inconsistent resume)."""


@dataclass
class TrainOptions:
    """What to train from, where to, and how."""

    corpus: Path
    out: Path
    work: Path
    config: PipelineConfig = field(default_factory=PipelineConfig)
    seed: int = 0
    captions_per_clip: int = 24
    window: int = 50
    stride: int = 20
    workers: int = 2
    sources: tuple[str, ...] | None = None  # restrict to these sources (tests, quick runs)
    max_clips_per_source: int | None = None  # restrict clip count per source (tests)
    augment: AugmentConfig = field(default_factory=lambda: AugmentConfig(
        max_bone_scale=0.1, max_joint_jitter_m=0.02, max_tilt_deg=5.0))
    normalise_body: bool = True          # features scaled to one body size (model config: features)
    kinematic_captions: int = 8          # captions per window from its joints (training.text.kinematics)


@dataclass
class Prepared:
    """Everything the stages consume, built once per run."""

    library: Library
    train: SplitWindows
    val: SplitWindows
    normalizer: Normalizer
    bank: CaptionBank
    data: StageData
    groups: dict[str, int]


def prepare_library(opts: TrainOptions) -> Library:
    """Ingest the training files of the corpus (never a `test` file) into the work library; idempotent."""
    try:
        paths = select_files(opts.corpus, lambda e: e["split"] != "test", opts.sources, opts.max_clips_per_source)
    except FileNotFoundError as exc:
        raise TrainError(str(exc)) from None
    lib, failed = ingest_files(opts.corpus, paths, opts.work / "library", opts.workers)
    if failed:
        raise TrainError(f"{failed} corpus files failed to ingest; see `dancesearch errors "
                         f"--data-dir {opts.work / 'library'}`")
    return lib


def prepare(opts: TrainOptions, encoder: TextEmbeddingCache) -> Prepared:
    """Library, windows, normaliser, captions and their embeddings, as trainer inputs."""
    lib = prepare_library(opts)
    train = load_split(lib, "train", opts.window, opts.sources, opts.normalise_body)
    val = load_split(lib, "val", opts.window, opts.sources, opts.normalise_body)
    if len(train) == 0 or len(val) == 0:
        raise TrainError(f"need train and val windows, found {len(train)} and {len(val)}")
    normalizer = Normalizer.fit(train.features())
    bank = CaptionBank()
    caps_train = bank.caption_clips(train, opts.captions_per_clip, opts.seed)
    caps_val = bank.caption_clips(val, max(4, opts.captions_per_clip // 4), opts.seed + 1)
    facts_train, sided = window_kinematic_facts(train), None
    if opts.kinematic_captions > 0:
        caps_train = add_kinematic_captions(bank, caps_train, facts_train, opts.kinematic_captions, opts.seed)
        caps_val = add_kinematic_captions(bank, caps_val, window_kinematic_facts(val),
                                          max(2, opts.kinematic_captions // 4), opts.seed + 1)
        sided = sided_windows(facts_train)
    vocab: dict[str, int] = {}
    g_train, g_val = group_ids(train.keys, vocab), group_ids(val.keys, vocab)
    text_emb = encoder.encode(bank.texts)
    batch_fn = make_batch_fn(train, normalizer, opts.augment, sided)
    data = StageData(train=window_set(train, normalizer, caps_train, g_train, batch_fn),
                     val=window_set(val, normalizer, caps_val, g_val), text_emb=text_emb)
    log.info("training data: %d train / %d val windows, %d captions, %d groups",
             len(train), len(val), len(bank.texts), len(vocab))
    return Prepared(lib, train, val, normalizer, bank, data, vocab)


STAGE_SECTIONS = {"vae": ("vae", "vae_train"), "clusters": ("clusters",), "projector": ("projector", "projector_train"),
                  "heads": ("heads", "heads_train"), "dance_to_text": ("dance_to_text", "dance_to_text_train"),
                  "generator": ("generator_train",), "latent_prior": ("latent_prior", "latent_prior_train"),
                  "shared_space": ("shared_space", "shared_space_train"),
                  "text_head": ("text_head", "text_head_train")}
"""The sections of :class:`PipelineConfig` each stage is trained with (recorded in ``stages.json``)."""


def _flat(sections: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``{"section.key": value}`` of a stage's recorded config sections."""
    return {f"{s}.{k}": v for s, values in sections.items() for k, v in values.items()}


class StageLog:
    """``stages.json`` in the model directory: which stages are done, their time, history and settings.

    A finished stage records the config sections it was trained with (``device`` aside); a later run with
    other settings for it is refused rather than silently given the old stage (stages recorded before
    settings were kept are loaded unchecked)."""

    def __init__(self, out: Path, config: PipelineConfig | None = None) -> None:
        self.path = out / "stages.json"
        self.state: dict[str, Any] = json.loads(self.path.read_text()) if self.path.exists() else {}
        self.config = config

    def settings(self, stage: str) -> dict[str, Any] | None:
        """This run's settings of ``stage`` as stored in ``stages.json`` (None without a config)."""
        if self.config is None or stage not in STAGE_SECTIONS:
            return None
        raw = {s: {k: v for k, v in asdict(getattr(self.config, s)).items() if k != "device"}
               for s in STAGE_SECTIONS[stage]}
        return dict(json.loads(json.dumps(raw)))

    def done(self, stage: str) -> bool:
        """Whether ``stage`` is finished; raises :class:`TrainError` when it was trained with other settings."""
        entry = self.state.get(stage, {})
        if not entry.get("done"):
            return False
        stored, now = entry.get("settings"), self.settings(stage)
        if stored is not None and now is not None and stored != now:
            changed = changed_settings(_flat(stored), _flat(now))
            raise TrainError(f"{self.path}: stage {stage} was trained with other settings ({', '.join(changed)}); "
                             f"train into a new --out folder, or remove the {stage} entry of stages.json (and the "
                             f"later stages') to train it again")
        return True

    def finish(self, stage: str, seconds: float, history: dict[str, list[float]] | None = None,
               extra: dict[str, Any] | None = None) -> None:
        settings = self.settings(stage)
        self.state[stage] = {"done": True, "seconds": round(seconds, 2), "history": history or {},
                             **({"settings": settings} if settings is not None else {}), **(extra or {})}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state, indent=1) + "\n")
        tmp.replace(self.path)


def run_stage(name: str, log_: StageLog, train: Callable[[], tuple[Any, dict[str, list[float]]]],
              load: Callable[[], Any], save: Callable[[Any], None], extra: Callable[[Any], dict] | None = None
              ) -> Any:
    """Load a finished stage, or train it, save its outputs and mark it done."""
    if log_.done(name):
        log.info("stage %s already trained: loading", name)
        return load()
    t0 = time.perf_counter()
    result, history = train()
    save(result)
    log_.finish(name, time.perf_counter() - t0, history, extra(result) if extra else None)
    return result


def cluster_stage(prep: Prepared, mu_train: torch.Tensor, mu_val: torch.Tensor, cfg: PipelineConfig,
                  out: Path, log_: StageLog) -> Clustering:
    """Stage 2: K-means with K by silhouette; cluster descriptions from the exemplars' labels."""
    from training.clusters_io import describe_clusters, load_clustering, save_clustering

    def train() -> tuple[Clustering, dict[str, list[float]]]:
        clu = cluster_latents(mu_train.numpy(), cfg.clusters)
        return clu, {}

    def save(clu: Clustering) -> None:
        save_clustering(clu, describe_clusters(clu, prep.train), out / "clusters.json")

    return run_stage("clusters", log_, train, lambda: load_clustering(out / "clusters.json", mu_train.numpy()),
                     save, lambda c: {"k": c.k, "silhouette": {str(k): v for k, v in c.silhouette.items()}})


def nearest_centroid(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    d = ((x[:, None, :] - centroids[None]) ** 2).sum(-1)
    return d.argmin(1)


NORMALIZER_TOLERANCE = 1e-5
"""How far (relative, and absolute in feature units) a resumed run's fitted normaliser may differ from the
stored one: the same training windows in another order differ by float rounding (6e-8 seen)."""


def keep_normalizer(path: Path, fitted: Normalizer, log_: StageLog) -> None:
    """Write the normaliser fitted on this run's training windows, unless stages trained with a stored one
    are being resumed: then the stored file stays as it is, so a resume that adds or retrains only later
    stages (the generator, the latent prior) keeps the model version and every index built with it. A
    stored normaliser that differs beyond float rounding means the training data changed: resuming would
    mix two normalisations, so it is refused."""
    if not (path.exists() and log_.state.get("vae", {}).get("done")):
        fitted.save(path)
        return
    stored = Normalizer.load(path)
    tol = NORMALIZER_TOLERANCE
    if not (np.allclose(stored.mean, fitted.mean, rtol=tol, atol=tol)
            and np.allclose(stored.std, fitted.std, rtol=tol, atol=tol)):
        raise TrainError(f"{path}: the stored feature normaliser differs from the one fitted on this run's "
                         "training windows (the training data changed since its stages were trained); train "
                         "into a new --out folder")


def train_all(opts: TrainOptions, progress: Callable[[str, int, int, dict[str, float]], None] | None = None
              ) -> dict[str, Any]:
    """Train every stage (resuming finished ones) and write the model directory; returns the stage log."""
    from training.model_dir import write_model_dir

    seed_everything(opts.seed)
    opts.out.mkdir(parents=True, exist_ok=True)
    ckpt = opts.work / "checkpoints"
    ckpt.mkdir(parents=True, exist_ok=True)
    cfg = opts.config
    t_start = time.perf_counter()
    encoder = TextEmbeddingCache(opts.work / "text_cache.npz")
    t0 = time.perf_counter()
    prep = prepare(opts, encoder)
    encoder.save()
    prep_seconds = time.perf_counter() - t0
    log_ = StageLog(opts.out, cfg)
    keep_normalizer(opts.out / "normalizer.npz", prep.normalizer, log_)
    data = prep.data

    vae = run_stage("vae", log_,
                    lambda: train_vae(data, cfg.vae, cfg.vae_train, progress=progress, checkpoint=ckpt / "vae.pt"),
                    lambda: DanceVAE.load(opts.out, "vae"), lambda m: m.save(opts.out, "vae"))
    vae.eval()
    mu_train, mu_val = encode_latents(vae, data.train.x), encode_latents(vae, data.val.x)
    data = data.with_latents(mu_train, mu_val)
    clu = cluster_stage(prep, mu_train, mu_val, cfg, opts.out, log_)
    data = data.with_clusters(torch.as_tensor(clu.labels, dtype=torch.long),
                              torch.as_tensor(nearest_centroid(mu_val.numpy(), clu.centroids), dtype=torch.long))
    projector = run_stage(
        "projector", log_,
        lambda: train_text_projector(data, cfg.projector, cfg.projector_train, progress=progress,
                                     checkpoint=ckpt / "projector.pt"),
        lambda: TextProjector.load(opts.out, "projector"), lambda m: m.save(opts.out, "projector"))
    run_stage("heads", log_,
              lambda: train_projection_heads(data, projector, cfg.heads, cfg.heads_train, progress=progress,
                                             checkpoint=ckpt / "heads.pt"),
              lambda: ProjectionHeads.load(opts.out, "heads"), lambda m: m.save(opts.out, "heads"))
    run_stage("dance_to_text", log_,
              lambda: train_dance_to_text(data, cfg.dance_to_text, cfg.dance_to_text_train, progress=progress,
                                          checkpoint=ckpt / "dance_to_text.pt"),
              lambda: DanceToText.load(opts.out, "dance_to_text"), lambda m: m.save(opts.out, "dance_to_text"))
    from embedders.generator import TextToDanceGenerator
    run_stage("generator", log_,
              lambda: train_generator(data, vae, projector, cfg.generator_train, progress=progress,
                                      checkpoint=ckpt / "generator.pt", normalizer=prep.normalizer),
              lambda: TextToDanceGenerator.load(opts.out, "generator"), lambda m: m.save(opts.out, "generator"))
    from embedders.latent_prior import LatentPrior
    run_stage("latent_prior", log_,
              lambda: train_latent_prior(data, cfg.latent_prior, cfg.latent_prior_train, progress=progress,
                                         checkpoint=ckpt / "latent_prior.pt"),
              lambda: LatentPrior.load(opts.out, "latent_prior"), lambda m: m.save(opts.out, "latent_prior"))
    space = run_stage("shared_space", log_,
                      lambda: train_shared_space(data, vae, cfg.shared_space, cfg.shared_space_train,
                                                 progress=progress, checkpoint=ckpt / "shared_space.pt"),
                      lambda: SharedSpace.load(opts.out, "shared_space"), lambda m: m.save(opts.out, "shared_space"))
    run_stage("text_head", log_,
              lambda: train_text_head(data, space, cfg.text_head, cfg.text_head_train,
                                      progress=progress, checkpoint=ckpt / "text_head.pt"),
              lambda: TextHead.load(opts.out, "text_head"), lambda m: m.save(opts.out, "text_head"))
    write_model_dir(opts, prep, encoder, prep_seconds, time.perf_counter() - t_start)
    encoder.save()
    return log_.state
