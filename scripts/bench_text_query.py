"""In-process text query latency over an existing library (``Engine.search_text``, hybrid, no generation).

Each query is a new text (the encoder runs every time). Run it twice to see what the OpenMP wait policy
does (``dancesearch`` defaults ``OMP_WAIT_POLICY=PASSIVE`` when imported; a value in the environment wins):

    .venv/bin/python scripts/bench_text_query.py --data-dir /tmp/abl
    OMP_WAIT_POLICY=ACTIVE .venv/bin/python scripts/bench_text_query.py --data-dir /tmp/abl
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--model", type=Path, default=REPO / "models" / "default")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    args = ap.parse_args()
    import numpy as np

    from dancesearch.engine_factory import open_engine

    engine = open_engine(args.model, args.data_dir)
    verbs = ["walks", "runs", "jumps", "spins", "waves", "kicks", "dances", "turns", "bows", "claps"]
    texts = [f"someone {v} in take {i}" for i in range(args.queries + args.warmup) for v in verbs]
    times = []
    for i, text in enumerate(texts[:args.queries + args.warmup]):
        t = time.perf_counter()
        engine.search_text(text, k=10, generate="never")
        if i >= args.warmup:
            times.append(time.perf_counter() - t)
    engine.close()
    ms = np.array(times) * 1000
    print(json.dumps({"OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"), "queries": len(times),
                      "p50_ms": round(float(np.median(ms)), 2), "p95_ms": round(float(np.percentile(ms, 95)), 2)}))


if __name__ == "__main__":
    main()
