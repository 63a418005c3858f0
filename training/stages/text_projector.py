"""Stage 3: train the text projector (MiniLM embedding -> dance latent) on (window, caption) pairs.

Each epoch pairs every captioned training window with one of its captions at random; the target is
the window's VAE latent mu. Loss alpha * (1 - cos) + (1 - alpha) * MSE (alpha 0.5), Adam with cosine
annealing warm restarts (T0 = 10 epochs, stepped per batch), early stopping (patience 5). MiniLM is
never run here: the trainer receives its embeddings (`StageData.text_emb`) precomputed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from embedders.base import pick_device
from embedders.text import TextProjector, TextProjectorConfig
from training.losses import alignment_losses
from training.stages.inputs import StageData, TrainingDataError, ordered_batches, shuffled_batches
from training.stages.loop import History, LoopConfig, ProgressCallback, Stage, fit, run_steps, seed_everything


@dataclass
class TextProjectorTrainConfig(LoopConfig):
    """Stage-3 training settings."""

    epochs: int = 40
    batch_size: int = 128
    lr: float = 1e-3
    patience: int = 5
    grad_clip: float = 1.0
    alpha: float = 0.5
    restart_epochs: int = 10  # T0 of the warm restarts


def pair_tensors(data: StageData, win: np.ndarray, cap: np.ndarray, split: str) -> tuple[torch.Tensor, ...]:
    """(text embeddings, latents) for pairs of windows of `split` ('train' or 'val') and captions."""
    windows = data.train if split == "train" else data.val
    windows.need("mu")
    assert windows.mu is not None and data.text_emb is not None
    return data.text_emb[torch.as_tensor(cap)], windows.mu[torch.as_tensor(win)]


def train_text_projector(data: StageData, model: TextProjectorConfig | None = None,
                         cfg: TextProjectorTrainConfig | None = None, *, progress: ProgressCallback | None = None,
                         checkpoint: Path | None = None) -> tuple[TextProjector, History]:
    """Train a :class:`TextProjector` mapping caption embeddings to their windows' latents mu."""
    cfg = cfg or TextProjectorTrainConfig()
    text = data.need_text()
    data.train.need("mu")
    data.val.need("mu")
    assert data.train.mu is not None
    model = model or TextProjectorConfig(text_dim=text.shape[1], latent=data.train.mu.shape[1])
    if model.latent != data.train.mu.shape[1]:
        raise TrainingDataError(f"projector latent {model.latent} != VAE latent {data.train.mu.shape[1]}")
    seed_everything(cfg.seed)
    device = pick_device(cfg.device)
    net = TextProjector(model).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(optimizer, T_0=cfg.restart_epochs)
    weights = {"cosine": cfg.alpha, "mse": 1.0 - cfg.alpha}
    val_text, val_mu = pair_tensors(data, *data.val.all_pairs(), "val")

    def compute(batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        t, mu = batch
        return alignment_losses(net(t.to(device)), mu.to(device))

    def train_epoch(epoch: int, rng: np.random.Generator) -> dict[str, float]:
        t, mu = pair_tensors(data, *data.train.random_pairs(rng), "train")
        n_batches = max(1, -(-len(t) // cfg.batch_size))
        counter = [0]

        def on_step() -> None:
            counter[0] += 1
            scheduler.step(epoch + counter[0] / n_batches)

        batches = ((t[i], mu[i]) for i in shuffled_batches(len(t), cfg.batch_size, rng))
        return run_steps(batches, compute, lambda: weights, optimizer, cfg.grad_clip, net.parameters(), on_step)

    def evaluate() -> dict[str, float]:
        batches = ((val_text[i], val_mu[i]) for i in ordered_batches(len(val_text), 1024))
        return run_steps(batches, compute, lambda: weights)

    history = fit(Stage("text_projector", {"projector": net}, optimizer, train_epoch, evaluate, scheduler),
                  cfg, progress, checkpoint)
    return net.eval(), history
