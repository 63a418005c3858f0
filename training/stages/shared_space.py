"""Stage 7: the TMR-style shared motion-text space trained with a symmetric InfoNCE loss.

Pairs are (window, one of its captions), windows through the training set's `batch_fn`
(augmentation). With `instance_weight` > 0 a second augmented view of every training window is
embedded too and an instance-discrimination InfoNCE term asks each window to find its own other
view: caption-level alignment alone maps every window of a label set to one point, while search by
example needs the space to tell moments of one dance apart. With `motion_weight` > 0 (model v2) the two
views meet in a grouped motion-motion InfoNCE instead: a window's positives are its own other view and
every window of its group (same content and style, genre or description), so nearest neighbours share
what people mean by "moves alike" and survive the body/rig augmentations. In a batch, pair (i, j != i) is a negative only if the two windows are in different
groups and carry different captions: windows with the same labels are never pushed apart. The motion
encoder starts from the VAE encoder where shapes match. AdamW with a warm-up + cosine schedule
(OneCycle, cosine annealing), early stopping on validation loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from embedders.base import pick_device
from embedders.motion import DanceVAE
from embedders.spaces import SharedSpace, SharedSpaceConfig
from training.losses import grouped_motion_infonce, infonce_losses, instance_infonce
from training.stages.inputs import StageData, WindowSet, shuffled_batches
from training.stages.loop import History, LoopConfig, ProgressCallback, Stage, fit, run_steps, seed_everything


@dataclass
class SharedSpaceTrainConfig(LoopConfig):
    """Stage-7 training settings; `lr` is the schedule's peak."""

    epochs: int = 40
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_fraction: float = 0.05
    patience: int = 6
    grad_clip: float = 1.0
    temperature: float = 0.1
    instance_weight: float = 0.0
    motion_weight: float = 0.5  # grouped motion-motion InfoNCE over two views (search by example)


def _pair_batch(windows: WindowSet, text: torch.Tensor, win: np.ndarray, cap: np.ndarray, motion: torch.Tensor
                ) -> tuple[torch.Tensor, ...]:
    assert windows.groups is not None
    return motion, text[torch.as_tensor(cap)], windows.groups[torch.as_tensor(win)].long(), torch.as_tensor(cap)


def train_shared_space(data: StageData, vae: DanceVAE | None = None, model: SharedSpaceConfig | None = None,
                       cfg: SharedSpaceTrainConfig | None = None, *, progress: ProgressCallback | None = None,
                       checkpoint: Path | None = None) -> tuple[SharedSpace, History]:
    """Train a :class:`SharedSpace`; needs captions and groups on both splits."""
    cfg = cfg or SharedSpaceTrainConfig()
    text = data.need_text()
    for split in (data.train, data.val):
        split.need("groups")
    seed_everything(cfg.seed)
    device = pick_device(cfg.device)
    x = data.train.x
    model = model or SharedSpaceConfig(n_features=x.shape[2], seq_len=x.shape[1], text_dim=text.shape[1],
                                       hidden=vae.config.hidden if vae is not None else SharedSpaceConfig.hidden)
    data.check_windows(model.seq_len, model.n_features, "the shared-space config")
    space = SharedSpace(model)
    if vae is not None:
        space.init_from_vae(vae)
    space.to(device)
    optimizer = torch.optim.AdamW(space.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = cfg.epochs * max(1, len(data.train.captioned()) // cfg.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.lr, total_steps=steps + 1,
                                                    pct_start=cfg.warmup_fraction, anneal_strategy="cos")
    weights = {"motion_to_text": 0.5, "text_to_motion": 0.5}
    val_win, val_cap = data.val.all_pairs()
    order = np.random.default_rng(cfg.seed).permutation(len(val_win))
    val_win, val_cap = val_win[order], val_cap[order]

    train_weights = dict(weights)
    if cfg.instance_weight > 0:
        train_weights["instance"] = cfg.instance_weight
    if cfg.motion_weight > 0:
        train_weights["motion"] = cfg.motion_weight
    two_views = cfg.instance_weight > 0 or cfg.motion_weight > 0

    def compute(batch: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
        motion, t, groups, caps, *second = (b.to(device) for b in batch)
        m = space.embed_motion(motion)
        losses = infonce_losses(m, space.embed_text(t), cfg.temperature, groups, caps)
        if second:
            other = space.embed_motion(second[0])
            if cfg.instance_weight > 0:
                losses["instance"] = instance_infonce(m, other, cfg.temperature)
            if cfg.motion_weight > 0:
                losses["motion"] = grouped_motion_infonce(m, other, groups, cfg.temperature)
        return losses

    def train_batch(win: np.ndarray, cap: np.ndarray, rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
        batch = _pair_batch(data.train, text, win, cap, data.train.batch(win, rng))
        return (*batch, data.train.batch(win, rng)) if two_views else batch

    def train_epoch(epoch: int, rng: np.random.Generator) -> dict[str, float]:
        win, cap = data.train.random_pairs(rng)
        batches = (train_batch(win[i], cap[i], rng)
                   for i in shuffled_batches(len(win), cfg.batch_size, rng, drop_last=True))
        return run_steps(batches, compute, lambda: train_weights, optimizer, cfg.grad_clip, space.parameters(),
                         on_step=lambda: scheduler.step() if scheduler.last_epoch < steps else None)

    def evaluate() -> dict[str, float]:
        batches = (_pair_batch(data.val, text, val_win[i:i + cfg.batch_size], val_cap[i:i + cfg.batch_size],
                               data.val.x[torch.as_tensor(val_win[i:i + cfg.batch_size])])
                   for i in range(0, len(val_win), cfg.batch_size))
        return run_steps(batches, compute, lambda: weights)

    stage = Stage("shared_space", {"space": space}, optimizer, train_epoch, evaluate, scheduler)
    history = fit(stage, cfg, progress, checkpoint)
    return space.eval(), history

