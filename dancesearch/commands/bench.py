"""The ``bench`` command: measure ingest speed, query latency, load, scale, peers and quality.

``dancesearch bench --out DIR`` writes ``DIR/bench.md`` and ``DIR/bench.json`` and prints the
markdown; ``--quick`` runs tiny sizes for CI smoke tests (under a minute). Heavy modules are
imported inside the command so ``dancesearch --help`` stays instant.
"""

from __future__ import annotations

import dataclasses
import enum
from pathlib import Path
from typing import Annotated

import typer


class ScaleOutIndex(enum.StrEnum):
    """Shards the scale-out section can build."""

    ivfsq = "ivfsq"
    ivfpq = "ivfpq"


SizesOpt = Annotated[
    list[int] | None,
    typer.Option("--sizes", min=100, help="Library sizes (windows) of the scale section; repeatable "
                                          "[default 10000 100000 1000000; quick 2000 5000]."),
]


def bench(
    out: Annotated[Path, typer.Option("--out", help="Folder for bench.md, bench.json and the server log.")],
    quick: Annotated[bool, typer.Option("--quick", help="Tiny sizes for CI (under a minute); figures are not "
                                                        "representative.")] = False,
    corpus: Annotated[Path, typer.Option("--corpus", help="The corpus folder (with manifest.json).")]
    = Path("../shared/corpus"),
    model: Annotated[Path, typer.Option("--model", help="Model directory.")] = Path("models/default"),
    sizes: SizesOpt = None,
    cache: Annotated[Path | None, typer.Option("--cache", help="Cache of the scale section's vectors "
                                                               "[default OUT/cache].")] = None,
    eval_report: Annotated[Path | None, typer.Option("--eval-report", help="report.json of `dancesearch eval` "
                                                                           "to copy [default: the newest "
                                                                           "found for the model].")] = None,
    load_seconds: Annotated[float | None, typer.Option("--load-seconds", min=1.0,
                                                       help="Duration of the load test [30; quick 3].")] = None,
    keep_work: Annotated[bool, typer.Option("--keep-work", help="Keep the temporary benchmark library.")] = False,
    scale_out: Annotated[int | None, typer.Option("--scale-out", min=1000, help="Run the scale-out section "
                                                  "(compressed, sharded index) at this many windows, e.g. "
                                                  "10000000 [default: not run; quick 20000].")] = None,
    scale_out_index: Annotated[ScaleOutIndex, typer.Option(
        "--scale-out-index", help="The scale-out section's shards: ivfsq (8-bit scalar codes) or ivfpq "
                                  "(PQ codes).")] = ScaleOutIndex.ivfsq,
    only: Annotated[list[str] | None, typer.Option("--only", help="Run only these sections (repeatable; machine "
                                                   "and ingest always run), e.g. --only scale_out.")] = None,
    faiss_threads: Annotated[int | None, typer.Option("--faiss-threads", min=1, help="FAISS OpenMP threads in the "
                                                      "benchmark process [default: FAISS's own, as the "
                                                      "engine runs].")] = None,
) -> None:
    """Benchmark indexing, query latency, throughput, scale, quality and peers; write DIR/bench.md."""
    from dancesearch.bench.config import BenchConfig, BenchError
    from dancesearch.bench.runner import run

    if not (corpus / "manifest.json").is_file():
        typer.echo(f"error: {corpus}: not a corpus folder (no manifest.json)", err=True)
        raise typer.Exit(2)
    if not (model / "config.json").is_file():
        typer.echo(f"error: {model}: not a model directory (no config.json); train one with "
                   "`dancesearch train` or pass --model", err=True)
        raise typer.Exit(2)
    cfg = BenchConfig.preset(corpus.resolve(), model.resolve(), out.resolve(), quick)
    changes: dict[str, object] = {"cache_dir": cache, "eval_report": eval_report, "keep_work": keep_work,
                                  "faiss_threads": faiss_threads,
                                  "scale_out_index": scale_out_index.value, "only": tuple(only or ())}
    if scale_out is not None:
        changes["scale_out"] = scale_out
    if sizes:
        changes["sizes"] = tuple(sorted(set(sizes)))
    if load_seconds is not None:
        changes["load_seconds"] = load_seconds
    cfg = dataclasses.replace(cfg, **changes)  # type: ignore[arg-type]
    try:
        outcome = run(cfg)
    except BenchError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(outcome.md_path.read_text())
    typer.echo(f"wrote {outcome.md_path} and {outcome.json_path}")
    if outcome.failed:
        typer.echo("sections that failed: " + "; ".join(f"{k}: {v}" for k, v in outcome.failed.items()), err=True)
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Attach ``bench`` to the top-level app."""
    app.command("bench")(bench)
