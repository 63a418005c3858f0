"""Query latency section: text -> motion, motion -> motion and motion -> text, in process through
the engine and over HTTP, each with ``latency_repeats`` measured queries after a warm-up, plus a
reference measured in the same run (the bare text-encoder forward pass of a new text) to which every
p50 is also given as a ratio, since absolute timings swing between runs on a shared machine.

Every text query is a text not seen before in the run (see :mod:`dancesearch.bench.queries`), with
``generate="never"`` so the figure is the search itself (the fallback generation of weak matches is
a separate feature). Motion queries are 4 s BVH excerpts: in process the parsed motion is passed to
``Engine.search_motion`` / ``Engine.describe`` (mapping to canonical included, parsing not); over
HTTP the BVH file is uploaded (upload, parse and mapping included). k = 10 hits, 5 descriptions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dancesearch.bench.config import BenchConfig, BenchError
from dancesearch.bench.queries import ClipQuery, TextPool
from dancesearch.bench.stats import Summary, latencies_ms, target_entry

if TYPE_CHECKING:
    import httpx

    from search.engine import Engine

log = logging.getLogger(__name__)

DIRECTIONS = ("text_to_motion", "motion_to_motion", "motion_to_text")


def in_process_calls(engine: Engine, texts: TextPool, clips: list[ClipQuery]) -> dict[str, Callable[[int], Any]]:
    """One callable per direction, taking the repetition number."""
    return {
        "text_to_motion": lambda i: engine.search_text(texts.take(), k=10, generate="never"),
        "motion_to_motion": lambda i: engine.search_motion(clips[i % len(clips)].motion, k=10),
        "motion_to_text": lambda i: engine.describe(clips[i % len(clips)].motion, k=5),
    }


def _checked(response: httpx.Response) -> httpx.Response:
    if response.status_code != 200:
        raise BenchError(f"{response.request.method} {response.request.url.path} answered "
                         f"{response.status_code}: {response.text[:300]}")
    return response


def http_calls(client: httpx.Client, texts: TextPool, clips: list[ClipQuery]) -> dict[str, Callable[[int], Any]]:
    """The same queries as HTTP requests (raising BenchError on any non-200 answer)."""
    def upload(i: int) -> dict[str, tuple[str, bytes, str]]:
        clip = clips[i % len(clips)]
        return {"file": (clip.name, clip.data, "application/octet-stream")}

    return {
        "text_to_motion": lambda i: _checked(client.get("/api/search/text", params={
            "query": texts.take(), "k": 10, "generate": "never"})),
        "motion_to_motion": lambda i: _checked(client.post("/api/search/clip", params={"k": 10},
                                                           files=upload(i))),
        "motion_to_text": lambda i: _checked(client.post("/api/describe", params={"k": 5}, files=upload(i))),
    }


def measure_calls(calls: dict[str, Callable[[int], Any]], repeats: int, warmup: int) -> dict[str, Summary]:
    return {name: latencies_ms(fn, repeats, warmup) for name, fn in calls.items()}


def run_latency(cfg: BenchConfig, engine: Engine, base_url: str, texts: TextPool,
                clips: list[ClipQuery]) -> dict[str, Any]:
    """Latency summaries per direction and mode, with the issue's targets checked."""
    import httpx

    log.info("latency: in process, %d queries per direction", cfg.latency_repeats)
    inproc = measure_calls(in_process_calls(engine, texts, clips), cfg.latency_repeats, cfg.warmup)
    log.info("latency: over HTTP, %d queries per direction", cfg.latency_repeats)
    with httpx.Client(base_url=base_url, timeout=60.0) as client:
        http = measure_calls(http_calls(client, texts, clips), cfg.latency_repeats, cfg.warmup)
    log.info("latency: reference, the bare text encoder on %d new texts", cfg.latency_repeats)
    encoder = engine.model.minilm if hasattr(engine.model, "minilm") else None
    reference = None if encoder is None else latencies_ms(lambda i: encoder([texts.take()]), cfg.latency_repeats,
                                                          cfg.warmup)
    import faiss

    t = cfg.targets
    return {
        "faiss_threads": int(faiss.omp_get_max_threads()), "repetitions": cfg.latency_repeats, "warmup": cfg.warmup, "clip_seconds": 4.0,
        "library_windows": int(engine.status()["windows"]),
        "in_process": {k: v.to_json() for k, v in inproc.items()},
        "http": {k: v.to_json() for k, v in http.items()},
        # Absolute timings swing 2-3x between runs on shared machines: every p50 is also given as a ratio
        # to the bare text-encoder forward pass (MiniLM, one new text, in process) measured in this run.
        "reference_text_encoder": None if reference is None else reference.to_json(),
        "ratio_to_text_encoder": None if reference is None or reference.p50 <= 0 else {
            f"{mode} {k}": round(v.p50 / reference.p50, 2)
            for mode, d in (("in_process", inproc), ("http", http)) for k, v in d.items()},
        "targets": {
            "http_text_p50": target_entry(http["text_to_motion"].p50, t["http_text_p50_ms"],
                                          "text query p50 over HTTP, ms"),
            "http_text_p99": target_entry(http["text_to_motion"].p99, t["http_text_p99_ms"],
                                          "text query p99 over HTTP, ms"),
            "http_clip_p50": target_entry(http["motion_to_motion"].p50, t["clip_p50_ms"],
                                          "4 s clip query p50 over HTTP, ms"),
            "in_process_clip_p50": target_entry(inproc["motion_to_motion"].p50, t["clip_p50_ms"],
                                                "4 s clip query p50 in process, ms"),
        },
    }
