"""Throughput under load: ``load_clients`` concurrent HTTP clients for ``load_seconds``, only to the
benchmark's own 127.0.0.1 server, mixing text queries and 4 s clip uploads (3 text : 1 clip).

Each client is a thread with its own persistent ``httpx.Client``, sending its next request as soon
as the previous one is answered (closed loop). Reported: completed queries per second over the whole
run and per third of it (the median third is the repeated figure), errors (non-200 answers and
transport failures; the target is 0), and the latency distribution of every completed request.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dancesearch.bench.config import BenchConfig
from dancesearch.bench.queries import ClipQuery, TextPool
from dancesearch.bench.stats import Summary, target_entry

log = logging.getLogger(__name__)

MAX_REQUESTS_PER_CLIENT = 100_000
INTERVALS = 3


@dataclass
class _Client:
    done: list[tuple[float, float]] = field(default_factory=list)  # (finish time, latency s)
    errors: list[str] = field(default_factory=list)


def _worker(base_url: str, texts: TextPool, lock: threading.Lock, clips: list[ClipQuery], index: int,
            stop_at: float, out: _Client) -> None:
    import httpx

    with httpx.Client(base_url=base_url, timeout=60.0) as client:
        for n in range(MAX_REQUESTS_PER_CLIENT):
            if time.perf_counter() >= stop_at:
                return
            start = time.perf_counter()
            try:
                if n % 4 == 3:
                    clip = clips[(index + n) % len(clips)]
                    r = client.post("/api/search/clip", params={"k": 10},
                                    files={"file": (clip.name, clip.data, "application/octet-stream")})
                else:
                    with lock:
                        text = texts.take()
                    r = client.get("/api/search/text", params={"query": text, "k": 10, "generate": "never"})
                end = time.perf_counter()
                if r.status_code == 200:
                    out.done.append((end, end - start))
                else:
                    out.errors.append(f"{r.status_code}: {r.text[:200]}")
            except httpx.HTTPError as exc:
                out.errors.append(f"{type(exc).__name__}: {exc}")


def run_load(cfg: BenchConfig, base_url: str, texts: TextPool, clips: list[ClipQuery]) -> dict[str, Any]:
    """Run the closed-loop load test and summarise it."""
    lock = threading.Lock()
    clients = [_Client() for _ in range(cfg.load_clients)]
    start = time.perf_counter()
    stop_at = start + cfg.load_seconds
    threads = [threading.Thread(target=_worker, args=(base_url, texts, lock, clips, i, stop_at, c), daemon=True)
               for i, c in enumerate(clients)]
    log.info("load: %d clients for %g s", cfg.load_clients, cfg.load_seconds)
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    finished = np.array([t for c in clients for t, _ in c.done]) - start
    lat = [lat_s * 1000.0 for c in clients for _, lat_s in c.done]
    errors = [e for c in clients for e in c.errors]
    edges = np.linspace(0.0, cfg.load_seconds, INTERVALS + 1)
    per_interval = [float(((finished >= a) & (finished < b)).sum() / (b - a)) for a, b in zip(edges, edges[1:], strict=False)]
    return {
        "clients": cfg.load_clients, "seconds": cfg.load_seconds, "elapsed_s": elapsed, "mix": "3 text : 1 clip",
        "completed": len(lat), "qps": len(lat) / elapsed, "qps_intervals": per_interval,
        "qps_median_interval": float(np.median(per_interval)), "errors": len(errors),
        "error_examples": errors[:5],
        "latency": Summary.of(lat, "ms").to_json() if lat else None,
        "target": target_entry(float(len(errors)), cfg.targets["load_errors"], "errors under load"),
    }
