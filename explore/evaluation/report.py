"""The capability report in Markdown: one table per section, numbers as measured (report.json has all)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _f(x: Any) -> str:
    return f"{x:.3f}" if isinstance(x, float) else str(x)


def _classify(rows: list[dict[str, Any]]) -> list[str]:
    out = ["## Zero-shot classification", "",
           "| task | labels | clips | zero-shot clip acc | zero-shot window acc | linear probe clip acc | "
           "probe window acc | chance |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        out.append(f"| {r['task']} | {r['labels']} | {r['clips']} | {_f(r['zero_shot_clip'])} | "
                   f"{_f(r['zero_shot_window'])} | {_f(r['probe_clip'])} | {_f(r['probe_window'])} | {_f(r['chance'])} |")
    return out


def _interpolate(r: dict[str, Any]) -> list[str]:
    out = ["## Interpolation", "", f"{r['steps']} points per path; intermediate motions only for the physical columns.", "",
           "| path | Spearman(progress, t) | steps that progress | bone drift | foot skate (m/s) | below floor | jerk (m/s^3) |",
           "|---|---:|---:|---:|---:|---:|---:|"]
    for name, row in r["paths"].items():
        out.append(f"| {name} | {_f(row.get('spearman', '-'))} | {_f(row.get('monotone_steps', '-'))} | "
                   f"{_f(row['bone_drift'])} | {_f(row['foot_skate'])} | {_f(row['below_floor_frac'])} | {_f(row['jerk'])} |")
    for name, real in (("the paths' motion ends (4 s)", r.get("ends")), ("real clips (4 s)", r["real"])):
        if real:
            out.append(f"| {name} | - | - | {_f(real['bone_drift'])} | {_f(real['foot_skate'])} | "
                       f"{_f(real['below_floor_frac'])} | {_f(real['jerk'])} |")
    return out


def _stylize(r: dict[str, Any]) -> list[str]:
    out = ["## Style transfer", "", "| clips | result | style recognised | content recognised | both | jobs |",
           "|---|---|---:|---:|---:|---:|"]
    for name, row in r.items():
        if not row["moved"]["jobs"]:
            out.append(f"| {name} | none on this split | - | - | - | 0 |")
            continue
        for which in ("unmoved", "moved", "real target clip"):
            x = row.get(which)
            if x and x["jobs"]:
                out.append(f"| {name} | {which} | {_f(x['style'])} | {_f(x['content'])} | {_f(x['both'])} | "
                           f"{x['jobs']} |")
        if row.get("closer_to_real_target_clip") is not None:
            out.append(f"\n{name}: result closer than the source to the real clip of the target combination "
                       f"in {_f(row['closer_to_real_target_clip'])} of cases.\n")
    return out


def _concepts(r: dict[str, Any]) -> list[str]:
    out = ["## Learned concepts", "", f"{r['concepts']} concepts, {r['draws']} draws of 4 examples.", "",
           "| query | R@5 | R@10 |", "|---|---:|---:|"]
    for name in ("learned", "examples_mean", "label_text"):
        if f"{name}_R@5" in r:
            out.append(f"| {name} | {_f(r[f'{name}_R@5'])} | {_f(r[f'{name}_R@10'])} |")
    u = r.get("unseen")
    if u:
        out += ["", f"A concept the model never saw, {u['concept']}: 4 s segments ({u['segments']} in the split, "
                    f"{u['relevant']} relevant per draw, {u['draws']} draws of 4 examples).", "",
                "| query | R@5 | R@10 |", "|---|---:|---:|"]
        for name in ("learned", "examples_mean", "label_text"):
            out.append(f"| {name} | {_f(u[f'{name}_R@5'])} | {_f(u[f'{name}_R@10'])} |")
    return out


def _generation(r: dict[str, Any]) -> list[str]:
    if "skipped" in r:
        return ["## Generation", "", f"skipped: {r['skipped']}"]
    latent = (f"latent prior, guidance {r['guidance']}" if r.get("latent") == "prior"
              else f"projector latent, noise {r['noise']}")
    decoder = "the VAE's decoder" if r.get("decoder") == "vae" else "the generator"
    k = int(r.get("candidates", 1))
    chained = f", each chained window the best-joining of {k} samples" if k > 1 else ""
    gait = ", steps synthesised where it travels on gliding feet" if r.get("gait") else ""
    out = ["## Generation", "", f"{r['texts']} texts, {latent}, decoded by {decoder}{chained}{gait}.", "",
           "| motion | R@3 among 32 | bone drift | foot skate (m/s) | below floor | jerk (m/s^3) |",
           "|---|---:|---:|---:|---:|---:|"]
    for name, r3 in (("generated, body-respecting", r["R@3"]), ("shipped generate path", r.get("R@3_shipped_path")),
                     ("real windows of the same keys", r.get("R@3_real"))):
        key = {"generated, body-respecting": "generated", "shipped generate path": "shipped_path"}.get(name, "real")
        x = r.get(key)
        if x:
            out.append(f"| {name} | {_f(r3) if r3 is not None else '-'} | {_f(x['bone_drift'])} | {_f(x['foot_skate'])} | "
                       f"{_f(x['below_floor_frac'])} | {_f(x['jerk'])} |")
    if "jerk_ratio_median" in r:
        out += ["", f"Jerk of generated / real motion of the same text's clips (median over texts): "
                    f"{_f(r['jerk_ratio_median'])}. Diversity over 3 seeds: mean joint distance "
                    f"{_f(r['diversity_joint_m'])} m, shared-space cosine distance {_f(r['diversity_space'])}. "
                    f"Random R@3: {_f(r['random_R@3'])}."]
    return out


def write_report(report: dict[str, Any], path: Path) -> None:
    lines = [f"# Capabilities on `{report['split']}`", "",
             f"Model {report['model_version']}; settings chosen on {report['settings'].get('chosen_on')}: "
             f"{ {k: v for k, v in report['settings'].items() if k != 'chosen_on'} }", ""]
    for key, fn in (("classify", _classify), ("interpolate", _interpolate), ("stylize", _stylize),
                    ("concepts", _concepts), ("generation", _generation)):
        if key in report:
            lines += fn(report[key]) + [""]
    lines.append(f"Time: {report['seconds']} s.")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
