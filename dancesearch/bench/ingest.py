"""Ingest section: the read floor, parse + FK + canonicalise, and embedding + indexing, timed apart.

Each repetition ingests the selected corpus files into a fresh library (its own temporary data
directory) with :class:`indexer.ingest.Ingester` (the ``dancesearch ingest`` code path, with the
configured worker processes), then opens :class:`search.engine.Engine` on it, which embeds every
window and builds and saves the indexes. The floor is the time to read every file's bytes and
inflate them (gzip), measured in the same process; after the first pass the files are in the OS
page cache, as they are for the ingest repetitions too.
"""

from __future__ import annotations

import gzip
import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dancesearch.bench.config import BenchConfig, BenchError
from dancesearch.bench.stats import Summary, target_entry

if TYPE_CHECKING:
    from embedders.runtime import DanceSearchModel
    from embedders.text import FrozenMiniLM
    from search.engine import Engine

log = logging.getLogger(__name__)


@dataclass
class IngestResult:
    """The section's figures (``report``) and the engine over the last repetition's library (its
    model is ``engine.model``)."""

    report: dict[str, Any]
    engine: Engine
    data_dir: Path


def corpus_files(cfg: BenchConfig) -> list[Path]:
    """Motion files of the corpus manifest; with ``files_per_source`` the first N of each source,
    plus every Perfume file (the peer comparison's cross-dancer task needs all three dancers)."""
    manifest = cfg.corpus / "manifest.json"
    if not manifest.is_file():
        raise BenchError(f"{cfg.corpus}: no manifest.json (pass --corpus pointing at the shared corpus)")
    try:
        entries = json.loads(manifest.read_text())["sequences"]
    except (OSError, ValueError, KeyError) as exc:
        raise BenchError(f"{manifest}: unreadable manifest ({exc})") from None
    taken: dict[str, int] = {}
    files = []
    for e in entries:
        n = taken[e["source"]] = taken.get(e["source"], 0) + 1
        if cfg.files_per_source is None or n <= cfg.files_per_source or e["source"] == "perfume":
            files.append(cfg.corpus / e["file"])
    missing = [str(p) for p in files if not p.is_file()]
    if missing:
        raise BenchError(f"{len(missing)} corpus file(s) listed in the manifest are missing, e.g. {missing[0]}")
    return files


def read_floor(files: list[Path]) -> tuple[float, int]:
    """Seconds to read every file and inflate gzip content; total uncompressed bytes."""
    start = time.perf_counter()
    total = 0
    for path in files:
        data = path.read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        total += len(data)
    return time.perf_counter() - start, total


def _one_ingest(cfg: BenchConfig, files: list[Path], model: DanceSearchModel, data_dir: Path,
                progress: bool) -> tuple[dict[str, Any], Engine]:
    from db.config import LibraryLocation
    from db.library import Library
    from indexer.ingest import Ingester, IngestOptions
    from indexer.metadata import load_metadata
    from search.engine import Engine

    location = LibraryLocation.resolve(data_dir)
    meta = load_metadata([cfg.corpus / "manifest.json"])
    with Library.open(location) as lib:
        t0 = time.perf_counter()
        summary = Ingester(lib, IngestOptions(workers=cfg.ingest_workers, metadata=meta,
                                              progress=progress)).run([str(p) for p in files])
        ingest_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    engine = Engine.open(location, model, sync=True, progress=progress)
    index_s = time.perf_counter() - t0
    status = engine.status()
    return {"ingest_s": ingest_s, "index_s": index_s, "total_s": ingest_s + index_s, "added": summary.added,
            "failed": summary.failed, "frames": summary.frames, "windows": int(status["windows"]),
            "indexes": status["indexes"]}, engine


def _warm(model: DanceSearchModel) -> None:
    """Load the text encoder and run the motion encoder once, so the timing excludes loading."""
    import numpy as np

    from motion.skeleton import N_JOINTS

    model.embed_texts(["warm-up"])
    model.embed_windows(np.zeros((model.window_size, N_JOINTS, 3), np.float32), [0])


def fresh_model(directory: Path, encoder: FrozenMiniLM | None) -> DanceSearchModel:
    """The model loaded anew and warmed up with empty text caches, as a newly started process has it
    (the MiniLM weights, when given, are shared between repetitions; their cache is emptied)."""
    from embedders.runtime import DanceSearchModel

    if encoder is not None:
        encoder.cache.clear()
    model = DanceSearchModel(directory, text_encoder=encoder)
    _warm(model)
    return model


def run_ingest(cfg: BenchConfig, work: Path, progress: bool) -> IngestResult:
    """Floor passes, then ``ingest_repeats`` fresh ingest + index runs, each with a freshly loaded model
    (so no repetition reuses another's cached text embeddings); keeps the last library open."""
    files = corpus_files(cfg)
    floors = [read_floor(files) for _ in range(cfg.floor_repeats)]
    from embedders.text import FrozenMiniLM

    runs: list[dict[str, Any]] = []
    encoder = FrozenMiniLM(fast=True)   # what serving runs (ONNX Runtime when available; embedders.onnx_text)
    engine: Engine | None = None
    data_dir = work
    for rep in range(cfg.ingest_repeats):
        if engine is not None:
            engine.close()
            shutil.rmtree(data_dir, ignore_errors=True)
        data_dir = work / f"library-{rep}"
        log.info("ingest repetition %d/%d into %s", rep + 1, cfg.ingest_repeats, data_dir)
        run, engine = _one_ingest(cfg, files, fresh_model(cfg.model, encoder), data_dir, progress)
        runs.append(run)
    if engine is None:
        raise BenchError("ingest_repeats must be at least 1")
    return IngestResult(_report(cfg, files, floors, runs), engine, data_dir)


def _report(cfg: BenchConfig, files: list[Path], floors: list[tuple[float, int]],
            runs: list[dict[str, Any]]) -> dict[str, Any]:
    last = runs[-1]
    n_files, frames, windows = len(files), last["frames"], last["windows"]
    stage = {name: Summary.of([r[name] for r in runs], "s") for name in ("ingest_s", "index_s", "total_s")}
    floor = Summary.of([f[0] for f in floors], "s")
    total = stage["total_s"].median
    whole = cfg.files_per_source is None
    return {
        "files": n_files, "failed": last["failed"], "canonical_frames": frames, "windows": windows,
        "uncompressed_bytes": floors[0][1], "repetitions": len(runs), "floor_repetitions": len(floors),
        "workers": cfg.ingest_workers, "whole_corpus": whole,
        "floor": {**floor.to_json(), "files_per_s": n_files / floor.median,
                  "mb_per_s": floors[0][1] / 1e6 / floor.median},
        "parse_fk": {**stage["ingest_s"].to_json(), "files_per_s": n_files / stage["ingest_s"].median,
                     "frames_per_s": frames / stage["ingest_s"].median},
        "embed_index": {**stage["index_s"].to_json(), "windows_per_s": windows / stage["index_s"].median},
        "total": {**stage["total_s"].to_json(), "files_per_s": n_files / total, "frames_per_s": frames / total},
        "indexes": last["indexes"], "runs": runs,
        "target": target_entry(total if whole else None, cfg.targets["ingest_total_s"],
                               "whole corpus ingested and indexed, median seconds"),
    }
