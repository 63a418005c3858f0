"""The same CMU take on two rigs: does each find the other first, by example?

The corpus holds 10 CMU takes twice: on the iClone rig (``cmu/``, BVH) and on the DeepMimic humanoid
(``deepmimic/``, trimmed pieces of the same take, a different skeleton, proportions and format; all in
train or val, none in test). Both folders are ingested into one library with the product's own ingest,
and each clip of a pair queries the library by example (search_clip, the query clip excluded): the
figure is the share of queries whose twin ranks first, and the twin's median rank. Gallery: 145 clips.

Usage: ``python scripts/eval_twins.py --model models/default [--corpus ../shared/corpus] [--work runs/twins]
[--match similar|same]`` (``same``: the same movement first, :mod:`search.by_example`)
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/default")
    parser.add_argument("--corpus", default="../shared/corpus")
    parser.add_argument("--work", default="runs/twins")
    parser.add_argument("--match", choices=("similar", "same"), default="similar")
    args = parser.parse_args()
    from dancesearch.engine_factory import open_engine
    from db.config import LibraryLocation
    from db.library import Library
    from indexer.ingest import Ingester, IngestOptions
    from indexer.metadata import load_metadata

    corpus = Path(args.corpus).resolve()
    data_dir = Path(args.work) / Path(args.model).name
    with Library.open(LibraryLocation.resolve(data_dir)) as lib:
        summary = Ingester(lib, IngestOptions(workers=0, metadata=load_metadata([corpus / "manifest.json"]),
                                              progress=False)).run([str(corpus / "cmu"), str(corpus / "deepmimic")])
        if summary.failed:
            raise SystemExit(f"{summary.failed} files failed to ingest")
        clips = {Path(c.path).name.split(".")[0] + "@" + c.source: c for c in lib.list_clips()}
    pairs = [(c, clips.get(str(c.labels["twin"]).split("/")[1] + "@cmu")) for c in clips.values()
             if c.source == "deepmimic" and c.labels.get("twin")]
    engine = open_engine(args.model, data_dir)
    ranks = []
    for dm, cmu in pairs:
        assert cmu is not None
        for query, twin in ((dm, cmu), (cmu, dm)):
            order: list[int | None] = []
            while len(order) < len(clips) - 1:  # page through the whole library (k is bounded per page)
                page = engine.search_clip(query.id, k=100, offset=len(order), match=args.match).results
                if not page:
                    break
                order += [h.clip_id for h in page]
            ranks.append(order.index(twin.id) + 1 if twin.id in order else len(clips))
    engine.close()
    print(json.dumps({"model": args.model, "match": args.match, "pairs": len(pairs), "queries": len(ranks),
                      "twin_first": round(sum(r == 1 for r in ranks) / len(ranks), 3),
                      "twin_in_top5": round(sum(r <= 5 for r in ranks) / len(ranks), 3),
                      "median_rank": statistics.median(ranks), "ranks": ranks}))


if __name__ == "__main__":
    main()
