"""Stage 7b settings measured on `val`: the text head refitted on the locked motion encoder
(:mod:`training.stages.text_head`) with noise and dropout on its MiniLM input, against the joint stage's
own head, for several seeds.

For each variant a text head is trained by the stage's own function on the model's motion encoder (the
training library under ``--work``, as ``dancesearch train`` prepares it: train and val clips only) and
measured on the val windows with the evaluation's query sets: held-out caption phrasings (3 per label
key, seed 1234), the hand-written user queries with a relevant val window, and the kinematic held-out
queries; R@1 and R@5 of each, and their mean R@1 (the choice). ``joint`` is the model's head as the joint
stage left it (no refit). Test is never read.

    .venv/bin/python scripts/sweep_text_head.py --model models/default --out docs/bench/text-head-val.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

VARIANTS: dict[str, dict[str, float]] = {
    "no noise, no dropout": {"noise": 0.0, "dropout": 0.0},
    "dropout 0.2": {"noise": 0.0, "dropout": 0.2},
    "noise 0.5": {"noise": 0.5, "dropout": 0.0},
    "noise 1.0": {"noise": 1.0, "dropout": 0.0},
    "noise 1.5": {"noise": 1.5, "dropout": 0.0},
    "noise 2.0": {"noise": 2.0, "dropout": 0.0},
    "noise 3.0": {"noise": 3.0, "dropout": 0.0},
    "noise 1.0, dropout 0.2": {"noise": 1.0, "dropout": 0.2},
    "noise 1.5, dropout 0.2": {"noise": 1.5, "dropout": 0.2},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, default=REPO / "models" / "default")
    ap.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpus")
    ap.add_argument("--work", type=Path, default=REPO / "runs" / "train-work")
    ap.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    from embedders.runtime import DanceSearchModel
    from embedders.spaces import SharedSpace, TextHeadConfig
    from training import eval_v2
    from training.eval_tasks import EncodedSplit, caption_queries, user_queries
    from training.metrics import first_relevant_ranks, recall_at_k
    from training.pipeline import TrainOptions, prepare
    from training.stages.text_head import TextHeadTrainConfig, train_text_head
    from training.text.relevance import load_user_queries
    from training.textcache import TextEmbeddingCache

    torch.set_num_threads(2)
    opts = TrainOptions(corpus=args.corpus.resolve(), out=REPO / "runs" / "sweep-text-head", work=args.work)
    encoder = TextEmbeddingCache(opts.work / "text_cache.npz")
    prep = prepare(opts, encoder)
    encoder.save()
    model = DanceSearchModel(args.model)
    joint = SharedSpace.load(args.model, "shared_space").eval()  # the joint stage's head, no refit
    split = EncodedSplit.build(model, prep.val)
    queries = {"captions": caption_queries(split, 3, 1234, set()), "user": user_queries(split, load_user_queries()),
               "kinematic": eval_v2.kinematic_queries(split, eval_v2.window_fact_lists(split), 1234)}
    with torch.no_grad():
        motion = joint.embed_motion(split.features).numpy()
        minilm = {k: model.minilm(q.texts) for k, q in queries.items()}

    def measure(embed_text: Any) -> dict[str, Any]:
        row: dict[str, Any] = {}
        with torch.no_grad():
            for k, q in queries.items():
                r = recall_at_k(first_relevant_ranks(embed_text(minilm[k]).numpy() @ motion.T, q.relevant))
                row[k] = {"R@1": round(r["R@1"], 3), "R@5": round(r["R@5"], 3), "queries": len(q.texts)}
        row["mean R@1"] = round(float(np.mean([row[k]["R@1"] for k in queries])), 3)
        return row

    results: dict[str, Any] = {"joint stage head (no refit)": measure(joint.embed_text)}
    print("joint stage head (no refit)", json.dumps(results["joint stage head (no refit)"]), flush=True)
    for name, v in VARIANTS.items():
        runs = []
        for seed in args.seeds:
            t0 = time.perf_counter()
            head, _ = train_text_head(prep.data, joint, replace(TextHeadConfig(), dropout=v["dropout"]),
                                      replace(TextHeadTrainConfig(), noise=v["noise"], seed=seed))
            runs.append({**measure(head), "seed": seed, "seconds": round(time.perf_counter() - t0, 1)})
            print(name, json.dumps(runs[-1]), flush=True)
        results[name] = {"settings": v, "runs": runs,
                         "mean R@1 over seeds": round(float(np.mean([r["mean R@1"] for r in runs])), 3)}
        print(name, "mean over seeds", results[name]["mean R@1 over seeds"], flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"split": "val", "model": str(args.model), "results": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
