"""Runs every section of the benchmark in order and writes the report.

Order: machine; ingest (leaves an indexed library of the corpus); latency and load against an HTTP
server over that library; scale (realistic vectors, every backend); peers (Perfume task); quality
(copied from eval). A section that fails is recorded with its error and the others still run; the
report always has every section, and :class:`BenchOutcome` lists what failed.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dancesearch.bench.config import BenchConfig, BenchError
from dancesearch.bench.progress import duration, say

log = logging.getLogger(__name__)

CLIP_QUERIES = 40


@dataclass
class BenchOutcome:
    """Where the report was written and which sections failed (name -> error)."""

    json_path: Path
    md_path: Path
    failed: dict[str, str] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)


def _section(report: dict[str, Any], failed: dict[str, str], name: str, fn: Callable[[], Any]) -> Any:
    """Run one section and store its result as ``report[name]``; on failure store ``{"error": ...}``
    and return None."""
    log.info("benchmark section: %s", name)
    say(name, "started")
    t0 = time.perf_counter()
    try:
        result = fn()
    except Exception as exc:  # noqa: BLE001 - one failed section must not lose the others' figures
        message = str(exc) if isinstance(exc, BenchError) else f"{type(exc).__name__}: {exc}"
        log.error("section %s failed: %s\n%s", name, message, traceback.format_exc())
        say(name, f"FAILED after {duration(time.perf_counter() - t0)}: {message}")
        failed[name] = message
        report[name] = {"error": message}
        return None
    log.info("section %s took %.1f s", name, time.perf_counter() - t0)
    say(name, f"finished in {duration(time.perf_counter() - t0)}")
    report[name] = result
    return result


def _load_model(cfg: BenchConfig) -> Any:
    """The model loaded exactly as the CLI and the service load it (same torch/FAISS thread settings)."""
    from dancesearch.engine_factory import load_model
    from search.errors import ModelMissing

    try:
        return load_model(cfg.model)
    except ModelMissing as exc:
        raise BenchError(str(exc)) from None


def run(cfg: BenchConfig, progress: bool = True) -> BenchOutcome:
    """Run the benchmark described by ``cfg``; writes ``cfg.out/bench.{json,md}``."""
    if not (cfg.corpus / "manifest.json").is_file():
        raise BenchError(f"{cfg.corpus}: not a corpus folder (no manifest.json)")
    import faiss

    model = _load_model(cfg)
    threads_before = faiss.omp_get_max_threads()
    if cfg.faiss_threads is not None:
        faiss.omp_set_num_threads(cfg.faiss_threads)
    try:
        return _run(cfg, model, progress)
    finally:
        faiss.omp_set_num_threads(threads_before)


def _run(cfg: BenchConfig, model: Any, progress: bool) -> BenchOutcome:
    from dancesearch.bench import ingest, latency, load, machine, peers, quality, queries, report, server

    started, t0 = time.strftime("%Y-%m-%d %H:%M:%S"), time.perf_counter()
    rep: dict[str, Any] = {}
    failed: dict[str, str] = {}

    def section(name: str, fn: Callable[[], Any]) -> Any:
        """``_section`` unless ``--only`` leaves ``name`` out (machine and ingest always run)."""
        if cfg.only and name not in cfg.only and name not in ("machine", "ingest", "server"):
            rep[name] = {"error": f"not run (--only {' '.join(cfg.only)})"}
            return None
        return _section(rep, failed, name, fn)

    section("machine", machine.describe_machine)
    work = Path(tempfile.mkdtemp(prefix="dancesearch-bench-"))
    try:
        res = section("ingest", lambda: ingest.run_ingest(cfg, work, progress))
        if res is None:
            for name in ("latency", "load", "mixed_load", "scale", "scale_out", "peers"):
                rep[name] = {"error": "not run: the ingest section failed"}
        else:
            rep["ingest"] = res.report  # the section stored the IngestResult; keep only its figures
            model = res.engine.model
            texts = queries.text_queries(cfg.corpus, cfg.seed)
            held_out = texts[-cfg.scale_queries:]
            pool = queries.TextPool(texts[:-cfg.scale_queries] or texts)
            clips = queries.clip_queries(res.engine.lib, CLIP_QUERIES, cfg.seed)

            def http_sections() -> None:
                # The server has an API key: the mixed read/write load ingests and deletes through it.
                with server.serve(res.data_dir, cfg.model, cfg.out / "server.log", load.MIXED_API_KEY) as url:
                    section("latency", lambda: latency.run_latency(cfg, res.engine, url, pool, clips))
                    section("load", lambda: load.run_load(cfg, url, pool, clips))
                    section("mixed_load", lambda: load.run_mixed_load(
                        url, pool, [(f"mixed-{i}.bvh", c.data) for i, c in enumerate(clips)],
                        cfg.load_seconds if cfg.quick else load.MIXED_SECONDS))

            if cfg.only and not {"latency", "load", "mixed_load"} & set(cfg.only):
                for name in ("latency", "load", "mixed_load"):
                    section(name, lambda: None)
            elif section("server", http_sections) is None and "server" in failed:
                for name in ("latency", "load", "mixed_load"):
                    rep[name] = {"error": f"the HTTP server did not run: {failed['server']}"}
            rep.pop("server", None)
            try:
                section("scale", lambda: _scale(cfg, res.engine, model, held_out, progress))
                section("peers", lambda: peers.run_peers(res.engine.lib, model, cfg.peer_queries))
                if cfg.scale_out is None:
                    rep["scale_out"] = {"error": "not run (pass --scale-out N)"}
                else:
                    section("scale_out", lambda: _scale_out(cfg, res.engine, model, held_out, progress))
            finally:
                res.engine.close()
        section("quality", lambda: quality.run_quality(cfg.model, str(model.version), cfg.eval_report))
    finally:
        if cfg.keep_work:
            log.info("kept the benchmark library in %s", work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    rep["run"] = {"quick": cfg.quick, "model": str(cfg.model), "model_version": str(model.version),
                  "corpus": str(cfg.corpus), "started": started, "seconds": time.perf_counter() - t0,
                  "sizes": list(cfg.sizes), "scale_out": cfg.scale_out,
                  "scale_out_index": cfg.scale_out_index, "only": list(cfg.only),
                  "failed_sections": failed, "faiss_threads_option": cfg.faiss_threads,
                  "load_average_at_end": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
                  "targets_reference": "the issue's targets for the 2-core reference machine"}
    js, md = report.write(rep, cfg.out)
    return BenchOutcome(js, md, failed, rep)


def _scale(cfg: BenchConfig, engine: Any, model: Any, held_out: list[str], progress: bool) -> dict[str, Any]:
    from dancesearch.bench import scale, vectors
    from search.ann.faiss_backend import gpu_count

    clips = vectors.library_clips(engine.lib)
    vs = vectors.library_vectors(model, clips, max(cfg.sizes), cfg.seed, cfg.cache, progress)
    qs, kinds = vectors.query_vectors(model, clips, held_out, cfg.scale_queries, cfg.seed)
    result = scale.run_scale(cfg, vs.vectors, qs, kinds, gpu_count())
    return {**result, "vectors": vs.info,
            "queries": {"count": len(qs), "text": int((kinds == "text").sum()),
                        "window": int((kinds == "window").sum())}}


def _scale_out(cfg: BenchConfig, engine: Any, model: Any, held_out: list[str], progress: bool) -> dict[str, Any]:
    from dancesearch.bench import scale_out, vectors

    plan = scale_out.plan_for(cfg.scale_out, cfg.quick, cfg.scale_out_index)
    clips = vectors.library_clips(engine.lib)
    say("scale_out", f"{plan.base:,} real window embeddings (corpus + augmented copies; minutes unless cached "
                     f"in {cfg.cache})")
    vs = vectors.library_vectors(model, clips, plan.base, cfg.seed, cfg.cache, progress, "scale_out")
    say("scale_out", f"{plan.queries} held-out query embeddings")
    qs, kinds = vectors.query_vectors(model, clips, held_out, plan.queries, cfg.seed)
    return scale_out.run_scale_out(plan, cfg.out / "scale_out_work", vs.vectors, vs.info, qs, kinds, cfg.seed,
                                   progress)
