"""The same take on two rigs, through the product: does each copy find the other first, by example?

A proxy for the hidden check "the same CMU take exported on two different rigs must find each other
first". A seeded sample of corpus files of one split is ingested as they are; each one's canonical motion
is then written as BVH on another rig convention (:mod:`motion.conventions`: names, hierarchy, units, up
axis, root convention, T- or A-pose rest, a performer 0.8-1.2x the size) and ingested too, with no rig
file, by the product's own ingest. Every clip of a pair queries the library (``search_clip``, itself
excluded) with ``--match`` similar and same; the figure is the share of queries whose twin ranks first.
Unlike ``scripts/eval_twins.py`` (trimmed DeepMimic pieces on another character), both copies hold the
whole take.

    .venv/bin/python scripts/eval_rig_pairs.py --split test --clips 40
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SOURCES = ("ballroom", "bandai-1", "bandai-2", "cmu", "salsa", "idle", "perfume")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, default=REPO / "models" / "default")
    ap.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpus")
    ap.add_argument("--split", default="test")
    ap.add_argument("--clips", type=int, default=40)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--work", type=Path, default=REPO / "runs" / "rig-pairs")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    from dancesearch.engine_factory import open_engine
    from db.config import LibraryLocation
    from db.library import Library
    from indexer.ingest import Ingester, IngestOptions
    from indexer.metadata import load_metadata
    from motion.conventions import CONVENTIONS, convention_bvh

    rng = random.Random(args.seed)
    manifest = json.loads((args.corpus / "manifest.json").read_text())["sequences"]
    entries = sorted((e for e in manifest if e["split"] == args.split and e["source"] in SOURCES),
                     key=lambda e: e["id"])
    chosen = rng.sample(entries, min(args.clips, len(entries)))
    work = args.work / args.split
    copies = work / "copies"
    copies.mkdir(parents=True, exist_ok=True)
    data_dir = work / "library"
    names = sorted(CONVENTIONS)
    with Library.open(LibraryLocation.resolve(data_dir)) as lib:
        options = IngestOptions(workers=0, metadata=load_metadata([args.corpus / "manifest.json"]), progress=False)
        summary = Ingester(lib, options).run([str(args.corpus / e["file"]) for e in chosen])
        if summary.failed:
            raise SystemExit(f"{summary.failed} corpus files failed to ingest")
        originals = {Path(c.path).resolve(): c for c in lib.list_clips()}
        plan = []
        for n, e in enumerate(chosen):
            clip = originals[(args.corpus / e["file"]).resolve()]
            conv = CONVENTIONS[names[n % len(names)]]
            target = copies / f"{Path(e['file']).name.split('.')[0]}__{conv.name}.bvh"
            if not target.exists():
                text = convention_bvh(conv, lib.load_motion(clip.id), root_mode=rng.choice(
                    ["absolute", "offset+absolute", "delta"]), pose=rng.choice(["T", "A"]),
                    body_scale=rng.uniform(0.8, 1.2))
                target.write_text(text)
            plan.append((clip.id, target.resolve(), conv.name))
        summary = Ingester(lib, IngestOptions(workers=0, progress=False)).run([str(copies)])
        if summary.failed:
            raise SystemExit(f"{summary.failed} rig copies failed to ingest: see dancesearch errors")
        by_path = {Path(c.path).resolve(): c.id for c in lib.list_clips()}
        pairs = [(a, by_path[p], conv) for a, p, conv in plan]
        n_clips = len(by_path)
    results = {}
    engine = open_engine(args.model, data_dir)
    try:
        for match in ("similar", "same"):
            ranks = []
            for a, b, _ in pairs:
                for query, twin in ((a, b), (b, a)):
                    order = [h.clip_id for h in engine.search_clip(query, k=100, match=match).results]
                    ranks.append(order.index(twin) + 1 if twin in order else n_clips)
            results[match] = {"twin_first": round(sum(r == 1 for r in ranks) / len(ranks), 3),
                              "twin_in_top5": round(sum(r <= 5 for r in ranks) / len(ranks), 3),
                              "median_rank": statistics.median(ranks), "ranks": ranks}
            print(match, json.dumps({k: v for k, v in results[match].items() if k != "ranks"}), flush=True)
    finally:
        engine.close()
    doc = {"model": str(args.model), "split": args.split, "pairs": len(pairs), "library_clips": n_clips,
           "conventions": sorted({c for _, _, c in pairs}), "results": results}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
