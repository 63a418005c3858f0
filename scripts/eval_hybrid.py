"""Hybrid text search on the corpus: motion-only vs keyword vs hybrid, clip-level, one split at a time.

For a split (``val`` to choose the fusion, ``test`` to report it, never the other way round) this builds
two libraries of that split's clips with the given model, under ``--work``:

* ``labels``: ingested with the corpus ``manifest.json`` (labels, descriptions, sources) as metadata;
* ``names``: the same files without any sidecar: only file and folder names speak.

Queries are the evaluation's held-out phrasings of every label key in the split
(``training.text.captions.eval_queries_for_labels``, 3 per key, seed 1234, as ``dancesearch eval``) and
the hand-written user queries with a relevant clip in the split. A clip is relevant when its manifest
labels have the query's relevance key (``training.text.relevance``), in both libraries. Reported:
R@1/5/10 and median rank of the first relevant clip.

``--grid`` also scores the fusion variants offline from the engine's three signals (the weighted sum
over a grid of weights and floors, and reciprocal-rank fusion) and prints the best on this split;
without it the engine's own ``search_text`` is run in the three modes (what users get).

    .venv/bin/python scripts/eval_hybrid.py --split val --grid --out docs/bench/hybrid-val.json
    .venv/bin/python scripts/eval_hybrid.py --split test --out docs/bench/hybrid-test.json
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from db.config import LibraryLocation  # noqa: E402
from search.engine import Engine  # noqa: E402
from search.metadata import Fusion  # noqa: E402
from search.queries import unit_rows  # noqa: E402
from training.text.captions import CaptionError, eval_queries_for_labels  # noqa: E402
from training.text.relevance import load_user_queries, try_label_key  # noqa: E402

CONDITIONS = ("labels", "names")


def split_entries(corpus: Path, split: str) -> list[dict[str, Any]]:
    manifest = json.loads((corpus / "manifest.json").read_text())
    return [e for e in manifest["sequences"] if e.get("split") == split and (corpus / e["file"]).is_file()]


def build(engine_dir: Path, corpus: Path, entries: list[dict[str, Any]], condition: str, model: Any) -> Engine:
    from search.limits import SearchLimits

    # Evaluation ranks every clip of the split in one page: lift the per-request bound of the service.
    engine = Engine.open(LibraryLocation.resolve(engine_dir), model, sync=False, progress=False, ingest_workers=2,
                         limits=SearchLimits(max_k=1000, max_offset=100_000))
    if engine.lib.stats().clips < len(entries):
        engine.ingest([corpus / e["file"] for e in entries],
                      corpus / "manifest.json" if condition == "labels" else None)
    engine.sync()
    return engine


Relevance = Callable[[str, dict[str, Any]], bool]


def _key_is(key: str) -> Relevance:
    return lambda source, labels: try_label_key(source, labels) == key


def queries_for(entries: list[dict[str, Any]]) -> list[tuple[str, str, Callable[[str, dict[str, Any]], bool]]]:
    """(family, text, relevance(source, labels)) of the split's held-out queries."""
    out: list[tuple[str, str, Callable[[str, dict[str, Any]], bool]]] = []
    seen: dict[str, tuple[str, dict[str, Any]]] = {}
    for e in entries:
        key = try_label_key(e["source"], e["labels"])
        if key and key not in seen:
            seen[key] = (e["source"], e["labels"])
    for key, (source, labels) in sorted(seen.items()):
        try:
            texts = eval_queries_for_labels(source, labels, random.Random(f"1234:{key}"), 3)
        except CaptionError:
            continue
        for text in dict.fromkeys(texts):
            out.append(("captions", text, _key_is(key)))
    for q in load_user_queries():
        if any(q.is_relevant(e["source"], e["labels"]) for e in entries):
            out.append(("user", q.query, q.is_relevant))
    return out


def relevance(engine: Engine, corpus: Path, entries: list[dict[str, Any]]) -> dict[int, tuple[str, dict[str, Any]]]:
    """clip id -> (manifest source, manifest labels), matched by file path."""
    by_path = {str((corpus / e["file"]).resolve()): e for e in entries}
    out = {}
    for clip in engine.lib.list_clips():
        e = by_path.get(str(Path(clip.path).resolve()))
        if e is not None:
            out[clip.id] = (e["source"], e["labels"])
    return out


def signals(engine: Engine, text: str, n: int) -> tuple[dict[int, float], dict[int, float], dict[int, float]]:
    """Motion score of every clip, normalised BM25 of matching clips, metadata cosine of embedded clips."""
    motion = {h.clip_id: h.score for h in engine.search_text(text, k=n, generate="never", mode="motion").results
              if h.clip_id is not None}
    keyword = {c: m.score for c, m in engine.meta.keywords.search(text).as_dict().items()}
    qvec = unit_rows(engine.model.embed_texts([text]))[0]
    sims = engine.meta.similarities(qvec, n)
    return motion, keyword, sims


def first_rank(order: list[int], relevant: set[int]) -> int:
    for i, c in enumerate(order, start=1):
        if c in relevant:
            return i
    return len(order) + 1


def metrics(ranks: list[int]) -> dict[str, float]:
    r = np.asarray(ranks)
    return {"R@1": float((r <= 1).mean()), "R@5": float((r <= 5).mean()), "R@10": float((r <= 10).mean()),
            "MedR": float(np.median(r)), "queries": int(r.size)}


def weighted(sig: tuple[dict[int, float], dict[int, float], dict[int, float]], f: Fusion) -> list[int]:
    motion, keyword, sims = sig
    fused = {c: s + f.boost(keyword.get(c, 0.0), sims.get(c)) for c, s in motion.items()}
    return sorted(fused, key=lambda c: (-fused[c], c))


def rrf(sig: tuple[dict[int, float], dict[int, float], dict[int, float]], k: int = 60, floor: float = 0.5) -> list[int]:
    motion, keyword, sims = sig
    fused = {c: 0.0 for c in motion}
    for scores in (motion, keyword, {c: s for c, s in sims.items() if s > floor}):
        for rank, c in enumerate(sorted(scores, key=lambda c: (-scores[c], c)), start=1):
            if c in fused:
                fused[c] += 1.0 / (k + rank)
    return sorted(fused, key=lambda c: (-fused[c], c))


def keyword_only(sig: tuple[dict[int, float], dict[int, float], dict[int, float]]) -> list[int]:
    motion, keyword, _ = sig
    return sorted(motion, key=lambda c: (-keyword.get(c, 0.0), -motion[c], c))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--split", required=True, choices=("val", "test"))
    ap.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpus")
    ap.add_argument("--model", type=Path, default=REPO / "models" / "default")
    ap.add_argument("--work", type=Path, default=Path("/tmp/dancesearch-hybrid-eval"))
    ap.add_argument("--grid", action="store_true", help="score fusion variants offline and print the best")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    from embedders.runtime import DanceSearchModel

    model = DanceSearchModel(args.model)
    entries = split_entries(args.corpus, args.split)
    queries = queries_for(entries)
    report: dict[str, Any] = {"split": args.split, "clips": len(entries), "queries": len(queries), "results": {}}
    grid_scores: dict[str, list[float]] = {}
    for condition in CONDITIONS:
        t0 = time.perf_counter()
        engine = build(args.work / f"{args.split}-{condition}", args.corpus, entries, condition, model)
        rel = relevance(engine, args.corpus, entries)
        n = len(rel)
        print(f"{condition}: {n} clips, built in {time.perf_counter() - t0:.1f} s", flush=True)
        res: dict[str, Any] = {}
        for family in ("captions", "user"):
            fam = [(t, r) for f, t, r in queries if f == family]
            relevant = [{c for c, (s, lab) in rel.items() if r(s, lab)} for _, r in fam]
            if args.grid:
                sigs = [signals(engine, t, n) for t, _ in fam]
                variants: dict[str, Callable[[Any], list[int]]] = {
                    "motion": lambda s: weighted(s, Fusion(0.0, 0.0)), "keyword": keyword_only,
                    "rrf": rrf}
                for wk, wm, floor in itertools.product((0.1, 0.2, 0.3, 0.5, 1.0), (0.0, 0.1, 0.2, 0.3, 0.5),
                                                       (0.3, 0.4, 0.5, 0.6, 0.7)):
                    variants[f"w{wk}-m{wm}-f{floor}"] = functools.partial(weighted, f=Fusion(wk, wm, floor))
                for name, rank_fn in variants.items():
                    m = metrics([first_rank(rank_fn(s), r) for s, r in zip(sigs, relevant, strict=True)])
                    res.setdefault(name, {})[family] = m
                    grid_scores.setdefault(name, []).append((m["R@1"] + m["R@5"] + m["R@10"]) / 3)
            else:
                for mode in ("motion", "keyword", "hybrid"):
                    ranks = []
                    for (text, _), r in zip(fam, relevant, strict=True):
                        hits = engine.search_text(text, k=min(n, 1000), generate="never", mode=mode).results
                        ranks.append(first_rank([h.clip_id for h in hits if h.clip_id is not None], r))
                    res.setdefault(mode, {})[family] = metrics(ranks)
        report["results"][condition] = res
        engine.close()
    if args.grid:
        mean = {name: float(np.mean(v)) for name, v in grid_scores.items()}
        best = sorted(mean, key=lambda k: -mean[k])
        report["grid_mean_recall"] = {k: round(mean[k], 4) for k in best}
        print("best variants (mean of R@1/5/10 over conditions x query families):")
        for name in best[:10]:
            print(f"  {name:22s} {mean[name]:.4f}")
        for name in ("motion", "keyword", "rrf"):
            print(f"  {name:22s} {mean[name]:.4f}")
    else:
        for condition, res in report["results"].items():
            for mode, fams in res.items():
                for family, m in fams.items():
                    print(f"{condition:7s} {mode:8s} {family:9s} R@1 {m['R@1']:.3f} R@5 {m['R@5']:.3f} "
                          f"R@10 {m['R@10']:.3f} MedR {m['MedR']:.0f} ({m['queries']} queries)")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
