"""Settings of search by example (:mod:`search.by_example`), measured on a split's windows: how much the
poses themselves weigh in "same movement" search (``same_motion_pose_weight``) and how many neighbouring
windows each way give a window its temporal context (``by_example_context``, per match mode).

Each measure compares window similarities ``(1 - w) * learned + w * pose`` (``SearchModel.pose_vectors``),
averaged over ``K`` neighbouring pairs each way at the same time shift (:func:`search.by_example.in_context`):

* cross-rig R@1: clips written on other rig conventions and body sizes and read back through the
  product's readers (:func:`training.eval_v2.cross_rig`'s clips): is the original moment first?
* P@5 same content + style (Bandai queries, and Bandai-2's alone) and same genre, and label P@10: what "similar" is for, to show the
  cost of ranking by pose;
* Perfume cross-dancer R@1 (test split only: Perfume is test-only);
* other-performer R@1: the split's clips of 10 s or more performed again by a synthetic other performer
  (:mod:`training.eval_performers`: body size, posture, amplitude, a mild time warp): is the original
  moment (within 1 s) first? Perfume's question on any split.

The whole split is the gallery, every window re-scored (the engine re-scores only the clips of the 64
nearest windows of each query window; ``scripts/eval_twins.py`` and ``scripts/eval_rig_pairs.py`` measure
through the engine). ``--choose`` (use it on ``val``) picks, for ``same``, the weight and context with the
best mean of cross-rig and other-performer R@1 (the smallest context, then the smallest weight, within
:data:`SAME_TOLERANCE` of that best: a longer context costs time) and, for ``similar`` (weight 0), the
context with the best label P@10, and writes them into the model's ``config.json`` search settings.

    .venv/bin/python scripts/eval_by_example.py --split val --choose
    .venv/bin/python scripts/eval_by_example.py --split test --weights 0 <chosen> --contexts 0 <chosen>
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

WEIGHTS = (0.0, 0.2, 0.35, 0.5, 0.65, 0.8, 1.0)
CONTEXTS = (0, 1, 2, 3, 4, 6, 8)
SAME_TOLERANCE = 0.005
CLIP_FRAMES = 1 << 32
"""Window keys ``clip id * CLIP_FRAMES + start``: a shift by whole windows stays inside the clip."""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, default=REPO / "models" / "default")
    ap.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpus")
    ap.add_argument("--split", default="val")
    ap.add_argument("--work", type=Path, default=REPO / "runs" / "by-example")
    ap.add_argument("--weights", type=float, nargs="*", default=list(WEIGHTS))
    ap.add_argument("--contexts", type=int, nargs="*", default=list(CONTEXTS))
    ap.add_argument("--choose", action="store_true", help="write the chosen settings into the model")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if args.choose and args.split == "test":
        raise SystemExit("--choose tunes a setting: use it on val, never on test")

    import torch

    from embedders.runtime import DanceSearchModel
    from motion.windows import DEFAULT_STRIDE, window_starts
    from search.by_example import in_context
    from training import eval_performers, eval_v2
    from training.data import load_split
    from training.eval_tasks import EncodedSplit, perfume_cross_dancer
    from training.evaluate import EvalOptions, eval_library
    from training.metrics import first_relevant_ranks, precision_at_k, recall_at_k

    torch.set_num_threads(1)
    opts = EvalOptions(model=args.model, corpus=args.corpus, split=args.split, out=args.work / "out",
                       work=args.work / args.split, workers=0)
    model = DanceSearchModel(args.model)
    split = EncodedSplit.build(model, load_split(eval_library(opts), args.split, model.window_size, None))
    m = model.with_space(str(model.settings.get("space", "shared_space")))
    learned = m.embed_features(split.features)
    poses = model.pose_vectors_of_features(split.features)
    cids = split.windows.clip_ids
    starts = split.windows.starts.astype(np.int64)
    keys = cids.astype(np.int64) * CLIP_FRAMES + starts
    other = cids[:, None] != cids[None, :]
    has_key = split.keys != ""
    rel_key = (split.keys[:, None] == split.keys[None, :]) & other & has_key[:, None]
    learned_sims, pose_sims = learned @ learned.T, poses @ poses.T
    copies = []  # (relevant mask, learned sims, pose sims, query keys) of each cross-rig copy
    for cid, motion, _ in eval_v2._retargeted(split, 1234):
        idx = np.flatnonzero(cids == cid)
        qs = np.array([s for s in starts[idx] if s + split.windows.size <= motion.n_frames], dtype=np.int64)
        if qs.size:
            relevant = (cids[None, :] == cid) & (np.abs(starts[None, :] - qs[:, None]) <= eval_v2.CROSS_RIG_TOLERANCE)
            copies.append((relevant, m.embed_windows(motion.positions, qs.tolist()) @ learned.T,
                           model.pose_vectors(motion.positions, qs.tolist()) @ poses.T, cid * CLIP_FRAMES + qs))
    performers = []  # (relevant mask, learned sims, pose sims, query starts) of each other-performer copy
    for copy in eval_performers.performed_again(split, 4321):
        qs = np.array(window_starts(len(copy.positions), split.windows.size, DEFAULT_STRIDE), dtype=np.int64)
        performers.append((eval_performers.relevant_windows(copy, qs, cids, starts),
                           m.embed_windows(copy.positions, qs.tolist()) @ learned.T,
                           model.pose_vectors(copy.positions, qs.tolist()) @ poses.T, qs))
    rows: dict[str, dict[str, float]] = {}
    for w in args.weights:
        for k in args.contexts:
            sims = in_context((1.0 - w) * learned_sims + w * pose_sims, keys, keys, k, DEFAULT_STRIDE)
            scores = np.where(other, sims, -np.inf)
            ranks = [first_relevant_ranks(in_context((1.0 - w) * ls + w * ps, qk, keys, k, DEFAULT_STRIDE), rel)
                     for rel, ls, ps, qk in copies]
            performer_ranks = [first_relevant_ranks(in_context((1.0 - w) * ls + w * ps, qs, keys, k, DEFAULT_STRIDE), rel)
                               for rel, ls, ps, qs in performers]
            row = {"cross-rig R@1": recall_at_k(np.concatenate(ranks), (1,))["R@1"],
                   "other-performer R@1": recall_at_k(np.concatenate(performer_ranks), (1,))["R@1"],
                   "label P@10": precision_at_k(scores[has_key], rel_key[has_key], 10),
                   **eval_v2.grouped_precision_of_scores(sims, split)}
            row.update({key: v for key, v in perfume_cross_dancer(scores, split).items() if key == "perfume_R@1"})
            rows[f"w={w:g} K={k}"] = {key: round(float(v), 4) for key, v in row.items()}
            print(f"w={w:.2f} K={k}", json.dumps(rows[f"w={w:g} K={k}"]), flush=True)
    doc: dict[str, object] = {"model": str(args.model), "split": args.split, "windows": int(len(cids)),
                              "cross-rig queries": int(sum(len(c[3]) for c in copies)),
                              "other-performer queries": int(sum(len(c[3]) for c in performers)), "rows": rows}
    if args.choose:
        grid = [(w, k) for w in args.weights for k in args.contexts]
        def same_score(g: tuple[float, int]) -> float:
            row = rows[f"w={g[0]:g} K={g[1]}"]
            return (row["cross-rig R@1"] + row["other-performer R@1"]) / 2

        best = max(same_score(g) for g in grid)
        same = min((g for g in grid if same_score(g) >= best - SAME_TOLERANCE), key=lambda g: (g[1], g[0]))
        similar = max((g for g in grid if g[0] == 0), key=lambda g: (rows[f"w=0 K={g[1]}"]["label P@10"], -g[1]))
        cfg_path = args.model / "config.json"
        cfg = json.loads(cfg_path.read_text())
        search = cfg.setdefault("search", {})
        search["same_motion_pose_weight"] = same[0]
        search["by_example_context"] = {"similar": similar[1], "same": same[1]}
        cfg_path.write_text(json.dumps(cfg, indent=1) + "\n")
        doc["chosen"] = {"same_motion_pose_weight": same[0], "by_example_context": search["by_example_context"]}
        print(f"chose {json.dumps(doc['chosen'])} (same: best val mean of cross-rig and other-performer R@1; "
              "similar: best val label P@10), "
              f"written to {cfg_path}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
