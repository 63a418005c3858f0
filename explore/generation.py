"""Text-to-dance generation that respects the body, at inference time on the shipped generator.

The generator decodes one 2 s window from a MiniLM embedding and its stage-3 latent; longer motions
chain windows (as :meth:`embedders.runtime.DanceSearchModel.generate` does). Added here:

* the latent of each window is either a seeded sample of the model's latent prior (``generation_latent
  = "prior"``: one of the latents the text's windows have, with classifier-free guidance
  ``generation_guidance``) or the stage-3 projector's latent (the mean of those latents) plus ``noise``
  times a seeded Gaussian (``generation_noise``); both are chosen on ``val``, so two seeds give two motions
  (diversity is measured, not assumed);
* the latent is decoded by the stage-6 generator (text and latent) or by the VAE's own decoder
  (``generation_decoder = "vae"``: the latent alone, so a decoder that keeps the gait phase in the latent
  keeps steps the generator's averaging over texts would lose), chosen on ``val``;
* windows after the first may be chosen among ``generation_candidates`` samples as the one that joins the
  motion so far best (the smallest pose gap over the cross-faded frames), so chained windows continue
  one gait instead of cross-fading between two phases (a sliding foot), chosen on ``val``;
* bones keep one length by construction: positions are projected onto one skeleton (the motion's own
  median bone lengths, or the median train skeleton in ``capabilities.json``, whichever retrieved its text
  better on ``val``; a user rig's lengths when exporting on that rig), so drift is zero up to float
  precision;
* feet stand still while in contact (:func:`explore.body.plant_feet`), and the motion stands on y = 0.
"""

from __future__ import annotations

import numpy as np
import torch

from embedders.chain import BLEND_FRAMES, chain_best
from embedders.runtime import DanceSearchModel
from explore.latent import assemble, decode_windows, encode_texts, generate_windows
from explore.settings import CapabilitySettings
from motion.skeleton import CANONICAL_FPS

TEXT_NOISE = 0.05
"""Noise on the text embedding of every window after the first, as the runtime generator chains."""


@torch.no_grad()
def sample_windows(model: DanceSearchModel, text: str, n_windows: int, seed: int = 0,
                   noise: float = 0.0, guidance: float | None = None, decoder: str = "generator",
                   candidates: int = 1) -> np.ndarray:
    """``n_windows`` generated windows (N, S, J, 3) for one text, seeded. With ``guidance`` (and a model
    that has a latent prior) the latents are the prior's samples, else the projector's plus ``noise``;
    ``decoder`` "vae" decodes them by the VAE's decoder, else by the generator. With ``candidates`` > 1
    every window after the first is the one of that many samples that joins the motion so far best
    (:func:`embedders.chain.chain_best`)."""
    if decoder not in ("generator", "vae"):
        raise ValueError(f"unknown generation decoder {decoder!r}: expected 'generator' or 'vae'")
    if candidates < 1:
        raise ValueError(f"generation candidates must be at least 1, got {candidates}")
    gen = torch.Generator().manual_seed(seed)
    e = model.minilm([text]).expand(n_windows, -1).clone()
    if n_windows > 1:
        e[1:] += TEXT_NOISE * torch.randn(e[1:].shape, generator=gen)
    if candidates > 1 and n_windows > 1:
        e = e.repeat_interleave(candidates, dim=0)
    if guidance is not None and model.latent_prior is not None:
        z = model.latent_prior.sample(e, guidance=guidance, generator=gen)
    else:
        z = encode_texts(model, e)
        if noise > 0:
            z = z + noise * torch.randn(z.shape, generator=gen)
    windows = decode_windows(model, z) if decoder == "vae" else generate_windows(model, e, z)
    if candidates == 1 or n_windows == 1:
        return windows
    options = windows.reshape(n_windows, candidates, *windows.shape[1:])
    return np.stack(chain_best([list(slot) for slot in options]))


def generate(model: DanceSearchModel, text: str, seconds: float = 4.0, seed: int = 0,
             settings: CapabilitySettings | None = None, lengths: np.ndarray | None = None,
             clean: bool = True, noise: float | None = None) -> np.ndarray:
    """A canonical motion (T, J, 3) for ``text``: fixed bone lengths, planted feet (``clean``)."""
    s = settings or CapabilitySettings()
    n_frames = max(model.window_size, int(round(seconds * CANONICAL_FPS)))
    step = model.window_size - BLEND_FRAMES
    n_windows = 1 + int(np.ceil(max(0, n_frames - model.window_size) / step))
    guidance = s.generation_guidance if s.generation_latent == "prior" else None
    windows = sample_windows(model, text, n_windows, seed, s.generation_noise if noise is None else noise, guidance,
                             s.generation_decoder, s.generation_candidates)
    use_reference = s.generation_bones == "reference" and s.bone_lengths
    ref = lengths if lengths is not None else (np.asarray(s.bone_lengths) if use_reference else None)
    return assemble(windows, ref, n_frames, clean=clean, gait=s.generation_gait)
