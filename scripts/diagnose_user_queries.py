"""Why a hand-written user query misses: its rank against the best rank the model's own description of a
relevant label set reaches on the same windows.

For every user query with a relevant window in the split (as ``dancesearch eval`` counts them): the rank
of its first relevant window, the best such rank over the descriptions (``descriptions.json``) whose label
key is relevant to it ("oracle": the same motion vectors, the model's own words), and the label key of the
description nearest to the query in the shared space. A query that misses while its oracle is 1 is
lost in the text encoder; one whose oracle misses too is lost in the motion space.

    .venv/bin/python scripts/diagnose_user_queries.py --model models/default --split test
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, default=REPO / "models" / "default")
    ap.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpus")
    ap.add_argument("--split", default="val")
    ap.add_argument("--work", type=Path, help="evaluation library (default runs/eval-work-SPLIT)")
    args = ap.parse_args()

    from embedders.runtime import DanceSearchModel
    from training.data import load_split
    from training.eval_tasks import EncodedSplit, user_queries
    from training.evaluate import EvalOptions, eval_library
    from training.metrics import first_relevant_ranks
    from training.text.relevance import load_user_queries

    opts = EvalOptions(model=args.model, corpus=args.corpus.resolve(), split=args.split, out=REPO / "runs",
                       work=args.work or REPO / "runs" / f"eval-work-{args.split}")
    model = DanceSearchModel(args.model)
    windows = load_split(eval_library(opts), args.split, model.window_size)
    split = EncodedSplit.build(model, windows)
    queries = user_queries(split, load_user_queries())
    motion = model.embed_features(split.features)
    records = [r for r in model.description_records() if r.get("key")]
    keys = np.array([r["key"] for r in records], dtype=object)
    desc = model.embed_texts([r["text"] for r in records])
    query = model.embed_texts(queries.texts)
    desc_scores = desc @ motion.T
    ranks = first_relevant_ranks(query @ motion.T, queries.relevant)
    print(f"{'rank':>5} {'oracle':>6}  query  |  nearest description's key")
    for i, text in enumerate(queries.texts):
        relevant = queries.relevant[i]
        own = np.flatnonzero(np.isin(keys, list(set(split.keys[relevant]) - {""})))
        oracle = (int(first_relevant_ranks(desc_scores[own], np.broadcast_to(relevant, (own.size, relevant.size))).min())
                  if own.size else "-")
        nearest = keys[int(np.argmax(query[i] @ desc.T))]
        print(f"{int(ranks[i]):5d} {oracle:>6}  {text}  |  {nearest}")
    print(f"R@1 {float(np.mean(ranks == 1)) if len(ranks) else 0.0:.3f} over {len(queries.texts)} queries")


if __name__ == "__main__":
    main()
