"""Exploration: a text-conditioned flow-matching prior over the VAE latent, against the stage-3 projector.

Text-only generation decodes the stage-3 projector's latent, a regression of the VAE mean on the text
(MSE), so every text gets the average latent of its captions' windows. A conditional flow (rectified
flow, classifier-free guidance) samples a latent *from* p(mu | text) instead. This script trains one on
the train split of the shipped model's stages and compares R@3 among 32 val texts (as the eval report's
generation section) for both, decoded by the generator and by the VAE decoder.

    python scripts/explore_latent_prior.py --corpus ../shared/corpus --work runs/prior --train --hidden 512

(``--train --hidden 512`` is the exploration's own prior, 2026-12-01: docs/experiments.md; without
``--train`` the model's shipped prior is measured.)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from embedders.latent_prior import LatentPrior, LatentPriorConfig
from embedders.runtime import DanceSearchModel
from training.data import load_split
from training.eval_generation import _queries, recall_at_3_among
from training.eval_tasks import EncodedSplit
from training.pipeline import TrainOptions, prepare
from training.stages.latent_prior import LatentPriorTrainConfig, train_latent_prior
from training.textcache import TextEmbeddingCache


def r_at_3(model: DanceSearchModel, texts: list[str], feats: torch.Tensor, seed: int) -> float:
    return recall_at_3_among(model.embed_texts(texts), model.embed_features(feats), np.random.default_rng(seed))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", type=Path, default=Path("../shared/corpus"))
    ap.add_argument("--model", type=Path, default=Path("models/default"))
    ap.add_argument("--work", type=Path, default=Path("runs/prior"))
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--train", action="store_true", help="train a prior here even if the model has one")
    ap.add_argument("--guidance", type=float, nargs="*", default=[1.0, 2.0, 3.0, 4.0])
    ap.add_argument("--n", type=int, default=64)
    args = ap.parse_args()
    torch.set_num_threads(2)
    model = DanceSearchModel(args.model)
    opts = TrainOptions(corpus=args.corpus, out=args.work / "out", work=args.work / "work")
    prep = prepare(opts, TextEmbeddingCache(opts.work / "text_cache.npz"))
    diff = float(np.abs(prep.normalizer.mean - model.normalizer.mean).max())
    print(f"normaliser difference to the shipped model's: {diff:.2e}")
    with torch.no_grad():
        data = prep.data.with_latents(model.vae.embed_mu(prep.data.train.x), model.vae.embed_mu(prep.data.val.x))
    t0 = time.perf_counter()
    saved = args.work / "out" / "latent_prior.json"
    if model.latent_prior is not None and not args.train:
        prior = model.latent_prior
    elif saved.is_file():
        prior = LatentPrior.load(args.work / "out", "latent_prior")
    else:
        prior, _ = train_latent_prior(data, LatentPriorConfig(hidden=args.hidden), LatentPriorTrainConfig(epochs=args.epochs),
                                      progress=lambda s, e, n, m: print(s, e, n, {k: round(v, 4) for k, v in m.items()}))
        prior.save(args.work / "out", "latent_prior")
        print(f"trained in {time.perf_counter() - t0:.0f} s")
    val = EncodedSplit.build(model, load_split(prep.library, "val", model.window_size))
    results = {}
    for seed in (1234, 99, 7):
        pairs = _queries(val, args.n, seed)
        texts = [q for q, _ in pairs]
        e = model.minilm(texts)
        with torch.no_grad():
            z_proj = model.projector(e)
            results.setdefault("projector+generator", []).append(r_at_3(model, texts, model.generator(e, z_proj), seed))
            results.setdefault("projector+vae", []).append(r_at_3(model, texts, model.vae.decode(z_proj), seed))
            for g in args.guidance:
                for s in range(2):
                    z = prior.sample(e, guidance=g, generator=torch.Generator().manual_seed(s))
                    results.setdefault(f"prior g={g} +generator", []).append(r_at_3(model, texts, model.generator(e, z), seed))
                    results.setdefault(f"prior g={g} +vae", []).append(r_at_3(model, texts, model.vae.decode(z), seed))
    for k, v in results.items():
        print(f"{k:28s} R@3 {np.mean(v):.3f} (+- {np.std(v):.3f}, {len(v)} runs)")
    (args.work / "results.json").write_text(json.dumps({k: v for k, v in results.items()}, indent=1))


if __name__ == "__main__":
    main()
