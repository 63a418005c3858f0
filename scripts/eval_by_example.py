"""How much the poses themselves should weigh in "same movement" search by example (``match="same"``).

On a split's windows, each measure compares the learned shared space with the blend
``(1 - w) * learned + w * pose`` (``SearchModel.pose_vectors``) used by :mod:`search.same_motion`:

* cross-rig R@1: clips written on other rig conventions and body sizes and read back through the
  product's readers (:func:`training.eval_v2.cross_rig`): is the original moment first?
* P@5 same content + style (Bandai) and same genre, and label P@10: what "similar" is for, to show the
  cost of ranking by pose;
* Perfume cross-dancer R@1 (test split only: Perfume is test-only).

The whole split is the gallery (the engine re-ranks the learned top 50 clips, which holds every
cross-rig original found by the learned space at these ranks). ``--choose`` picks the weight with the
best cross-rig R@1 (use it on ``val``) and writes it into the model's ``config.json`` search settings
as ``same_motion_pose_weight``.

    .venv/bin/python scripts/eval_by_example.py --split val --choose
    .venv/bin/python scripts/eval_by_example.py --split test --weights 0 <chosen>
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, default=REPO / "models" / "default")
    ap.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpus")
    ap.add_argument("--split", default="val")
    ap.add_argument("--work", type=Path, default=REPO / "runs" / "by-example")
    ap.add_argument("--weights", type=float, nargs="*", default=list(WEIGHTS))
    ap.add_argument("--choose", action="store_true", help="write the best cross-rig weight into the model")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if args.choose and args.split == "test":
        raise SystemExit("--choose tunes a setting: use it on val, never on test")

    import torch

    from embedders.runtime import DanceSearchModel
    from training import eval_v2
    from training.data import load_split
    from training.eval_tasks import EncodedSplit, perfume_cross_dancer
    from training.evaluate import EvalOptions, eval_library
    from training.metrics import precision_at_k

    torch.set_num_threads(1)
    opts = EvalOptions(model=args.model, corpus=args.corpus, split=args.split, out=args.work / "out",
                       work=args.work / args.split, workers=0)
    model = DanceSearchModel(args.model)
    split = EncodedSplit.build(model, load_split(eval_library(opts), args.split, model.window_size, None))
    m = model.with_space(str(model.settings.get("space", "shared_space")))
    learned = m.embed_features(split.features)
    poses = model.pose_vectors_of_features(split.features)
    cids, src = split.windows.clip_ids, np.array(split.windows.sources, dtype=object).astype(str)
    other = cids[:, None] != cids[None, :]
    bandai = np.flatnonzero(np.char.startswith(src, "bandai"))
    genres = np.array([str(lab.get("genre", "")) for lab in split.windows.labels], dtype=object)
    with_genre = np.flatnonzero(genres != "")
    has_key = split.keys != ""
    rel_key = (split.keys[:, None] == split.keys[None, :]) & other & has_key[:, None]
    rows = {}
    for w in args.weights:
        def blend(lv: np.ndarray, pv: np.ndarray, w: float = w) -> np.ndarray:
            return np.concatenate([np.sqrt(1.0 - w) * lv, np.sqrt(w) * pv], axis=1)

        def embed(positions: np.ndarray, starts: list[int]) -> np.ndarray:
            return blend(m.embed_windows(positions, starts), model.pose_vectors(positions, starts))

        gallery = blend(learned, poses)
        scores = np.where(other, gallery @ gallery.T, -np.inf)
        row = {"cross-rig R@1": eval_v2.cross_rig(split, {"w": embed}, {"w": gallery}, 1234)["w"]["R@1"],
               "label P@10": precision_at_k(scores[has_key], rel_key[has_key], 10)}
        if len(bandai):
            rel = (split.keys[bandai][:, None] == split.keys[None, :]) & other[bandai]
            row["P@5 content+style"] = precision_at_k(scores[bandai], rel, 5)
        if len(with_genre):
            rel = (genres[with_genre][:, None] == genres[None, :]) & other[with_genre]
            row["P@5 genre"] = precision_at_k(scores[with_genre], rel, 5)
        row.update({k: v for k, v in perfume_cross_dancer(scores, split).items() if k == "perfume_R@1"})
        rows[w] = {k: round(float(v), 4) for k, v in row.items()}
        print(f"w={w:.2f}", json.dumps(rows[w]), flush=True)
    doc = {"model": str(args.model), "split": args.split, "windows": int(len(cids)), "rows": rows}
    if args.choose:
        best = max(rows, key=lambda w: (rows[w]["cross-rig R@1"], -w))
        cfg_path = args.model / "config.json"
        cfg = json.loads(cfg_path.read_text())
        cfg.setdefault("search", {})["same_motion_pose_weight"] = best
        cfg_path.write_text(json.dumps(cfg, indent=1) + "\n")
        doc["chosen"] = best
        print(f"chose same_motion_pose_weight = {best} (best val cross-rig R@1), written to {cfg_path}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
