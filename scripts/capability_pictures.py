"""Pictures of the capabilities for the README and docs/capabilities.md (docs/images/capabilities-*.png).

    python scripts/capability_pictures.py [--model models/default] [--corpus ../shared/corpus]

Every picture is drawn from what the commands return on the shipped model and corpus test clips:
interpolation between two clips, a clip restyled, generation with and without the body clean-up, and
zero-shot class probabilities over time (on a walk followed by a raise of both hands).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from embedders.runtime import DanceSearchModel  # noqa: E402
from explore.classify import classify  # noqa: E402
from explore.generation import generate  # noqa: E402
from explore.inputs import Source, read_source  # noqa: E402
from explore.interpolate import Endpoint, interpolate  # noqa: E402
from explore.model import capability_model  # noqa: E402
from explore.stylize import stylize  # noqa: E402
from motion.render import _draw, _limits  # noqa: E402

OUT = Path("docs/images")


def strip(axes: np.ndarray, positions: np.ndarray, label: str, n: int = 5) -> None:
    """One row: ``n`` evenly spaced frames, side view (walking direction left to right)."""
    picks = np.linspace(0, len(positions) - 1, n).round().astype(int)
    for ax, f in zip(axes, picks, strict=True):
        _draw(ax, positions[f], (2, 1), True, _limits(positions[[f]], 2, True))
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0].set_ylabel(label, fontsize=8)


def figure(rows: list[tuple[str, np.ndarray]], path: Path, title: str) -> None:
    fig, grid = plt.subplots(len(rows), 5, figsize=(9, 1.9 * len(rows)), squeeze=False)
    for row, (label, positions) in zip(grid, rows, strict=True):
        strip(row, positions, label)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, default=Path("models/default"))
    parser.add_argument("--corpus", type=Path, default=Path("../shared/corpus"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = capability_model(DanceSearchModel(args.model))
    s = model.capabilities

    def clip(rel: str) -> np.ndarray:
        return read_source(Source("file", str(args.corpus / rel)))

    walk = clip("bandai/dataset-2/dataset-2_walk_normal_013.bvh.gz")[:100]
    hands = clip("bandai/dataset-2/dataset-2_raise-up-both-hands_normal_017.bvh.gz")[:100]
    path = interpolate(model, Endpoint("walk", positions=walk), Endpoint("raise hands", positions=hands), 5, s)
    figure([(f"t = {t:.2f}", m) for t, m in zip(path.ts, path.motions, strict=True)],
           OUT / "capabilities-interpolate.png", "dancesearch interpolate walk.bvh hands.bvh --steps 5")
    styled, info = stylize(model, walk, "elderly", settings=s)
    figure([("walk (normal)", walk), (f"stylized: elderly ({info['method']})", styled)],
           OUT / "capabilities-stylize.png", "dancesearch stylize walk.bvh --style elderly")
    text = "a person walks forward"
    raw = DanceSearchModel.generate(model, text, 4.0)
    mean_latent = generate(model, text, 4.0, 0, replace(s, generation_latent="projector"))
    drawn = [generate(model, text, 4.0, seed, s) for seed in (0, 1)]
    how = f"prior g={s.generation_guidance:g}" if s.generation_latent == "prior" else "projector"
    figure([("raw path", raw), ("projector, clean", mean_latent),
            (f"{how}, seed 0", drawn[0]), (f"{how}, seed 1", drawn[1])], OUT / "capabilities-generate.png",
           f'dancesearch generate "{text}" [--seed 0|1]')
    joined = np.concatenate([walk, hands + (walk[-1, 0] - hands[0, 0]) * np.array([1.0, 0.0, 1.0])])
    labels = "walk, run, raise up both hands, wave both hands, waltz"
    result = classify(model, joined, labels, s, span_seconds=0.4)
    fig, ax = plt.subplots(figsize=(9, 2.6))
    times = [(sp.start + sp.end) / 2 for sp in result.spans]
    for label in result.labels:
        ax.plot(times, [sp.probabilities[label] for sp in result.spans], label=label)
    ax.set_xlabel("seconds")
    ax.set_ylabel("probability")
    ax.legend(fontsize=7, ncol=3)
    ax.axvline(len(walk) / 25.0, color="#999999", ls="--", lw=0.8)
    ax.set_title(f'dancesearch classify walk-then-raise-hands.bvh --labels "{labels}" ({len(walk) / 25:.1f} s walk, '
                 f'then {len(hands) / 25:.1f} s raising both hands)', fontsize=8)
    fig.tight_layout()
    fig.savefig(OUT / "capabilities-classify.png", dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    main()
