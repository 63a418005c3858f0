"""Stage 6: train the text-to-dance generator in two phases through the VAE's decoder.

Phase a (reconstruction): the conditioning gets the caption embedding and the window's true latent
mu; the decoder (a copy of the trained VAE decoder) is frozen for the first third of the epochs, its
input and output layers are unfrozen for the second third and its GRU for the rest.
Phase b (text conditioning, the paper's; off by default since 2026-12-01): the latent comes from the
frozen stage-3 projector applied to the same caption embedding, the inference path of the paper's
`generate()`, so text alone yields motion. Generation now samples its latent from the latent prior (a
window's own kind of mu, not the projector's mean), which is phase a's input; phase b taught the generator
to make a text's average motion whatever the latent, and dropping it (12 epochs of phase a instead of 6 + 8)
raised val R@3 among 32 texts from 0.556 to 0.606 (docs/experiments.md, "Generation: the generator decodes
what the prior samples"); the paper's projector path is still run and reported (test R@3 0.516 -> 0.500
in the eval report, 0.484 -> 0.516 in the capability report's raw row: no clear change).
Loss: pose MSE + 0.5 velocity MSE + 1.0 detail (each feature's RMS acceleration matched in magnitude,
:func:`training.losses.pose_losses`: without it decoded motion is about twice as smooth as captured
motion; docs/experiments.md, "Generation's jerk"), optionally + ``foot_weight`` x the sliding of feet on the
floor (:func:`training.losses.foot_slide`; off by default, measured on val). Windows are the un-augmented
`x` (targets must match mu).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from embedders.base import pick_device
from embedders.generator import TextToDanceGenerator
from embedders.motion import DanceVAE
from embedders.text import TextProjector
from motion.normalize import Normalizer
from motion.skeleton import JOINT_INDEX
from training.losses import foot_slide, pose_losses
from training.stages.inputs import StageData, WindowSet, shuffled_batches
from training.stages.loop import History, LoopConfig, ProgressCallback, Stage, fit, run_steps, seed_everything

FEET = ((JOINT_INDEX["l_ankle"], JOINT_INDEX["l_toe"]), (JOINT_INDEX["r_ankle"], JOINT_INDEX["r_toe"]))


@dataclass
class GeneratorTrainConfig(LoopConfig):
    """Stage-6 settings; `epochs` and `patience` apply to each phase."""

    epochs: int = 12
    # 0: phase b off since the latent prior (docs/experiments.md, "Generation: the generator decodes what the
    # prior samples"); val R@3 0.556 (6 + 8 epochs) -> 0.606 (12 + 0), mean of 5 seeds
    phase_b_epochs: int = 0
    batch_size: int = 128
    lr: float = 1e-3
    patience: int = 3
    grad_clip: float = 1.0
    velocity_weight: float = 0.5
    foot_weight: float = 0.0  # 0.3 on val: generated walks skate half as much, R@3 0.08 lower (docs/experiments.md)
    detail_weight: float = 1.0  # val: jerk generated / real 0.41-0.42 at 0, 0.53-0.57 at 1, 0.57 at 3 (R@3 lower)


def set_trainable(gen: TextToDanceGenerator, epoch: int, n_epochs: int) -> None:
    """Progressive unfreezing in phase a: conditioning only, then decoder in/out layers, then its core
    (the GRU, or the convolutions)."""
    third = max(1, n_epochs // 3)
    gen.condition.requires_grad_(True)
    gen.decoder.input.requires_grad_(epoch >= third)
    gen.decoder.output.requires_grad_(epoch >= third)
    gen.decoder.core.requires_grad_(epoch >= 2 * third)


def _batch(windows: WindowSet, text: torch.Tensor, win: np.ndarray, cap: np.ndarray) -> tuple[torch.Tensor, ...]:
    assert windows.mu is not None
    w = torch.as_tensor(win)
    return text[torch.as_tensor(cap)], windows.mu[w], windows.x[w]


def train_generator(data: StageData, vae: DanceVAE, projector: TextProjector, cfg: GeneratorTrainConfig | None = None,
                    *, progress: ProgressCallback | None = None, checkpoint: Path | None = None,
                    normalizer: Normalizer | None = None) -> tuple[TextToDanceGenerator, History]:
    """Both phases; history keys are prefixed 'a:' and 'b:' (e.g. 'a:train/pose', 'b:val/loss')."""
    cfg = cfg or GeneratorTrainConfig()
    text = data.need_text()
    for split in (data.train, data.val):
        split.need("mu")
    seed_everything(cfg.seed)
    device = pick_device(cfg.device)
    gen = TextToDanceGenerator.from_stages(vae, projector).to(device)
    history: History = {}
    for phase, epochs in (("a", cfg.epochs), ("b", cfg.phase_b_epochs)):
        phase_cfg = _phase_cfg(cfg, epochs)
        stage = _phase_stage(phase, gen, data, text, cfg, device, normalizer)
        path = checkpoint.with_name(f"{checkpoint.stem}_{phase}{checkpoint.suffix}") if checkpoint else None
        for k, v in fit(stage, phase_cfg, progress, path).items():
            history[f"{phase}:{k}"] = v
    gen.requires_grad_(True)
    gen.projector.requires_grad_(False)
    return gen.eval(), history


def _phase_cfg(cfg: GeneratorTrainConfig, epochs: int) -> LoopConfig:
    return LoopConfig(epochs=epochs, batch_size=cfg.batch_size, lr=cfg.lr, patience=cfg.patience,
                      min_epochs=cfg.min_epochs, min_delta=cfg.min_delta, grad_clip=cfg.grad_clip,
                      seed=cfg.seed, device=cfg.device)


def _phase_stage(phase: str, gen: TextToDanceGenerator, data: StageData, text: torch.Tensor,
                 cfg: GeneratorTrainConfig, device: torch.device, normalizer: Normalizer | None) -> Stage:
    trainable = [p for name, p in gen.named_parameters() if not name.startswith("projector.")]
    optimizer = torch.optim.Adam(trainable, lr=cfg.lr)
    weights = {"pose": 1.0, "velocity": cfg.velocity_weight, "detail": cfg.detail_weight}
    stats = None
    if cfg.foot_weight:
        if normalizer is None:
            raise ValueError("foot_weight needs the normaliser (features back to metres)")
        stats = tuple(torch.as_tensor(a, device=device) for a in (normalizer.mean, normalizer.std))
        weights["foot"] = cfg.foot_weight
    val = _batch(data.val, text, *data.val.all_pairs())

    def compute(batch: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
        t, mu, x = (b.to(device) for b in batch)
        pred = gen(t, mu) if phase == "a" else gen.from_text(t)
        terms = pose_losses(pred, x)
        if stats is not None:
            terms["foot"] = foot_slide(pred, stats[0], stats[1], FEET)
        return terms

    def train_epoch(epoch: int, rng: np.random.Generator) -> dict[str, float]:
        if phase == "a":
            set_trainable(gen, epoch, cfg.epochs)
        else:
            for p in trainable:
                p.requires_grad_(True)
        pairs = _batch(data.train, text, *data.train.random_pairs(rng))
        batches = (tuple(t[i] for t in pairs) for i in shuffled_batches(len(pairs[0]), cfg.batch_size, rng))
        return run_steps(batches, compute, lambda: weights, optimizer, cfg.grad_clip, trainable)

    def evaluate() -> dict[str, float]:
        batches = (tuple(t[i:i + 512] for t in val) for i in range(0, len(val[0]), 512))
        return run_steps(batches, compute, lambda: weights)

    return Stage(f"generator_{phase}", {"generator": gen}, optimizer, train_epoch, evaluate)
