"""``dancesearch train`` and ``dancesearch eval``: build a model directory and report its quality."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

CorpusOpt = Annotated[Path, typer.Option("--corpus", help="Corpus folder with manifest.json.")]


def _threads() -> None:
    """Torch threads from DANCESEARCH_TORCH_THREADS (default: torch's own choice). On a shared or
    busy 2-core machine 1 thread is faster for these small recurrent models (no OpenMP spinning)."""
    import os

    import torch

    value = os.environ.get("DANCESEARCH_TORCH_THREADS")
    if value:
        torch.set_num_threads(max(1, int(value)))


class _EpochPrinter:
    """One line per epoch on stderr: stage, epoch / max epochs, losses, elapsed and an ETA for the stage
    (early stopping may end it sooner)."""

    def __init__(self) -> None:
        import time

        self._clock = time.perf_counter
        self._stage = ""
        self._start = 0.0

    def __call__(self, stage: str, epoch: int, epochs: int, metrics: dict[str, float]) -> None:
        now = self._clock()
        if stage != self._stage:
            self._stage, self._start = stage, now
        done = max(epoch, 1)
        elapsed = now - self._start
        eta = elapsed / done * max(epochs - done, 0)
        shown = [k for k in ("train/loss", "val/loss") if k in metrics] or list(metrics)[:3]
        losses = " ".join(f"{k} {metrics[k]:.4f}" for k in shown)
        typer.echo(f"[{stage}] epoch {done}/{epochs}  {losses}  {elapsed:.0f}s, stage ETA <= {eta:.0f}s", err=True)


def train(
    corpus: CorpusOpt = Path("../shared/corpus"),
    out: Annotated[Path, typer.Option("--out", help="Model directory to write (e.g. models/NAME).")] = Path("models/default"),
    work: Annotated[Path | None, typer.Option("--work", help="Work directory (library, caches, checkpoints) (default runs/NAME).")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="Pipeline config JSON (sizes, epochs).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed (training is deterministic for a seed).")] = 0,
    sources: Annotated[list[str] | None, typer.Option("--source", help="Train only on these sources (repeatable).")] = None,
    max_clips: Annotated[int | None, typer.Option("--max-clips-per-source", help="Use at most N clips per source.")] = None,
    workers: Annotated[int, typer.Option(help="Ingest worker processes.")] = 2,
    calibrate: Annotated[bool, typer.Option(help="Choose search defaults on the validation split after training.")] = True,
) -> None:
    """Train all seven stages (resuming finished ones) into a model directory with a training report."""
    from training.pipeline import TrainError, TrainOptions, train_all
    from training.stages.config import ConfigError, PipelineConfig
    from training.stages.loop import CheckpointError

    try:
        cfg = PipelineConfig.from_json(config) if config else PipelineConfig()
        opts = TrainOptions(corpus=corpus.resolve(), out=out, work=work or Path("runs") / out.name, config=cfg,
                            seed=seed, workers=workers, sources=tuple(sources) if sources else None,
                            max_clips_per_source=max_clips)
        _threads()
        train_all(opts, progress=_EpochPrinter())
        if calibrate:
            from training.calibrate import calibrate_model

            settings = calibrate_model(opts)
            typer.echo(f"search defaults (validation split): {json.dumps(settings)}")
    except (TrainError, ConfigError, CheckpointError, FileNotFoundError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"model written to {out} (report: {out / 'report' / 'training.md'})")




def evaluate(
    model: Annotated[Path, typer.Option("--model", help="Model directory.")] = Path("models/default"),
    corpus: CorpusOpt = Path("../shared/corpus"),
    split: Annotated[str, typer.Option(help="Held-out split to evaluate on.")] = "test",
    out: Annotated[Path, typer.Option("--out", help="Folder for report.md and report.json.")] = Path("runs/eval"),
    work: Annotated[Path | None, typer.Option("--work", help="Work directory for the evaluation library.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of query phrasing.")] = 1234,
    compare: Annotated[Path | None, typer.Option("--compare", help="A previous model directory to measure beside it.")] = None,
) -> None:
    """Measure retrieval in every direction and generation on a held-out split, with baselines."""
    from embedders.base import ModelLoadError
    from training.evaluate import EvalError, EvalOptions
    from training.evaluate import evaluate as run_eval

    opts = EvalOptions(model=model, corpus=corpus.resolve(), split=split, out=out,
                       work=work or Path("runs") / f"eval-{split}", seed=seed, compare=compare)
    try:
        _threads()
        run_eval(opts)
    except (EvalError, ModelLoadError, FileNotFoundError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo((out / "report.md").read_text())


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.command("eval")(evaluate)
