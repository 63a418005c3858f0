"""The training report: per-stage time, loss curves as PNG, and the silhouette curve of stage 2."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _plot_history(name: str, history: dict[str, list[float]], path: Path) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = {k: v for k, v in history.items() if v and all(isinstance(x, int | float) for x in v)}
    if not series:
        return False
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=100)
    for key, values in sorted(series.items()):
        ax.plot(range(1, len(values) + 1), values, label=key, linestyle="--" if key.startswith(("val", "b:val", "a:val")) else "-")
    ax.set_title(f"stage {name}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def _plot_silhouette(curve: dict[str, float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks = sorted(int(k) for k in curve)
    fig, ax = plt.subplots(figsize=(5, 3), dpi=100)
    ax.plot(ks, [curve[str(k)] for k in ks], marker="o")
    ax.set_xlabel("K")
    ax.set_ylabel("silhouette")
    ax.set_title("stage 2: silhouette by K")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _resumed_note(training: dict[str, Any], stages: dict[str, Any]) -> str:
    """When the stages' own seconds exceed the run's total, the run resumed stages trained before: say so."""
    trained = sum(float(st.get("seconds") or 0.0) for st in stages.values())
    if trained <= float(training["total_seconds"]):
        return ""
    return (f" for this run, which resumed stages trained in earlier runs (the stages' own times below add up "
            f"to {trained:.0f} s, {trained / 60:.1f} min, without data preparation)")


def write_training_report(out: Path, config: dict[str, Any], stages: dict[str, Any]) -> Path:
    """Write ``report/training.md`` and its PNGs in the model directory; returns the markdown path."""
    rep = out / "report"
    rep.mkdir(exist_ok=True)
    t = config["training"]
    lines = [f"# Training report: {config['name']}", "",
             f"- model version `{config['version']}`, code `{config['code_version']}`, corpus manifest "
             f"sha256 `{config['corpus_manifest_sha256'][:16]}...`, seed {config['seed']}",
             f"- {t['train_windows']} training windows, {t['val_windows']} validation windows, "
             f"{t['captions']} distinct captions over {t['groups']} label groups; sources {', '.join(t['sources'])}",
             f"- device {t['device']}, {t['torch_threads']} torch threads; data preparation "
             f"{t['prepare_seconds']} s; total {t['total_seconds']} s ({t['total_seconds'] / 60:.1f} min)"
             + _resumed_note(t, stages), "",
             "| stage | seconds | epochs |", "|---|---:|---:|"]
    for name, st in stages.items():
        hist = st.get("history") or {}
        epochs = max((len(v) for v in hist.values()), default=0)
        lines.append(f"| {name} | {st.get('seconds', 0):.1f} | {epochs or '-'} |")
    lines.append("")
    if "clusters" in stages and stages["clusters"].get("silhouette"):
        _plot_silhouette(stages["clusters"]["silhouette"], rep / "silhouette.png")
        curve = ", ".join(f"K={k}: {v:.3f}" for k, v in sorted(stages["clusters"]["silhouette"].items(),
                                                               key=lambda kv: int(kv[0])))
        lines += [f"Stage 2 chose K = {stages['clusters'].get('k')} ({curve}).", "",
                  "![silhouette](silhouette.png)", ""]
    for name, st in stages.items():
        if _plot_history(name, st.get("history") or {}, rep / f"loss_{name}.png"):
            lines += [f"![{name} losses](loss_{name}.png)", ""]
    path = rep / "training.md"
    path.write_text("\n".join(lines) + "\n")
    return path
