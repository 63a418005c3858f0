"""Latency cost of hybrid text search over HTTP: ``mode=hybrid`` vs ``mode=motion`` (and ``keyword``) on
the whole corpus, through the benchmark's own machinery (``dancesearch.bench``: the service in a child
uvicorn process on 127.0.0.1, the bench's pool of distinct text queries, ``generate=never``, k = 10).

The library is the whole corpus ingested with its ``manifest.json`` (labels and descriptions: the most
metadata, so the most keyword candidates). Modes are interleaved query by query (the order rotating)
so background load on the machine hits them alike; each query text is used once (no encoder cache).
With ``--cached-text`` each iteration's text is first sent once unmeasured, then in every mode: the text
encoder's cache answers, so the difference between modes is the search and its response alone.

    .venv/bin/python scripts/bench_hybrid.py --repeats 300 --out docs/bench/hybrid-latency.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dancesearch.bench.queries import TextPool, text_queries  # noqa: E402
from dancesearch.bench.server import serve  # noqa: E402
from dancesearch.bench.stats import Summary  # noqa: E402

MODES = ("motion", "hybrid", "keyword")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpus")
    ap.add_argument("--model", type=Path, default=REPO / "models" / "default")
    ap.add_argument("--work", type=Path, default=Path("/tmp/dancesearch-hybrid-bench"))
    ap.add_argument("--repeats", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--cached-text", action="store_true", help="one text per iteration, encoded before")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    import httpx

    from db.config import LibraryLocation
    from embedders.runtime import DanceSearchModel
    from search.engine import Engine

    data_dir = args.work / "library"
    t0 = time.perf_counter()
    with Engine.open(LibraryLocation.resolve(data_dir), DanceSearchModel(args.model), sync=False, progress=False,
                     ingest_workers=2) as engine:
        manifest = json.loads((args.corpus / "manifest.json").read_text())
        if engine.lib.stats().clips < len(manifest["sequences"]) * 0.9:
            engine.ingest([args.corpus], args.corpus / "manifest.json")
        engine.sync()
        status = engine.status()
    print(f"library: {status['clips']} clips, {status['windows']} windows ({time.perf_counter() - t0:.0f} s)",
          flush=True)
    pool = TextPool(text_queries(args.corpus, 7))
    times: dict[str, list[float]] = {m: [] for m in MODES}
    with serve(data_dir, args.model, args.work / "server.log") as url, \
            httpx.Client(base_url=url, timeout=60.0) as client:
        for i in range(args.warmup + args.repeats):
            text = pool.take()
            if args.cached_text:
                client.get("/api/search/text", params={"query": text, "k": 1, "generate": "never", "mode": "motion"})
            for j in range(len(MODES)):
                mode = MODES[(i + j) % len(MODES)]
                query = text if args.cached_text else pool.take()
                start = time.perf_counter()
                resp = client.get("/api/search/text", params={"query": query, "k": 10, "generate": "never",
                                                              "mode": mode})
                elapsed = (time.perf_counter() - start) * 1000.0
                if resp.status_code != 200:
                    raise SystemExit(f"{mode}: HTTP {resp.status_code}: {resp.text[:200]}")
                if i >= args.warmup:
                    times[mode].append(elapsed)
    summaries = {m: Summary.of(t, "ms").to_json() for m, t in times.items()}
    for m, s in summaries.items():
        print(f"{m:8s} p50 {s['p50']:.2f} ms  p95 {s['p95']:.2f} ms  p99 {s['p99']:.2f} ms  (n={s['n']})")
    delta = summaries["hybrid"]["p50"] - summaries["motion"]["p50"]
    print(f"hybrid - motion p50: {delta:+.2f} ms (target <= 2 ms)")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"clips": status["clips"], "windows": status["windows"],
                                        "repeats": args.repeats, "cached_text": args.cached_text,
                                        "http": summaries,
                                        "hybrid_minus_motion_p50_ms": round(delta, 3)}, indent=1))


if __name__ == "__main__":
    main()
