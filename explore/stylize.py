"""Style transfer by latent arithmetic: keep what a motion does, change how (Lang2Motion).

A motion's windows are encoded to VAE latents, moved, and decoded. Three ways to move, for a style the
corpus labels: "data" adds ``strength`` times the mean latent of the style's ``train`` windows minus the
mean over all styled ``train`` windows (or minus the source style's mean when the caller knows it);
"adain" re-normalises each latent dimension from the source style's train mean and spread to the
target's (AdaIN, the classic style-transfer move, with the source style predicted by a classifier on
train latents when not given), ``strength`` interpolating towards that; any other style moves along
words: the stage-3 projector's latent of ``"a {style} person"`` minus that of ``"a person"``; "prior" edits
each latent with the model's latent prior (SDEdit: ``strength`` in [0, 1] of the way back to noise, then
the flow to ``"a {style} person"``), for any style in words. The method
and the default strength were chosen on ``val`` (``capabilities.json``), as was whether to decode the moved latents outright or to add
only the change they make to the clip's own windows (``residual``, which keeps detail the VAE loses).
The result keeps the clip's bone lengths and plants its feet.
"""

from __future__ import annotations

import numpy as np
import torch

from embedders.runtime import DanceSearchModel
from explore.body import bone_lengths
from explore.latent import assemble, chain_stride, clip_starts, decode_windows, encode_clip, encode_texts
from explore.settings import CapabilitySettings
from motion.windows import extract_window, to_window_frame

MAX_WINDOWS = 64
"""Longer motions (about 100 s) are refused: stylize a range of them."""
NEUTRAL = "a person"
PRIOR_GUIDANCE = 2.0
"""Classifier-free guidance of the "prior" method's edit (fixed, not tuned; the strength grid is chosen on val)."""
STYLE_PROMPT = "a {} person"


class StyleError(ValueError):
    """The style cannot be used (empty text, unknown source style)."""


def known_styles(settings: CapabilitySettings) -> list[str]:
    """Styles with a data direction (the corpus' style labels seen in ``train``)."""
    return sorted(settings.style_means)


@torch.no_grad()
def text_direction(model: DanceSearchModel, style: str) -> torch.Tensor:
    """Latent direction (L,) from the words: projector("a {style} person") - projector("a person")."""
    e = model.minilm([STYLE_PROMPT.format(style.replace("-", " ")), NEUTRAL])
    z = encode_texts(model, e)
    return z[0] - z[1]


def data_direction(style: str, settings: CapabilitySettings, source_style: str | None = None) -> torch.Tensor:
    """Latent direction (L,) from train-split style means (minus the source style's mean, if given)."""
    if style not in settings.style_means:
        raise StyleError(f"no train-split mean for style {style!r}; known: {', '.join(known_styles(settings))}")
    target = torch.tensor(settings.style_means[style])
    if source_style is not None:
        if source_style not in settings.style_means:
            raise StyleError(f"unknown source style {source_style!r}; known: {', '.join(known_styles(settings))}")
        return target - torch.tensor(settings.style_means[source_style])
    return target - torch.tensor(settings.style_global)


METHODS = ("data", "adain", "text", "prior")


def predict_style(z: torch.Tensor, settings: CapabilitySettings) -> str | None:
    """The source style of windows' latents (N, L) by the stored train-split classifier (None if none)."""
    c = settings.style_classifier
    if not c:
        return None
    logits = z @ torch.tensor(c["coef"]).T + torch.tensor(c["intercept"])
    return str(c["classes"][int(torch.softmax(logits, -1).mean(0).argmax())])


def adain(z: torch.Tensor, style: str, settings: CapabilitySettings, source_style: str | None) -> torch.Tensor:
    """Latents re-normalised from the source style's per-dimension mean and spread to the target's
    (AdaIN in the VAE latent); the source style is predicted when not given."""
    src = source_style or predict_style(z, settings)
    if src is None or src not in settings.style_stds or style not in settings.style_stds:
        raise StyleError(f"no train-split statistics for {src!r} -> {style!r}")
    mean_s, mean_t = torch.tensor(settings.style_means[src]), torch.tensor(settings.style_means[style])
    std_s = torch.tensor(settings.style_stds[src]).clamp(min=1e-3)
    return (z - mean_s) / std_s * torch.tensor(settings.style_stds[style]) + mean_t


def check_method(style: str, settings: CapabilitySettings, method: str | None) -> str:
    """The method to use: the requested or calibrated one; "text" instead of "data" or "adain" for a style
    the corpus does not label."""
    if not style.strip():
        raise StyleError("the style is empty")
    chosen = method or settings.style_method
    if chosen not in METHODS:
        raise StyleError(f"method must be one of {', '.join(METHODS)}, got {chosen!r}")
    if chosen in ("data", "adain") and style.strip() not in settings.style_means:
        return "text"
    return chosen


@torch.no_grad()
def moved_latents(model: DanceSearchModel, z: torch.Tensor, style: str, strength: float,
                  settings: CapabilitySettings, method: str, source_style: str | None) -> torch.Tensor:
    """The clip's latents (N, L) moved towards ``style`` by ``strength`` with ``method``."""
    if method == "adain":
        return z + strength * (adain(z, style, settings, source_style) - z)
    if method == "prior":
        if model.latent_prior is None:
            raise StyleError("this model has no latent prior; use --method data, adain or text")
        e = model.minilm([STYLE_PROMPT.format(style.replace("-", " "))]).expand(len(z), -1)
        return model.latent_prior.edit(z, e, strength, PRIOR_GUIDANCE, generator=torch.Generator().manual_seed(0))
    direction = data_direction(style, settings, source_style) if method == "data" else text_direction(model, style)
    return z + strength * direction


@torch.no_grad()
def stylize_windows(model: DanceSearchModel, positions: np.ndarray, style: str, strength: float,
                    settings: CapabilitySettings, method: str, source_style: str | None = None,
                    residual: bool = False) -> np.ndarray:
    """Decoded windows (N, S, J, 3) of the clip's moved latents.

    ``residual``: the clip's own windows plus what the move changes in the decoder's output
    (decode(z') - decode(z)), which keeps the detail the VAE cannot reconstruct."""
    starts = clip_starts(model, len(positions), MAX_WINDOWS)
    z = encode_clip(model, positions, starts)
    moved = decode_windows(model, moved_latents(model, z, style, strength, settings, method, source_style))
    if not residual:
        return moved
    own = to_window_frame(np.stack([extract_window(positions, st, model.window_size) for st in starts]),
                          model.body_normalised)
    return own + (moved - decode_windows(model, z))


def stylize(model: DanceSearchModel, positions: np.ndarray, style: str, strength: float | None = None,
            settings: CapabilitySettings | None = None, method: str | None = None,
            source_style: str | None = None, residual: bool | None = None,
            clean: bool = True) -> tuple[np.ndarray, dict[str, object]]:
    """The canonical motion (T, J, 3) restyled, and what was done (style, method, strength, residual,
    the source style given or predicted)."""
    s = settings or CapabilitySettings()
    k = s.style_strength if strength is None else float(strength)
    if not -8.0 <= k <= 8.0:
        raise StyleError(f"strength must be between -8 and 8, got {k}")
    style = style.strip()
    limit = (MAX_WINDOWS - 1) * chain_stride(model) + model.window_size
    if len(positions) > limit:
        raise StyleError(f"the motion lasts {len(positions) / 25:.0f} s; stylize at most {limit / 25:.0f} s "
                         "at a time (give a range, e.g. FILE@0-60)")
    used = check_method(style, s, method)
    if used == "prior" and not 0.0 <= k <= 1.0:
        raise StyleError(f"strength must be between 0 and 1 with the prior method (the share of the latent "
                         f"re-drawn), got {k}")
    if source_style is not None and source_style not in s.style_means:
        raise StyleError(f"unknown source style {source_style!r}; known: {', '.join(known_styles(s))}")
    res = s.style_residual if residual is None else residual
    windows = stylize_windows(model, positions, style, k, s, used, source_style, res)
    out = assemble(windows, bone_lengths(positions), clean=clean)[: len(positions)]
    if used == "adain" and source_style is None:
        z = encode_clip(model, positions, clip_starts(model, len(positions), MAX_WINDOWS))
        source_style = predict_style(z, s)
    return out, {"style": style, "method": used, "strength": k, "source_style": source_style, "residual": res}
