"""What temporal context costs a search by example: clip-range queries with ``by_example_context`` 0 and K.

Opens the engine on an existing library (e.g. the whole corpus: ``dancesearch ingest ../shared/corpus
--data-dir /tmp/abl --index``), draws ``--queries`` random ranges of ``--seconds`` (4 s) of clips at least
0.5 s longer (among the first 1,000 listed) and times ``search_clip(match=--match)`` in process, alternating
context 0 and K over ``--rounds`` rounds (the same ranges each time); prints the p50 of each round as JSON.

    .venv/bin/python scripts/bench_by_example_context.py --data-dir /tmp/abl --context 2
    .venv/bin/python scripts/bench_by_example_context.py --data-dir /tmp/abl --context 8 --match same --seconds 20
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--model", type=Path, default=REPO / "models" / "default")
    ap.add_argument("--context", type=int, default=2)
    ap.add_argument("--queries", type=int, default=80)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--match", choices=("similar", "same"), default="similar")
    ap.add_argument("--seconds", type=float, default=4.0)
    args = ap.parse_args()
    from dancesearch.engine_factory import open_engine

    engine = open_engine(args.model, args.data_dir)
    rng = np.random.default_rng(args.seed)
    clips = [c for c in engine.list_clips(limit=1000) if c["duration"] > args.seconds + 0.5]
    picks = [clips[i] for i in rng.choice(len(clips), min(args.queries, len(clips)), replace=False)]
    ranges = [(c["id"], float(rng.uniform(0, c["duration"] - args.seconds - 0.1))) for c in picks]
    settings = engine.model.config.setdefault("search", {})
    rows = []
    for _ in range(args.rounds):
        for context in (0, args.context):
            settings["by_example_context"] = {args.match: context}
            times = []
            for clip_id, start in ranges:
                t = time.perf_counter()
                engine.search_clip(clip_id, start, start + args.seconds, k=10, match=args.match)
                times.append(time.perf_counter() - t)
            rows.append({"context": context, "p50_ms": round(float(np.median(times)) * 1000, 1)})
    engine.close()
    print(json.dumps({"match": args.match, "seconds": args.seconds, "clips_drawn_from": len(clips),
                      "queries": len(ranges), "rows": rows}))


if __name__ == "__main__":
    main()
