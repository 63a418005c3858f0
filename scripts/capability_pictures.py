"""Pictures of the capabilities for the README and docs/capabilities.md (docs/images/capabilities-*.png).

    python scripts/capability_pictures.py [--model models/default] [--corpus ../shared/corpus]

Every picture is drawn from what the commands return on the shipped model and corpus test clips:
interpolation between two clips, a clip restyled, generation with and without the body clean-up,
zero-shot class probabilities over time (on a walk followed by a raise of both hands), and a concept
learned from four segments of one Perfume dancer (a routine the model never saw) with the segments it
ranks first among other test clips.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
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


SEGMENT = 100  # frames (4 s)


def concept_figure(model: DanceSearchModel, clip: Callable[[str], np.ndarray]) -> None:
    """<perfume> learned from 4 segments of one dancer; the gallery: segments of the other two dancers,
    bandai-2 and ballroom test clips; the top three segments drawn, and how many of the top 5 are Perfume."""
    from explore.concepts import learn
    from explore.latent import motion_vectors
    from explore.settings import load_negatives

    examples = clip("perfume/aachan.bvh.gz")
    starts = (100, 500, 900, 1300)
    picks = [examples[t: t + SEGMENT] for t in starts]
    negatives = load_negatives(model.directory)
    assert negatives is not None, "run dancesearch eval-capabilities --calibrate first"
    concept = learn(model, "perfume", [motion_vectors(model, x) for x in picks], negatives,
                    [f"aachan {t // 25}-{t // 25 + 4} s" for t in starts], model.capabilities)
    view = capability_model(model, {"perfume": concept})
    gallery: list[tuple[str, np.ndarray]] = []
    for dancer in ("kashiyuka", "nocchi"):
        motion = clip(f"perfume/{dancer}.bvh.gz")
        gallery += [(f"perfume {dancer} {t // 25}-{t // 25 + 4} s", motion[t: t + SEGMENT])
                    for t in range(300, len(motion) - SEGMENT, 400)]
    for name in ("walk_elderly_010", "run_active_001", "walk_masculine_005", "raise-up-both-hands_normal_017",
                 "walk-turn-left_normal_004", "run_feminine_009"):
        gallery.append((f"bandai-2 {name}", clip(f"bandai/dataset-2/dataset-2_{name}.bvh.gz")[:SEGMENT]))
    for name in ("DANCE_C_7", "DANCE_R_9", "DANCE_W_22"):
        gallery.append((f"ballroom {name}", clip(f"ballroom/{name}/skeletons.json.gz")[:SEGMENT]))
    q = view.embed_texts(["<perfume>"])[0]
    scores = [float((motion_vectors(model, x) @ q).max()) for _, x in gallery]
    order = np.argsort(scores)[::-1]
    top5 = sum(gallery[i][0].startswith("perfume") for i in order[:5])
    rows = [(f"example: aachan {starts[0] // 25}-{starts[0] // 25 + 4} s", picks[0])] + [(f"#{r + 1} {gallery[i][0]}", gallery[i][1])
                                                      for r, i in enumerate(order[:3])]
    figure(rows, OUT / "capabilities-concept.png",
           f'concept <perfume> from 4 aachan segments; search "<perfume>": top 5 of {len(gallery)} segments '
           f'hold {top5} of the {sum(g.startswith("perfume") for g, _ in gallery)} Perfume ones')


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
    concept_figure(model, clip)


if __name__ == "__main__":
    main()
