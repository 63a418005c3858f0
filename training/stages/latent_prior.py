"""Stage 6b: train the text-conditioned latent prior (:class:`embedders.latent_prior.LatentPrior`).

Data: (caption embedding, window VAE mu) pairs, `draws_per_epoch` random captions per captioned train
window each epoch. Loss: flow matching with `p_uncond` of the texts replaced by the null embedding.
The learning rate is one function of the step (:func:`learning_rate`: linear warm-up, cosine decay to
10 %). Validation uses every val pair with noise fixed by a seeded generator, so its loss is comparable
across epochs (early stopping).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from embedders.base import pick_device
from embedders.latent_prior import LatentPrior, LatentPriorConfig
from training.stages.inputs import StageData, TrainingDataError, ordered_batches, shuffled_batches
from training.stages.loop import History, LoopConfig, ProgressCallback, Stage, fit, run_steps, seed_everything
from training.stages.text_projector import pair_tensors


@dataclass
class LatentPriorTrainConfig(LoopConfig):
    """Stage-6b training settings."""

    epochs: int = 40
    batch_size: int = 256
    lr: float = 1e-3
    patience: int = 6
    grad_clip: float = 1.0
    draws_per_epoch: int = 4
    p_uncond: float = 0.1
    warmup_steps: int = 200


def learning_rate(step: int, total: int, cfg: LatentPriorTrainConfig) -> float:
    """The learning rate at optimiser step `step` of `total`: linear warm-up, then cosine to 10 %."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps))
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress)))


def train_latent_prior(data: StageData, model: LatentPriorConfig | None = None,
                       cfg: LatentPriorTrainConfig | None = None, *, progress: ProgressCallback | None = None,
                       checkpoint: Path | None = None) -> tuple[LatentPrior, History]:
    """Train a :class:`LatentPrior` of the train windows' latents given their captions."""
    cfg = cfg or LatentPriorTrainConfig()
    text = data.need_text()
    data.train.need("mu")
    data.val.need("mu")
    assert data.train.mu is not None
    model = model or LatentPriorConfig(text_dim=text.shape[1], latent=data.train.mu.shape[1])
    if model.latent != data.train.mu.shape[1]:
        raise TrainingDataError(f"prior latent {model.latent} != VAE latent {data.train.mu.shape[1]}")
    seed_everything(cfg.seed)
    device = pick_device(cfg.device)
    net = LatentPrior(model)
    net.set_statistics(data.train.mu)
    net = net.to(device)
    optimizer = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=1e-4)
    steps_per_epoch = max(1, -(-len(data.train.captioned()) * cfg.draws_per_epoch // cfg.batch_size))
    total = cfg.epochs * steps_per_epoch
    step = [0]
    val_text, val_mu = pair_tensors(data, *data.val.all_pairs(), "val")

    def set_step(s: int) -> None:
        step[0] = s
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(s, total, cfg)

    def compute(batch: tuple[torch.Tensor, torch.Tensor], generator: torch.Generator | None = None
                ) -> dict[str, torch.Tensor]:
        t, mu = batch
        return {"flow": net.flow_loss(mu.to(device), t.to(device), cfg.p_uncond if net.training else 0.0,
                                      generator)}

    def train_epoch(epoch: int, rng: np.random.Generator) -> dict[str, float]:
        set_step(epoch * steps_per_epoch)
        draws = [data.train.random_pairs(rng) for _ in range(cfg.draws_per_epoch)]
        win = np.concatenate([w for w, _ in draws])
        cap = np.concatenate([c for _, c in draws])
        t, mu = pair_tensors(data, win, cap, "train")
        batches = ((t[i], mu[i]) for i in shuffled_batches(len(t), cfg.batch_size, rng))
        return run_steps(batches, compute, lambda: {"flow": 1.0}, optimizer, cfg.grad_clip, net.parameters(),
                         lambda: set_step(step[0] + 1))

    def evaluate() -> dict[str, float]:
        gen = torch.Generator().manual_seed(cfg.seed)
        batches = ((val_text[i], val_mu[i]) for i in ordered_batches(len(val_text), 2048))
        return run_steps(batches, lambda b: compute(b, gen), lambda: {"flow": 1.0})

    history = fit(Stage("latent_prior", {"prior": net}, optimizer, train_epoch, evaluate), cfg, progress, checkpoint)
    return net.eval(), history
