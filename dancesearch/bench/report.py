"""Writing ``bench.json`` (every figure) and ``bench.md`` (one table per section, targets marked).

Sections, in order: machine, ingest, latency, load, scale, quality, peers, then a summary of every
target with MET / MISSED. A section that did not run carries ``{"error": ...}`` and is rendered as
such, so the report always has every heading.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

SECTIONS = ("machine", "ingest", "latency", "load", "mixed_load", "scale", "scale_out", "quality", "peers")
TITLES = {"machine": "Machine", "ingest": "Ingest", "latency": "Query latency", "load": "Throughput under load",
          "scale": "Scale", "scale_out": "Scale-out (compressed, sharded)",
          "quality": "Quality (from the latest eval)", "peers": "Peer comparison"}


TITLES["mixed_load"] = "Mixed read/write load"


def _f(v: Any, digits: int = 2) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int | np.integer):
        return f"{int(v):,}"
    if isinstance(v, float | np.floating):
        x = float(v)
        if not math.isfinite(x):
            return "-"
        return f"{x:,.{digits}f}" if abs(x) < 1e6 else f"{x:,.0f}"
    return str(v)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_f(c) if not isinstance(c, str) else c for c in row) + " |" for row in rows]
    return out + [""]


def _target(t: dict[str, Any] | None) -> str:
    if not t:
        return ""
    sign = ">=" if t["higher_is_better"] else "<="
    return f"**{t['verdict']}** (target {sign} {_f(t['target'])})"


def _machine(m: dict[str, Any]) -> list[str]:
    gpu = "none" if not m["gpu"] else json.dumps(m["gpus"])
    rows = [["CPU", m["cpu_model"]], ["cores (logical / usable)", f"{m['logical_cores']} / {m['usable_cores']}"],
            ["RAM", f"{(m['memory_bytes'] or 0) / 2**30:.1f} GiB"], ["GPU", gpu],
            ["torch threads", str(m["torch_threads"])], ["load average at start",
                                                         " ".join(f"{x:.2f}" for x in m["load_average_at_start"] or [])],
            ["Python / platform", f"{m['python']} / {m['platform']}"],
            ["libraries", ", ".join(f"{k} {v}" for k, v in m["versions"].items())]]
    return _table(["what", "value"], rows)


def _ingest(s: dict[str, Any]) -> list[str]:
    scope = "the whole corpus" if s["whole_corpus"] else "a subset of the corpus (quick mode)"
    lines = [f"{s['files']} motion files of {scope} ({s['failed']} failed), {_f(s['canonical_frames'])} canonical "
             f"frames (25 fps), {_f(s['windows'])} windows; {_f(s['uncompressed_bytes'] / 1e6)} MB uncompressed. "
             f"Each stage: median of {s['repetitions']} fresh ingests (floor: {s['floor_repetitions']} passes), "
             f"{s['workers']} worker processes.", ""]
    rows = [["floor: read + gunzip the bytes", s["floor"]["p50"], s["floor"]["min"], s["floor"]["max"],
             s["floor"]["files_per_s"], "-", s["floor_repetitions"]],
            ["parse + FK + canonicalise + store + DB (Ingester)", s["parse_fk"]["p50"], s["parse_fk"]["min"],
             s["parse_fk"]["max"], s["parse_fk"]["files_per_s"], s["parse_fk"]["frames_per_s"], s["repetitions"]],
            [f"embedding + indexing ({_f(s['embed_index']['windows_per_s'])} windows/s)", s["embed_index"]["p50"],
             s["embed_index"]["min"], s["embed_index"]["max"], "-", "-", s["repetitions"]],
            ["total (ingest + index)", s["total"]["p50"], s["total"]["min"], s["total"]["max"],
             s["total"]["files_per_s"], s["total"]["frames_per_s"], s["repetitions"]]]
    lines += _table(["stage", "median s", "min s", "max s", "files/s", "frames/s", "repetitions"], rows)
    t = s["target"]
    lines += [f"Target, whole corpus ingested and indexed in under {_f(t['target'])} s: "
              + (f"{_f(t['value'])} s, {_target(t)}" if t["value"] is not None
                 else "not checked (quick mode ingests a subset)"), ""]
    return lines


def _latency(s: dict[str, Any]) -> list[str]:
    lines = [f"Library of {_f(s['library_windows'])} windows. Each figure: {s['repetitions']} measured queries "
             f"after {s['warmup']} warm-up queries, every text distinct (the text encoder runs every time); "
             f"motion queries are {s['clip_seconds']:g} s BVH excerpts. Median = p50. FAISS OpenMP threads in "
             f"the benchmark process: {s.get('faiss_threads', '-')} (the scale section shows what one thread "
             "changes).", ""]
    rows = []
    for mode, label in (("in_process", "in process (Engine)"), ("http", "HTTP (uvicorn, httpx)")):
        for direction, v in s[mode].items():
            rows.append([direction.replace("_", " "), label, v["n"], v["p50"], v["p95"], v["p99"], v["mean"]])
    ref = s.get("reference_text_encoder")
    if ref:
        rows.append(["reference: text encoder alone (MiniLM, a new text)", "in process", ref["n"], ref["p50"],
                     ref["p95"], ref["p99"], ref["mean"]])
    lines += _table(["direction", "mode", "repetitions", "p50 ms", "p95 ms", "p99 ms", "mean ms"], rows)
    if s.get("ratio_to_text_encoder"):
        lines += ["", "p50 as a multiple of the text encoder's p50 in the same run: " + ", ".join(
            f"{k.replace('_', ' ')} {v:g}x" for k, v in s["ratio_to_text_encoder"].items()) + "."]
    lines += [f"- {t['what']}: {_f(t['value'])} -> {_target(t)}" for t in s["targets"].values()]
    return lines + [""]


def _load(s: dict[str, Any]) -> list[str]:
    lat = s["latency"] or {}
    rows = [[s["clients"], _f(s["seconds"]), s["mix"], s["completed"], s["qps"], s["qps_median_interval"],
             " / ".join(_f(x) for x in s["qps_intervals"]), s["errors"], lat.get("p50"), lat.get("p99")]]
    lines = _table(["clients", "seconds", "mix", "completed", "qps (whole run)", "qps (median third)",
                    "qps per third", "errors", "p50 ms", "p99 ms"], rows)
    lines += [f"Errors: {s['errors']} -> {_target(s['target'])}"]
    lines += [f"- e.g. {e}" for e in s["error_examples"]]
    return lines + [""]


def _scale(s: dict[str, Any]) -> list[str]:
    v = s["vectors"]
    rate = v.get("windows_per_s")
    lines = [f"Vectors: {_f(v['n'])} real window embeddings (dim {v['dim']}): the {_f(v['corpus_windows'])} "
             f"corpus windows plus {v['augmented_rounds']} augmented copies of every clip (time warp, scale, "
             f"mirror, re-cut), re-embedded by the model"
             + (f" at {_f(rate)} windows/s" if rate else "")
             + (f"; read from the cache {v['from_cache']}" if v.get("from_cache") else "") + ". "
             f"Queries: {s['queries']['count']} held-out vectors ({s['queries']['text']} text embeddings, "
             f"{s['queries']['window']} windows of an unindexed augmentation round); one search per query, "
             "latency p50/p99 over them (after 5 warm-up searches); recall@10 against exact search. Memory: "
             "serialised index bytes. FAISS runs with its default OpenMP threads (as the engine does) except "
             "in the rows marked [1 OpenMP thread].", ""]
    for size in s["sizes"]:
        lines += [f"### {_f(size['n'])} windows (engine picks `{size['engine_choice']}`)", ""]
        if size["exact_queries"] < size["queries"]:
            lines += [f"The exact NumPy backend was timed on {size['exact_queries']} of the queries (slow at "
                      "this size).", ""]
        rows = [[r["name"], r["build_s"], (r["memory_bytes"] or 0) / 2**20, r["latency"]["n"], r["latency"]["p50"],
                 r["latency"]["p99"], r["recall_at_10"]] for r in size["rows"]]
        lines += _table(["backend", "build s", "memory MiB", "queries", "p50 ms", "p99 ms", "recall@10"], rows)
        lines += [f"- skipped `{k}`: {why}" for k, why in size["skipped"].items()]
        best = size["best"]
        lines += [f"- fastest with recall@10 >= 0.95: {best['name'] if best else 'none'}", ""]
    t = s["target"]
    lines += [f"Target at {_f(t['size'])} windows (best FAISS row: {t['best_faiss'] or 'none'}): recall@10 "
              f"{_f(t['recall']['value'], 3)} -> {_target(t['recall'])}; p50 {_f(t['p50']['value'])} ms -> "
              f"{_target(t['p50'])}", ""]
    rec = s["recommendation"]
    lines += ["Engine thresholds (`search/ann/factory.py`): current "
              + ", ".join(f"{k} = {_f(v)}" for k, v in rec["current"].items()) + "."]
    lines += [f"Rule: {rec['rule']}."]
    lines += [f"- {p['n']:,} windows: engine picks `{p['engine_choice']}`, measurements pick `{p['measured_pick']}` "
              f"(flat best p50 {_f(p['flat_best_p50_ms'])} ms; fastest meeting the recall target: "
              f"{p['fastest_meeting_recall']}) -> {'agrees' if p['agrees'] else 'DISAGREES'}" for p in rec["per_size"]]
    flat_max = rec["suggested_flat_max"]
    lines += [f"- suggested FLAT_MAX_VECTORS: at least {_f(flat_max)} (the largest measured size where flat meets "
              "the rule; the threshold lies between it and the next measured size)" if flat_max else
              "- flat met the rule at no measured size", ""]
    return lines


def _scale_out(s: dict[str, Any]) -> list[str]:
    from dancesearch.bench.scale_out import render as render_scale_out

    return render_scale_out(s)


def _quality(s: dict[str, Any]) -> list[str]:
    lines = [f"- {n}" for n in s.get("notes", [])]
    if s["status"] != "copied":
        return lines + ["No evaluation figures to show.", ""]
    lines += [f"Copied from `{s['source']}` (split `{s['split']}`, {s['windows']} windows, queries "
              f"{json.dumps(s['queries'])}).", ""]
    for section, table in s["tables"].items():
        if not table:
            continue
        cols = list(next(iter(table.values())).keys())
        lines += [f"**{section.replace('_', ' ')}**", ""]
        lines += _table(["method", *cols], [[name, *[row[c] for c in cols]] for name, row in table.items()])
    return lines


def _peers(s: dict[str, Any], scale: dict[str, Any] | None) -> list[str]:
    lines = [f"zpe-mocap: {s['zpe_mocap']}", ""]
    p = s["perfume"]
    if p:
        lines += [f"Perfume cross-dancer task: {p['windows']} windows of {p['dancers']} dancers, {p['queries']} of "
                  "them as queries; a hit "
                  f"is another dancer's window within {p['tolerance_s']:g} s. Latency: median (p50) over every "
                  "query, query window -> representation -> search.", ""]
        rows = [[r["method"], r["representation"], r["queries"], r["latency"]["p50"], r["latency"]["p99"],
                 r["P@10"], r["ideal_P@10"], r["R@1"], r["R@10"]] for r in p["rows"]]
        lines += _table(["method", "representation", "queries", "p50 ms", "p99 ms", "P@10", "best possible P@10",
                         "R@1", "R@10"], rows)
    if scale and "sizes" in scale:
        lines += ["Brute force (what a user without an index does) vs dancesearch's index, same vectors and "
                  "queries (from the scale section):", ""]
        rows = []
        for size in scale["sizes"]:
            best = size["best"]
            for r in size["rows"]:
                if r["backend"] == "peer" or (best and r["name"] == best["name"]):
                    rows.append([_f(size["n"]), r["name"], r["latency"]["p50"], r["latency"]["p99"],
                                 r["recall_at_10"]])
        lines += _table(["windows", "method", "p50 ms", "p99 ms", "recall@10"], rows)
    return lines


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target check found in the report."""
    found = []
    ing = report.get("ingest", {})
    if "target" in ing:
        found.append(ing["target"])
    found += list(report.get("latency", {}).get("targets", {}).values())
    if "target" in report.get("load", {}):
        found.append(report["load"]["target"])
    if "target" in report.get("mixed_load", {}):
        found.append(report["mixed_load"]["target"])
    st = report.get("scale", {}).get("target")
    if st:
        found += [st["recall"], st["p50"]]
    found += list(report.get("scale_out", {}).get("targets", {}).values())
    return found


def render(report: dict[str, Any]) -> str:
    run = report["run"]
    lines = ["# dancesearch benchmark", "",
             f"{'Quick (CI smoke-test) run: tiny sizes, figures are not representative.' if run['quick'] else 'Full run.'} "
             f"Model `{run['model']}` (version `{run['model_version']}`), corpus `{run['corpus']}`, started "
             f"{run['started']}, took {run['seconds']:.0f} s; load average at the end "
             f"{' '.join(f'{x:.2f}' for x in run.get('load_average_at_end') or [])} (other work on the machine "
             "inflates latencies)."
             + (f" FAISS OpenMP threads set to {run['faiss_threads_option']} in the benchmark process "
                "(--faiss-threads); the engine's default differs." if run.get("faiss_threads_option") else ""), ""]
    for name in SECTIONS:
        lines += [f"## {TITLES[name]}", ""]
        section = report.get(name)
        if section is None or "error" in section:
            lines += [f"Not measured: {section['error'] if section else 'section did not run'}", ""]
            continue
        if name == "mixed_load":
            from dancesearch.bench.load import render_mixed

            lines += render_mixed(section)
            continue
        render_fn = {"machine": _machine, "ingest": _ingest, "latency": _latency, "load": _load, "scale": _scale,
                     "scale_out": _scale_out, "quality": _quality}.get(name)
        lines += render_fn(section) if render_fn else _peers(section, report.get("scale"))
    lines += ["## Targets", ""]
    lines += _table(["what", "value", "target", "verdict"],
                    [[t["what"], t["value"], (">= " if t["higher_is_better"] else "<= ") + _f(t["target"]),
                      f"**{t['verdict']}**"] for t in targets(report)])
    lines += ["", "## Measured separately", "", *SEPARATE]
    return "\n".join(lines)


SEPARATE = [
    "- Ray ingest (local runtime with 1 and 2 CPUs, a two-node cluster, against the local process pool): "
    "`scripts/bench_ray_ingest.py` writes [docs/bench/ray-ingest.md](ray-ingest.md).",
    "- Scale-out at 10^7 windows (`--only scale_out --scale-out 10000000`, a run of its own because it takes "
    "about 20 minutes and 10 GB of disk) and the 10^8 / 10^9 estimate: [docs/bench/scale-out.md](scale-out.md).",
]
"""Footer of every report: the measurements other commands make (links relative to docs/bench/)."""


def _default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def write(report: dict[str, Any], out: Path) -> tuple[Path, Path]:
    """Write bench.json and bench.md into ``out``; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    js, md = out / "bench.json", out / "bench.md"
    js.write_text(json.dumps(report, indent=1, default=_default) + "\n")
    md.write_text(render(report) + "\n")
    return js, md
