"""Stage 5: train the dance-to-text projector (VAE latent mu -> MiniLM space).

Cosine embedding loss: pull each window's prediction towards its caption's embedding (1 - cos) and
push the hardest in-batch negative (another group's caption) below cosine `margin` (0.2). Batches are
class-balanced: every group (or stage-2 cluster, `balance_by`) is equally likely to be drawn, so
frequent labels do not dominate. Adam with ReduceLROnPlateau on the validation loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from embedders.base import pick_device
from embedders.heads import DanceToText, DanceToTextConfig
from training.losses import cosine_embedding_losses
from training.stages.inputs import StageData, TrainingDataError, WindowSet, balanced_batches
from training.stages.loop import History, LoopConfig, ProgressCallback, Stage, fit, run_steps, seed_everything


@dataclass
class DanceToTextTrainConfig(LoopConfig):
    """Stage-5 training settings; `balance_by` is 'groups' or 'clusters'."""

    epochs: int = 40
    batch_size: int = 128
    lr: float = 1e-3
    patience: int = 6
    grad_clip: float = 1.0
    margin: float = 0.2
    negative_weight: float = 1.0
    balance_by: str = "groups"
    plateau_patience: int = 2


def _pairs(windows: WindowSet, text: torch.Tensor, win: np.ndarray, cap: np.ndarray) -> tuple[torch.Tensor, ...]:
    assert windows.mu is not None and windows.groups is not None
    w = torch.as_tensor(win)
    return windows.mu[w], text[torch.as_tensor(cap)], windows.groups[w].long(), torch.as_tensor(cap)


def train_dance_to_text(data: StageData, model: DanceToTextConfig | None = None,
                        cfg: DanceToTextTrainConfig | None = None, *, progress: ProgressCallback | None = None,
                        checkpoint: Path | None = None) -> tuple[DanceToText, History]:
    """Train :class:`DanceToText`; needs mu, groups and captions (and clusters if balancing by them)."""
    cfg = cfg or DanceToTextTrainConfig()
    if cfg.balance_by not in ("groups", "clusters"):
        raise TrainingDataError(f"balance_by must be 'groups' or 'clusters', not {cfg.balance_by!r}")
    text = data.need_text()
    for split in (data.train, data.val):
        split.need("mu", "groups", *(["clusters"] if cfg.balance_by == "clusters" else []))
    assert data.train.mu is not None
    model = model or DanceToTextConfig(latent=data.train.mu.shape[1], text_dim=text.shape[1])
    seed_everything(cfg.seed)
    device = pick_device(cfg.device)
    net = DanceToText(model).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=cfg.plateau_patience)
    weights = {"positive": 1.0, "negative": cfg.negative_weight}
    val_win, val_cap = data.val.all_pairs()
    order = np.random.default_rng(cfg.seed).permutation(len(val_win))
    val = _pairs(data.val, text, val_win[order], val_cap[order])
    balance = data.train.groups if cfg.balance_by == "groups" else data.train.clusters
    assert balance is not None

    def compute(batch: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
        mu, target, groups, caps = (b.to(device) for b in batch)
        return cosine_embedding_losses(net(mu), target, groups, caps, cfg.margin)

    def train_epoch(epoch: int, rng: np.random.Generator) -> dict[str, float]:
        win, cap = data.train.random_pairs(rng)
        pairs = _pairs(data.train, text, win, cap)
        labels = balance.cpu().numpy()[win]
        n_batches = math.ceil(len(win) / cfg.batch_size)
        batches = (tuple(t[torch.as_tensor(i)] for t in pairs)
                   for i in balanced_batches(labels, cfg.batch_size, n_batches, rng))
        return run_steps(batches, compute, lambda: weights, optimizer, cfg.grad_clip, net.parameters())

    def evaluate() -> dict[str, float]:
        batches = (tuple(t[i:i + cfg.batch_size] for t in val) for i in range(0, len(val[0]), cfg.batch_size))
        return run_steps(batches, compute, lambda: weights)

    stage = Stage("dance_to_text", {"dance_to_text": net}, optimizer, train_epoch, evaluate, scheduler,
                  after_epoch=lambda epoch, metrics: scheduler.step(metrics["loss"]))
    history = fit(stage, cfg, progress, checkpoint)
    return net.eval(), history
