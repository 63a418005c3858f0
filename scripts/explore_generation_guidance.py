"""Exploration (issue 13): does guidance away from the average caption make text-only generation more
specific? Measured on ``val`` only, nothing shipped.

Text-only generation drifts towards the average motion of a caption. Like classifier-free guidance, each
window's stage-3 latent ``z`` (and/or its MiniLM embedding ``e``) is pushed away from the average of the
model's description texts: ``z + g (z - z_avg)``, ``e + g (e - e_avg)``. R@3 among 32 texts as in
:mod:`explore.evaluation.generation` (the body-respecting path, the model's capability settings), over five
draws of held-out phrasings (seeds 1234, 1-4):

    .venv/bin/python scripts/explore_generation_guidance.py z:0 z:0.5 z:1 z:2 e:0.5 e:1 ze:0.5 ze:1
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SEEDS = (1234, 1, 2, 3, 4)


def main() -> None:
    from embedders.runtime import DanceSearchModel
    from explore import generation
    from explore.evaluation import generation as measure
    from explore.evaluation.data import encode_split, work_library
    from explore.settings import CapabilitySettings

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("modes", nargs="+", help="KIND:G with KIND z, e or ze and G the guidance weight")
    ap.add_argument("--model", type=Path, default=REPO / "models" / "default")
    ap.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpus")
    ap.add_argument("--work", type=Path, default=REPO / "runs" / "explore")
    args = ap.parse_args()
    model = DanceSearchModel(args.model)
    lib = work_library(args.corpus, args.work, ("train", "val"))
    val = encode_split(model, lib, "val", args.work)
    settings = CapabilitySettings.load(args.model)
    texts = [d["text"] for d in json.loads((args.model / "descriptions.json").read_text())]
    e_avg = model.minilm(texts).mean(0, keepdim=True)
    z_avg = generation.encode_texts(model, e_avg)

    for mode in args.modes:
        kind, g = mode.split(":")
        weight = float(g)

        @torch.no_grad()
        def guided(model_: DanceSearchModel, text: str, n_windows: int, seed: int = 0, noise: float = 0.0,
                   kind: str = kind, weight: float = weight) -> np.ndarray:
            gen = torch.Generator().manual_seed(seed)
            e = model_.minilm([text]).expand(n_windows, -1).clone()
            if n_windows > 1:
                e[1:] += generation.TEXT_NOISE * torch.randn(e[1:].shape, generator=gen)
            z = generation.encode_texts(model_, e)
            if "z" in kind:
                z = z + weight * (z - z_avg)
            if "e" in kind:
                e = e + weight * (e - e_avg)
            if noise > 0:
                z = z + noise * torch.randn(z.shape, generator=gen)
            return generation.generate_windows(model_, e, z)

        generation.sample_windows = guided  # type: ignore[assignment]
        scores = [float(measure.run(model, val, settings, full=False, seed=s)["R@3"]) for s in SEEDS]  # type: ignore[arg-type]
        print(f"{mode:8s} R@3 per draw {[round(s, 3) for s in scores]}  mean {np.mean(scores):.3f}", flush=True)


if __name__ == "__main__":
    main()
