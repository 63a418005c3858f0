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


# --- mixed read/write load (issue 11) -----------------------------------------------------------------
MIXED_READERS = 8
MIXED_SECONDS = 60.0
MIXED_API_KEY = "bench-mixed-load-key"
"""The key the benchmark's own server is started with, so its one writing client may ingest and delete."""


@dataclass
class _Writes:
    """What the writing client did, shared with the readers: the clips it deleted or is deleting (a reader's
    404 for one of them is the expected race, not an error), and its own timings and failures."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    gone: set[int] = field(default_factory=set)
    ingests: list[float] = field(default_factory=list)
    deletes: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def is_gone(self, clip_id: int) -> bool:
        with self.lock:
            return clip_id in self.gone


@dataclass
class _Reader:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"search": [], "clip": [], "list": []})
    errors: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)


def _new_clip_id(client: Any, saved_as: str) -> int | None:
    """The id of the clip just ingested from the upload saved as ``saved_as`` (newest clips first)."""
    r = client.get("/api/clips", params={"limit": 20})
    if r.status_code != 200:
        return None
    return next((c["id"] for c in r.json()["clips"] if c.get("source_path") == saved_as), None)


def _mixed_writer(base_url: str, api_key: str, files: list[tuple[str, bytes]], stop_at: float, out: _Writes) -> None:
    """Ingest one file, delete the clip ingested before it, repeat until ``stop_at``; the last one is deleted
    at the end, so the library is left as it was. Each file's clip is deleted before the file comes round again."""
    import httpx

    alive: list[int] = []
    with httpx.Client(base_url=base_url, timeout=300.0, headers={"X-API-Key": api_key}) as client:
        def delete(clip_id: int) -> None:
            with out.lock:
                out.gone.add(clip_id)
            t0 = time.perf_counter()
            r = client.delete(f"/api/clips/{clip_id}")
            if r.status_code == 204:
                out.deletes.append(time.perf_counter() - t0)
            else:
                out.errors.append(f"delete {clip_id}: {r.status_code}: {r.text[:200]}")

        n = 0
        while time.perf_counter() < stop_at:
            name, data = files[n % len(files)]
            n += 1
            t0 = time.perf_counter()
            try:
                r = client.post("/api/ingest", files=[("files", (name, data, "application/octet-stream"))])
                if r.status_code != 200 or r.json()["summary"].get("added") != 1:
                    out.errors.append(f"ingest {name}: {r.status_code}: {r.text[:200]}")
                    continue
                out.ingests.append(time.perf_counter() - t0)
                clip_id = _new_clip_id(client, r.json()["saved"][0]["saved_as"])
                if clip_id is None:
                    out.errors.append(f"ingest {name}: the new clip is not listed")
                    continue
                alive.append(clip_id)
                while len(alive) > 1:
                    delete(alive.pop(0))
            except httpx.HTTPError as exc:
                out.errors.append(f"{type(exc).__name__}: {exc}")
        for clip_id in alive:
            try:
                delete(clip_id)
            except httpx.HTTPError as exc:
                out.errors.append(f"{type(exc).__name__}: {exc}")


def _check_clip(client: Any, clip_id: int, writes: _Writes, out: _Reader) -> None:
    """A clip a read returned must be whole: its metadata and its motion are there (1 s of it is fetched),
    unless the writer deleted it since (the only allowed 404)."""
    t0 = time.perf_counter()
    info = client.get(f"/api/clips/{clip_id}")
    motion = client.get(f"/api/clips/{clip_id}/motion", params={"start": 0, "end": 1}) \
        if info.status_code == 200 else None
    out.latencies["clip"].append(time.perf_counter() - t0)
    for r in (info, motion):
        if r is None or r.status_code == 200:
            continue
        if r.status_code == 404 and writes.is_gone(clip_id):
            return
        out.violations.append(f"clip {clip_id} returned by a read: {r.status_code} {r.text[:120]}")
        return
    frames = round(float(info.json()["duration"]) * 25)
    if motion is not None and motion.json()["n_frames"] != min(25, frames):
        out.violations.append(f"clip {clip_id}: {motion.json()['n_frames']} frames of motion, expected "
                              f"{min(25, frames)} (a half-written clip)")


def _mixed_reader(base_url: str, texts: TextPool, lock: threading.Lock, index: int, stop_at: float,
                  writes: _Writes, out: _Reader) -> None:
    """Closed loop: 3 text searches (each hit's clip checked whole, one per search) to 1 listing of the newest
    clips (the newest one checked whole)."""
    import httpx

    with httpx.Client(base_url=base_url, timeout=120.0) as client:
        for n in range(MAX_REQUESTS_PER_CLIENT):
            if time.perf_counter() >= stop_at:
                return
            try:
                t0 = time.perf_counter()
                if n % 4 == 3:
                    r = client.get("/api/clips", params={"limit": 10})
                    kind, items = "list", (r.json()["clips"] if r.status_code == 200 else [])
                    ids = [c["id"] for c in items]
                else:
                    with lock:
                        text = texts.take()
                    r = client.get("/api/search/text", params={"query": text, "k": 10, "generate": "never"})
                    kind, items = "search", (r.json()["results"] if r.status_code == 200 else [])
                    ids = [h["clip_id"] for h in items if h["clip_id"] is not None]
                if r.status_code != 200:
                    out.errors.append(f"{kind}: {r.status_code}: {r.text[:200]}")
                    continue
                out.latencies[kind].append(time.perf_counter() - t0)
                if ids:
                    _check_clip(client, ids[(index + n) % len(ids)] if kind == "search" else ids[0], writes, out)
            except httpx.HTTPError as exc:
                out.errors.append(f"{type(exc).__name__}: {exc}")


def _ms(values: list[float]) -> dict[str, Any] | None:
    return Summary.of([v * 1000.0 for v in values], "ms").to_json() if values else None


def run_mixed_load(base_url: str, texts: TextPool, files: list[tuple[str, bytes]], seconds: float = MIXED_SECONDS,
                   readers: int = MIXED_READERS, api_key: str = MIXED_API_KEY) -> dict[str, Any]:
    """``readers`` reading clients and one client ingesting and deleting, for ``seconds``, against the server
    at ``base_url`` (started with ``api_key``). ``files``: at least 3 distinct motion files not in the library.

    Counted as errors: non-200 answers and transport failures of every client. Counted as inconsistent
    reads: a clip returned by a search or a listing whose metadata or motion is missing (other than a 404
    for a clip the writer deleted meanwhile), or whose motion is shorter than its duration says. The target
    for both is 0. Reported: read latency (every search, listing and clip check) with p50/p99, writes done."""
    if len(files) < 3:
        raise ValueError("the mixed load needs at least 3 distinct files to ingest")
    lock = threading.Lock()
    writes = _Writes()
    clients = [_Reader() for _ in range(readers)]
    start = time.perf_counter()
    stop_at = start + seconds
    threads = [threading.Thread(target=_mixed_reader, args=(base_url, texts, lock, i, stop_at, writes, c), daemon=True)
               for i, c in enumerate(clients)]
    threads.append(threading.Thread(target=_mixed_writer, args=(base_url, api_key, files, stop_at, writes),
                                    daemon=True))
    log.info("mixed load: %d readers + 1 writer for %g s", readers, seconds)
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    by_kind = {k: [v for c in clients for v in c.latencies[k]] for k in ("search", "list", "clip")}
    reads = [v for values in by_kind.values() for v in values]
    errors = [e for c in clients for e in c.errors] + writes.errors
    violations = [v for c in clients for v in c.violations]
    return {
        "readers": readers, "writers": 1, "seconds": seconds, "elapsed_s": elapsed,
        "mix": "readers: 3 text searches : 1 listing, each followed by a whole-clip check; writer: ingest one "
               "file, delete the previous clip",
        "reads": len(reads), "reads_per_s": len(reads) / elapsed, "ingests": len(writes.ingests),
        "deletes": len(writes.deletes), "errors": len(errors), "error_examples": errors[:5],
        "inconsistent_reads": len(violations), "inconsistent_examples": violations[:5],
        "latency": _ms(reads), "search_latency": _ms(by_kind["search"]), "list_latency": _ms(by_kind["list"]),
        "clip_check_latency": _ms(by_kind["clip"]), "ingest_latency": _ms(writes.ingests),
        "delete_latency": _ms(writes.deletes),
        "target": target_entry(float(len(errors) + len(violations)), 0.0,
                               "errors and inconsistent reads under mixed read/write load"),
    }


def render_mixed(s: dict[str, Any]) -> list[str]:
    """The "Mixed read/write load" section of bench.md."""
    def p(summary: dict[str, Any] | None, key: str) -> str:
        return "-" if not summary else f"{summary[key]:.2f}"

    lines = [f"{s['readers']} reading clients and {s['writers']} writing client for {s['seconds']:g} s "
             f"({s['mix']}).", "",
             "| reads | reads/s | ingests | deletes | errors | inconsistent reads | read p50 ms | read p99 ms "
             "| search p99 ms | ingest p50 ms | delete p50 ms |",
             "|---|---|---|---|---|---|---|---|---|---|---|",
             f"| {s['reads']:,} | {s['reads_per_s']:.1f} | {s['ingests']} | {s['deletes']} | {s['errors']} | "
             f"{s['inconsistent_reads']} | {p(s['latency'], 'p50')} | {p(s['latency'], 'p99')} | "
             f"{p(s['search_latency'], 'p99')} | {p(s['ingest_latency'], 'p50')} | {p(s['delete_latency'], 'p50')} |",
             "", f"Errors and inconsistent reads: {s['errors'] + s['inconsistent_reads']} -> "
                 f"**{s['target']['verdict']}** (target 0)"]
    lines += [f"- e.g. {e}" for e in s["error_examples"] + s["inconsistent_examples"]]
    return lines + [""]
