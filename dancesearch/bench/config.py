"""Settings of one benchmark run: the full preset, the ``--quick`` preset, and the domain error."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

FULL_SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (1_000, 2_500)
QUICK_SCALE_OUT = 20_000


class BenchError(RuntimeError):
    """The benchmark cannot run (missing corpus or model, a server that does not start...)."""


@dataclass(frozen=True)
class BenchConfig:
    """What to measure and how often. ``quick`` shrinks everything so CI can smoke-test in < 1 min.

    ``files_per_source`` (None = the whole corpus) limits the corpus files ingested;
    ``ingest_repeats`` fresh ingests are timed (the last library is kept for the other sections);
    ``floor_repeats`` passes read the bytes; ``latency_repeats`` queries per direction and mode;
    ``load_seconds`` / ``load_clients`` drive the load test; ``sizes`` are the scale section's
    library sizes in windows; ``scale_queries`` held-out query vectors per size (``exact_queries_max``
    of them for the exact NumPy backend at sizes over ``exact_full_max``); ``build_budget_s`` skips an
    index build predicted (from the previous size) to take longer; ``peer_queries`` (None = every
    window) Perfume windows are used as queries in the peer comparison (the gallery is always whole);
    ``faiss_threads`` (None = FAISS's default, as the engine runs) sets FAISS's OpenMP threads in the
    benchmark process (the in-process engine and the scale section; the HTTP server is untouched).
    ``scale_out`` (None = not run; quick: 20,000) windows of the scale-out section (compressed, sharded index; the
    documented run uses 10^7), its shards ``scale_out_index`` (``ivfsq`` or ``ivfpq``); ``only`` (empty = all) names the sections to run (machine and ingest
    always run: the others need the ingested library).
    """

    corpus: Path
    model: Path
    out: Path
    quick: bool = False
    files_per_source: int | None = None
    ingest_repeats: int = 3
    floor_repeats: int = 3
    ingest_workers: int = 2
    latency_repeats: int = 200
    warmup: int = 10
    load_seconds: float = 30.0
    load_clients: int = 8
    sizes: tuple[int, ...] = FULL_SIZES
    scale_queries: int = 200
    exact_queries_max: int = 30
    exact_full_max: int = 100_000
    build_budget_s: float = 600.0
    peer_queries: int | None = None
    faiss_threads: int | None = None
    scale_out: int | None = None
    scale_out_index: str = "ivfsq"
    only: tuple[str, ...] = ()
    cache_dir: Path | None = None
    eval_report: Path | None = None
    keep_work: bool = False
    seed: int = 1234
    targets: dict[str, float] = field(default_factory=lambda: dict(TARGETS))

    @classmethod
    def preset(cls, corpus: Path, model: Path, out: Path, quick: bool = False) -> BenchConfig:
        """The full benchmark, or with ``quick`` the CI smoke-test sizes."""
        base = cls(corpus=corpus, model=model, out=out)
        if not quick:
            return base
        return replace(base, quick=True, files_per_source=1, ingest_repeats=2, floor_repeats=2,
                       latency_repeats=20, warmup=2, load_seconds=3.0, sizes=QUICK_SIZES, scale_queries=20,
                       exact_queries_max=20, build_budget_s=20.0, peer_queries=40, scale_out=QUICK_SCALE_OUT)

    @property
    def cache(self) -> Path:
        """Where the scale section's vectors are cached (``--cache``, default ``OUT/cache``)."""
        return self.cache_dir if self.cache_dir is not None else self.out / "cache"


TARGETS: dict[str, float] = {
    "ingest_total_s": 60.0,          # whole corpus ingested and indexed
    "http_text_p50_ms": 15.0,
    "http_text_p99_ms": 50.0,
    "clip_p50_ms": 30.0,             # a 4 s clip query, over HTTP
    "load_errors": 0.0,
    "scale_recall_at_10": 0.95,      # at the largest size (10^6 in the full run)
    "scale_p50_ms": 10.0,
    # Not an issue target: the engine keeps exact (flat) search while it costs at most a third of the
    # 15 ms text-query budget (the rest is the text encoder and the HTTP round trip).
    "flat_p50_ms": 5.0,
}
"""The issue's targets on the 2-core reference machine; the report says MET or MISSED next to each."""
