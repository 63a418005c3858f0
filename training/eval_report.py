"""Rendering an evaluation report (report.json's content) as readable markdown tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if v != v:  # NaN
            return "-"
        return "inf" if v == float("inf") else f"{v:.3f}" if v < 10 else f"{v:.1f}"
    return str(v)


def _table(rows: dict[str, Any], section: str, cols: list[str]) -> list[str]:
    lines = ["| method | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    for name, row in rows.items():
        metrics = row.get(section)
        if metrics:
            lines.append(f"| {name} | " + " | ".join(_fmt(metrics.get(c)) for c in cols) + " |")
    return lines + [""]


def write_report(report: dict[str, Any], path: Path) -> None:
    m, q, rows = report["model"], report["queries"], report["rows"]
    first: dict[str, Any] = next((r for r in rows.values() if r.get("text_to_motion")), {})
    n_desc = next((r["motion_to_text"].get("descriptions") for r in rows.values() if r.get("motion_to_text")), "-")
    lines = [f"# Evaluation of model `{m['name']}` on the `{report['split']}` split", "",
             f"Model version `{m['version']}` (code `{m['code_version']}`), default space "
             f"`{m['default_space']}`. {report['windows']} windows of {report['clips']} clips; "
             f"evaluation took {report['seconds']} s.", "",
             "Relevance: a window is relevant to a query when its clip has the query's labels "
             "(genre; content + style; CMU description). Random rows are exact expectations.", "",
             f"## Text -> motion, held-out phrasings ({q['captions']} queries)", "",
             "Queries are generated from evaluation templates and synonyms that never appear in training "
             "captions.", ""]
    lines += _table(rows, "text_to_motion", ["R@1", "R@5", "R@10", "MedR"])
    lines += [f"## Text -> motion, hand-written free-form queries ({q['user']} with a relevant window)", ""]
    lines += _table(rows, "text_to_motion_user", ["R@1", "R@5", "R@10", "MedR"])
    lines += [f"## Compositional: bandai-1 content x style combinations never seen in training "
              f"({q['compositional']} queries)", ""]
    lines += _table(rows, "compositional", ["R@1", "R@5", "R@10", "MedR"])
    lines += [f"## Motion -> text ({n_desc} known descriptions, one per label set)", "",
              "Top-k accuracy: a correct description (same label set as the window) among the top k.", ""]
    lines += _table(rows, "motion_to_text", ["top1", "top5"])
    lines += ["## Motion -> motion", "",
              "P@10: share of the 10 nearest windows of OTHER clips with the same labels. Perfume: the same "
              "routine danced by three dancers; a hit is a window of another dancer within 1 s of the same "
              "moment (gallery: every window of the split except the query clip's).", ""]
    lines += _table(rows, "motion_to_motion", ["P@10", "perfume_R@1", "perfume_R@5"])
    g = report.get("generation", {})
    lines += ["## Text -> dance generation", ""]
    if "skipped" in g:
        lines += [f"Skipped: {g['skipped']}", ""]
    else:
        lines += [f"Recall@3 of the query text among {g['gallery']} texts, generated motion embedded with the "
                  f"`{g['space']}` space: **{g['R@3']:.3f}** (random {g['random_R@3']:.3f}), {g['queries']} queries.",
                  "", "| motion | bone-length drift | mean lowest-foot height (m) | frames with foot below -5 cm | jerk (m/s^3) |",
                  "|---|---:|---:|---:|---:|"]
        for name in ("generated", "real"):
            s = g[name]
            lines.append(f"| {name} | {s['bone_drift']:.4f} | {s['foot_height_mean']:.3f} | "
                         f"{s['foot_below_floor_frac']:.3f} | {s['jerk']:.1f} |")
        lines.append("")
    lines += _v2_lines(report.get("v2"))
    if first:
        lines += ["Metrics are computed over the whole split at once (not per batch)."]
    path.write_text("\n".join(lines) + "\n")


def _v2_lines(v2: dict[str, Any] | None) -> list[str]:
    """The generalisation section: this model beside the previous one and raw pose features."""
    if not v2:
        return []
    models = v2["models"]
    names = list(models)

    def row(label: str, get: Any) -> str:
        return f"| {label} | " + " | ".join(_fmt(get(models[n])) for n in names) + " |"

    def dig(*keys: str) -> Any:
        def get(m: dict[str, Any]) -> Any:
            for k in keys:
                if not isinstance(m, dict) or k not in m:
                    return None
                m = m[k]
            return m
        return get

    rk = v2.get("random_kinematic", {})
    lines = ["## Generalisation (model v2 measures)", "",
             f"Kinematic queries: {v2['kinematic_queries']} held-out phrasings of {len(v2['facts'])} facts measured "
             f"on the windows' joints ({', '.join(v2['facts'])}); random ranking R@1 {_fmt(rk.get('R@1'))}, "
             f"R@5 {_fmt(rk.get('R@5'))}. Cross-rig: test clips written on other rig conventions and body sizes "
             "(motion/conventions.py), read back by the product's readers, original moment within 0.2 s. "
             "Off-domain: queries about movements absent from the corpus, written for evaluation only.", "",
             "| measure | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names),
             row("user queries R@1", dig("user_R@1")),
             row("kinematic queries R@1", dig("kinematic", "R@1")),
             row("kinematic queries R@5", dig("kinematic", "R@5")),
             row("kinematic queries P@10", dig("kinematic", "P@10")),
             row("by example P@5, same content + style", dig("grouped", "P@5 content+style")),
             row("by example P@5, same content + style, Bandai-2 queries", dig("grouped", "P@5 content+style bandai-2")),
             row("by example P@5, same genre", dig("grouped", "P@5 genre")),
             row("Perfume cross-dancer R@1", dig("perfume", "perfume_R@1")),
             row("Perfume cross-dancer R@5", dig("perfume", "perfume_R@5")),
             row("cross-rig R@1", dig("cross_rig", "R@1")),
             row("cross-rig R@5", dig("cross_rig", "R@5")),
             row("off-domain AUROC", dig("off_domain", "AUROC")),
             row("in-domain served from the library at the threshold", dig("off_domain", "in_domain_served")),
             row("off-domain sent to generation at the threshold", dig("off_domain", "off_domain_generated")),
             ""]
    modes = v2.get("search_modes")
    if modes:
        lines += ["Search by example as the engine scores windows (`--match similar|same`): the learned space, with the "
                  "normalised poses blended in for `same`, each query window matched with its neighbours in its own clip "
                  "(the model's `by_example_context`); whole split as gallery, every window a query.", "",
                  "| match | pose weight | context (windows each way) | Perfume R@1 | Perfume R@5 | "
                  "P@5 content + style, Bandai-2 | P@5 content + style, all Bandai | P@5 genre |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for match, r in modes.items():
            lines.append(f"| {match} | {_fmt(r.get('pose_weight'))} | {r.get('context')} | {_fmt(r.get('perfume_R@1'))} | "
                         f"{_fmt(r.get('perfume_R@5'))} | {_fmt(r.get('P@5 content+style bandai-2'))} | "
                         f"{_fmt(r.get('P@5 content+style'))} | {_fmt(r.get('P@5 genre'))} |")
        lines.append("")
    return lines
