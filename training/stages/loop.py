"""The epoch loop every stage trainer shares: early stopping, best-weights restore, history, progress, resume.

A stage describes itself as a :class:`Stage` (its modules, optimizer, scheduler, and two functions:
one training epoch and one validation pass, each returning a dict of mean loss terms with a "loss"
total). :func:`fit` runs epochs until `epochs` or `patience` epochs without a validation improvement,
restores the best weights, and returns the history: `{"train/<term>": [...], "val/<term>": [...],
"lr": [...], "seconds": [...]}`, one value per epoch. With a `checkpoint` path it saves model,
optimizer, scheduler, epoch, history and RNG states after every epoch (torch.save of plain
tensors/containers) and resumes from that file when it exists (loaded with `weights_only=True`).
"""

from __future__ import annotations

import copy
import logging
import math
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from training.losses import Losses, combine

log = logging.getLogger(__name__)

History = dict[str, list[float]]
RESUMABLE_CHANGES = frozenset({"patience", "min_epochs", "device"})
"""Settings a resumed stage may change (when to stop early, where to run); any other change, the number of
epochs included (learning-rate schedules are laid out over it), means the checkpoint belongs to another run."""


class CheckpointError(RuntimeError):
    """A stage checkpoint cannot be resumed: it was written with other settings."""


def changed_settings(saved: dict[str, Any], now: dict[str, Any], ignore: frozenset[str] = frozenset()) -> list[str]:
    """``"key old -> new"`` for every key (sorted) whose value differs between two flat settings dicts, the
    keys in ``ignore`` aside: what a refused resume tells the user."""
    return [f"{k} {saved.get(k)!r} -> {now.get(k)!r}" for k in sorted(set(saved) | set(now))
            if k not in ignore and saved.get(k) != now.get(k)]

ProgressCallback = Callable[[str, int, int, dict[str, float]], None]
"""Called after every epoch with (stage name, epoch number from 1, total epochs, metrics)."""


@dataclass
class LoopConfig:
    """Settings every stage shares; stage configs extend it."""

    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    patience: int = 5
    min_epochs: int = 0  # no early stop before this many epochs
    min_delta: float = 0.0
    grad_clip: float = 1.0
    seed: int = 0
    device: str | None = None  # None: CUDA when available, else CPU


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class Stage:
    """What :func:`fit` needs from one stage."""

    name: str
    modules: dict[str, nn.Module]
    optimizer: torch.optim.Optimizer
    train_epoch: Callable[[int, np.random.Generator], dict[str, float]]
    evaluate: Callable[[], dict[str, float]]
    scheduler: Any = None
    after_epoch: Callable[[int, dict[str, float]], None] | None = None


def run_steps(batches: Iterable[Any], compute: Callable[[Any], Losses], weights: Callable[[], dict[str, float]],
              optimizer: torch.optim.Optimizer | None = None, clip: float = 0.0,
              params: Iterable[nn.Parameter] = (), on_step: Callable[[], None] | None = None,
              scaler: Any = None) -> dict[str, float]:
    """One pass: per batch, losses -> weighted total -> (if `optimizer`) backward, clip, step.

    Returns the mean of every term and of the total ("loss"), weighted by batch count. Without an
    optimizer it runs under `torch.no_grad()` (validation). `on_step` runs after each optimizer step
    (per-batch schedulers). `scaler` is a `torch.amp.GradScaler` for mixed precision.
    """
    params = list(params)
    sums: dict[str, float] = {}
    n = 0
    for batch in batches:
        with torch.set_grad_enabled(optimizer is not None):
            terms = compute(batch)
            total = combine(terms, weights())
        if optimizer is not None:
            _step(total, optimizer, params, clip, scaler)
            if on_step is not None:
                on_step()
        for k, v in {**terms, "loss": total}.items():
            sums[k] = sums.get(k, 0.0) + float(v.detach())
        n += 1
    return {k: v / max(n, 1) for k, v in sums.items()}


def _step(total: torch.Tensor, optimizer: torch.optim.Optimizer, params: list[nn.Parameter], clip: float,
          scaler: Any) -> None:
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(total).backward()
        scaler.unscale_(optimizer)
    else:
        total.backward()
    if clip > 0:
        torch.nn.utils.clip_grad_norm_([p for p in params if p.grad is not None], clip)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()


def fit(stage: Stage, cfg: LoopConfig, progress: ProgressCallback | None = None,
        checkpoint: Path | None = None) -> History:
    """Train `stage` for up to `cfg.epochs` epochs with early stopping; returns the per-epoch history."""
    state = _initial_state()
    if checkpoint is not None and checkpoint.is_file():
        state = _resume(stage, checkpoint, cfg)
        log.info("%s: resuming at epoch %d from %s", stage.name, state["epoch"] + 1, checkpoint)
    rng = np.random.default_rng(cfg.seed)
    if "rng" in state:
        rng.bit_generator.state = state["rng"]
    bar = _progress_bar(stage.name, cfg.epochs, state["epoch"], progress)
    while state["epoch"] < cfg.epochs and not state["stopped"]:
        metrics = _one_epoch(stage, state["epoch"], rng)
        _record(state, metrics, stage, cfg)
        if checkpoint is not None:
            _save(stage, state, rng, cfg, checkpoint)
        _report(bar, progress, stage.name, state["epoch"], cfg.epochs, metrics)
    if bar is not None:
        bar.close()
    if state["best_state"] is not None:
        for name, module in stage.modules.items():
            module.load_state_dict(state["best_state"][name])
    return state["history"]


def _initial_state() -> dict[str, Any]:
    return {"epoch": 0, "history": {}, "best": math.inf, "best_state": None, "bad": 0, "stopped": False}


def _one_epoch(stage: Stage, epoch: int, rng: np.random.Generator) -> dict[str, float]:
    start = time.perf_counter()
    for module in stage.modules.values():
        module.train()
    train = stage.train_epoch(epoch, rng)
    for module in stage.modules.values():
        module.eval()
    val = stage.evaluate()
    if stage.after_epoch is not None:
        stage.after_epoch(epoch, val)
    metrics = {f"train/{k}": v for k, v in train.items()} | {f"val/{k}": v for k, v in val.items()}
    metrics["lr"] = float(stage.optimizer.param_groups[0]["lr"])
    metrics["seconds"] = time.perf_counter() - start
    return metrics


def _record(state: dict[str, Any], metrics: dict[str, float], stage: Stage, cfg: LoopConfig) -> None:
    for k, v in metrics.items():
        state["history"].setdefault(k, []).append(v)
    val = metrics["val/loss"]
    if val < state["best"] - cfg.min_delta:
        state["best"], state["bad"] = val, 0
        state["best_state"] = {n: copy.deepcopy(m.state_dict()) for n, m in stage.modules.items()}
    else:
        state["bad"] += 1
        state["stopped"] = state["bad"] >= cfg.patience and state["epoch"] + 1 >= cfg.min_epochs
        if state["stopped"]:
            log.info("%s: early stop after epoch %d (best val %.4f)", stage.name, state["epoch"] + 1,
                     state["best"])
    state["epoch"] += 1


def _save(stage: Stage, state: dict[str, Any], rng: np.random.Generator, cfg: LoopConfig, path: Path) -> None:
    payload = {
        "modules": {n: m.state_dict() for n, m in stage.modules.items()},
        "optimizer": stage.optimizer.state_dict(),
        "scheduler": stage.scheduler.state_dict() if stage.scheduler is not None else None,
        "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
        "config": asdict(cfg), **state,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


def _resume(stage: Stage, path: Path, cfg: LoopConfig) -> dict[str, Any]:
    payload = torch.load(path, map_location="cpu", weights_only=True)
    changed = changed_settings(payload.get("config") or {}, asdict(cfg), RESUMABLE_CHANGES)
    if changed:
        raise CheckpointError(f"{path}: this {stage.name} checkpoint was written with other settings "
                              f"({', '.join(changed)}); "
                              "delete it to train the stage afresh, or train with the settings it was written with")
    for name, module in stage.modules.items():
        module.load_state_dict(payload["modules"][name])
    stage.optimizer.load_state_dict(payload["optimizer"])
    if stage.scheduler is not None and payload["scheduler"] is not None:
        stage.scheduler.load_state_dict(payload["scheduler"])
    torch.set_rng_state(payload["torch_rng"])
    keys = ("epoch", "history", "best", "best_state", "bad", "stopped", "rng")
    return {k: payload[k] for k in keys}


def _progress_bar(name: str, total: int, done: int, progress: ProgressCallback | None) -> Any:
    if progress is not None:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=done, desc=name, unit="epoch", disable=None, dynamic_ncols=True)


def _report(bar: Any, progress: ProgressCallback | None, name: str, epoch: int, total: int,
            metrics: dict[str, float]) -> None:
    if progress is not None:
        progress(name, epoch, total, metrics)
    elif bar is not None:
        bar.set_postfix(train=f"{metrics['train/loss']:.4f}", val=f"{metrics['val/loss']:.4f}")
        bar.update(1)
    log.debug("%s epoch %d/%d %s", name, epoch, total, metrics)
