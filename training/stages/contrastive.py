"""Stage 4: contrastive projection heads trained with a cluster-aware batch-hard triplet loss.

Pairs are (window, one of its captions). The dance head sees the window's VAE latent mu, the text
head the stage-3 projector's latent of the caption (computed once; the projector is frozen). A dance
carries its window's stage-2 cluster; a caption the majority cluster of the windows it describes (a
text embedding is one point, so it can belong to one cluster only: giving it each window's cluster
asks the same point to be near and far at once, and the heads collapse). Positives share the
anchor's cluster, negatives do not; hardest positive and hardest negative by Euclidean distance,
margin 1.0, both anchor directions. SGD (momentum 0.9), lr halved every 50
epochs, gradient clipping 0.1, mixed precision on CUDA only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from embedders.base import batched_apply, pick_device
from embedders.heads import ProjectionHeads, ProjectionHeadsConfig
from embedders.text import TextProjector
from training.clustering import caption_clusters
from training.losses import triplet_losses
from training.stages.inputs import StageData, TrainingDataError, WindowSet, shuffled_batches
from training.stages.loop import History, LoopConfig, ProgressCallback, Stage, fit, run_steps, seed_everything


@dataclass
class HeadsTrainConfig(LoopConfig):
    """Stage-4 training settings."""

    epochs: int = 150
    batch_size: int = 256
    # paper 1e-3; with clipping at 0.1 the heads hardly moved from their (collapsed) start in our runs:
    # on 4k corpus windows 5e-2 gave 82 % top-1 cluster agreement against 25 % for 1e-3
    lr: float = 5e-2
    momentum: float = 0.9
    halve_every: int = 50
    patience: int = 20
    grad_clip: float = 0.1
    margin: float = 1.0


def _pairs(windows: WindowSet, text_latent: torch.Tensor, text_clusters: torch.Tensor, win: np.ndarray,
           cap: np.ndarray) -> tuple[torch.Tensor, ...]:
    assert windows.mu is not None and windows.clusters is not None
    w, c = torch.as_tensor(win), torch.as_tensor(cap)
    return windows.mu[w], text_latent[c], windows.clusters[w].cpu().long(), text_clusters[c]


def text_clusters_of(data: StageData) -> torch.Tensor:
    """Each caption's cluster: majority over its training windows, else over its validation windows."""
    assert data.text_emb is not None and data.train.clusters is not None and data.val.clusters is not None
    n = len(data.text_emb)
    labels = caption_clusters(data.train.captions or [], data.train.clusters.cpu().numpy(), n)
    from_val = caption_clusters(data.val.captions or [], data.val.clusters.cpu().numpy(), n)
    return torch.as_tensor(np.where(labels >= 0, labels, from_val))


def train_projection_heads(data: StageData, projector: TextProjector, model: ProjectionHeadsConfig | None = None,
                           cfg: HeadsTrainConfig | None = None, *, progress: ProgressCallback | None = None,
                           checkpoint: Path | None = None) -> tuple[ProjectionHeads, History]:
    """Train :class:`ProjectionHeads` on train pairs; needs mu, clusters and captions on both splits."""
    cfg = cfg or HeadsTrainConfig()
    text = data.need_text()
    for split in (data.train, data.val):
        split.need("mu", "clusters")
    assert data.train.mu is not None
    model = model or ProjectionHeadsConfig(dim=data.train.mu.shape[1])
    if model.dim != data.train.mu.shape[1] or projector.config.latent != model.dim:
        raise TrainingDataError(f"heads dim {model.dim}, VAE latent {data.train.mu.shape[1]} and projector "
                                f"latent {projector.config.latent} must be equal")
    seed_everything(cfg.seed)
    device = pick_device(cfg.device)
    text_latent = batched_apply(projector.eval(), text, 4096, next(projector.parameters()).device)
    heads = ProjectionHeads(model).to(device)
    optimizer = torch.optim.SGD(heads.parameters(), lr=cfg.lr, momentum=cfg.momentum)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=cfg.halve_every, gamma=0.5)
    amp = device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda") if amp else None
    val_win, val_cap = data.val.all_pairs()
    val_order = np.random.default_rng(cfg.seed).permutation(len(val_win))  # mixed clusters in every batch
    text_clusters = text_clusters_of(data)
    val = _pairs(data.val, text_latent, text_clusters, val_win[val_order], val_cap[val_order])
    weights = {"dance_anchor": 1.0, "text_anchor": 1.0}

    def compute(batch: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
        mu, tl, dance_clusters, text_clusters = (b.to(device) for b in batch)
        with torch.autocast(device_type=device.type, enabled=amp):
            dance, txt = heads.dance(mu), heads.text(tl)
        return triplet_losses(dance.float(), txt.float(), dance_clusters, text_clusters, cfg.margin)

    def train_epoch(epoch: int, rng: np.random.Generator) -> dict[str, float]:
        pairs = _pairs(data.train, text_latent, text_clusters, *data.train.random_pairs(rng))
        batches = (tuple(t[i] for t in pairs)
                   for i in shuffled_batches(len(pairs[0]), cfg.batch_size, rng, drop_last=True))
        return run_steps(batches, compute, lambda: weights, optimizer, cfg.grad_clip, heads.parameters(),
                         scaler=scaler)

    def evaluate() -> dict[str, float]:
        batches = (tuple(t[i:i + cfg.batch_size] for t in val) for i in range(0, len(val[0]), cfg.batch_size))
        return run_steps(batches, compute, lambda: weights)

    stage = Stage("projection_heads", {"heads": heads}, optimizer, train_epoch, evaluate, scheduler,
                  after_epoch=lambda epoch, metrics: scheduler.step())
    history = fit(stage, cfg, progress, checkpoint)
    return heads.eval(), history
