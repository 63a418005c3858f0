"""Stage 7b: refit the shared space's text head on its frozen motion encoder (locked-motion tuning).

The joint stage (7) learns the motion encoder and the text head together from a few thousand caption
phrasings; its text head maps those phrasings well and other people's words for the same movement less
well. Here the motion encoder is locked (LiT, Zhai et al. 2022): every training window is embedded once,
clean and in ``views - 1`` augmented views (the training ``batch_fn``), and a fresh :class:`TextHead` is
trained with the same masked symmetric InfoNCE against those fixed vectors, with Gaussian noise (and
optionally dropout) on the MiniLM input, so a region of MiniLM space around each caption, not the caption
alone, lands near its motions. Because the motion side does not change, search by example, cross-rig
retrieval and every motion -> motion figure are untouched by this stage. It takes seconds: the motion encoder runs
``views`` times over the windows, then only a 384 -> 512 -> 256 MLP trains. Settings chosen on val
(docs/experiments.md, "Text head on the locked motion encoder").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from embedders.spaces import SharedSpace, TextHead, TextHeadConfig
from training.losses import infonce_losses
from training.stages.inputs import StageData, WindowSet, shuffled_batches
from training.stages.loop import History, LoopConfig, ProgressCallback, Stage, fit, run_steps, seed_everything

ENCODE_BATCH = 512


@dataclass
class TextHeadTrainConfig(LoopConfig):
    """Stage-7b settings; ``noise`` is the norm of the Gaussian noise added to a caption's MiniLM vector
    (relative to that vector's norm) before the head, ``views`` the motion views per window (1 clean)."""

    epochs: int = 40
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_fraction: float = 0.05
    patience: int = 40
    temperature: float = 0.1
    noise: float = 1.5
    views: int = 4


@torch.no_grad()
def locked_views(space: SharedSpace, windows: WindowSet, views: int, rng: np.random.Generator) -> torch.Tensor:
    """(views, N, D) motion vectors of every window: view 0 clean, the others through ``batch_fn``."""
    space.eval()
    device = next(space.parameters()).device  # where the joint stage left it (CUDA when it trained there)
    n = len(windows)
    out = []
    for v in range(views):
        parts = []
        for i in range(0, n, ENCODE_BATCH):
            idx = np.arange(i, min(n, i + ENCODE_BATCH))
            x = windows.x[torch.as_tensor(idx)] if v == 0 else windows.batch(idx, rng)
            parts.append(space.embed_motion(x.to(device)).cpu())
        out.append(torch.cat(parts) if parts else torch.zeros(0, space.dim))
    return torch.stack(out)


def noisy(text: torch.Tensor, noise: float) -> torch.Tensor:
    """``text`` plus isotropic Gaussian noise of expected norm ``noise`` times each row's norm."""
    if noise <= 0:
        return text
    norm = text.norm(dim=-1, keepdim=True)
    return F.normalize(text + noise * norm * torch.randn_like(text) / math.sqrt(text.shape[1]), dim=-1) * norm


def train_text_head(data: StageData, space: SharedSpace, model: TextHeadConfig | None = None,
                    cfg: TextHeadTrainConfig | None = None, *, progress: ProgressCallback | None = None,
                    checkpoint: Path | None = None) -> tuple[TextHead, History]:
    """A :class:`TextHead` for ``space`` (whose motion encoder stays as it is); needs captions and groups."""
    cfg = cfg or TextHeadTrainConfig()
    text = data.need_text()
    for split in (data.train, data.val):
        split.need("groups")
    seed_everything(cfg.seed)
    model = model or TextHeadConfig(text_dim=text.shape[1], dim=space.dim)
    if model.dim != space.dim:
        raise ValueError(f"text head dimension {model.dim} differs from the space's {space.dim}")
    motion_train = locked_views(space, data.train, max(1, cfg.views), np.random.default_rng(cfg.seed))
    motion_val = locked_views(space, data.val, 1, np.random.default_rng(cfg.seed))[0]
    head = TextHead(model)
    optimizer = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = cfg.epochs * max(1, len(data.train.captioned()) // cfg.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.lr, total_steps=steps + 1,
                                                    pct_start=cfg.warmup_fraction, anneal_strategy="cos")
    weights = {"motion_to_text": 0.5, "text_to_motion": 0.5}
    assert data.train.groups is not None and data.val.groups is not None
    groups_train, groups_val = data.train.groups.long(), data.val.groups.long()
    val_win, val_cap = data.val.all_pairs()

    def loss(m: torch.Tensor, t: torch.Tensor, groups: torch.Tensor, caps: np.ndarray) -> dict[str, torch.Tensor]:
        return infonce_losses(m, head(t), cfg.temperature, groups, torch.as_tensor(caps))

    def train_epoch(epoch: int, rng: np.random.Generator) -> dict[str, float]:
        win, cap = data.train.random_pairs(rng)
        view = rng.integers(0, motion_train.shape[0], len(win))
        batches = ((motion_train[view[i], win[i]], noisy(text[torch.as_tensor(cap[i])], cfg.noise),
                    groups_train[win[i]], cap[i])
                   for i in shuffled_batches(len(win), cfg.batch_size, rng, drop_last=True))
        return run_steps(batches, lambda b: loss(*b), lambda: weights, optimizer, cfg.grad_clip, head.parameters(),
                         on_step=lambda: scheduler.step() if scheduler.last_epoch < steps else None)

    def evaluate() -> dict[str, float]:
        batches = ((motion_val[val_win[i:i + cfg.batch_size]], text[torch.as_tensor(val_cap[i:i + cfg.batch_size])],
                    groups_val[val_win[i:i + cfg.batch_size]], val_cap[i:i + cfg.batch_size])
                   for i in range(0, len(val_win), cfg.batch_size))
        return run_steps(batches, lambda b: loss(*b), lambda: weights)

    stage = Stage("text_head", {"head": head}, optimizer, train_epoch, evaluate, scheduler)
    history = fit(stage, cfg, progress, checkpoint)
    return head.eval(), history
