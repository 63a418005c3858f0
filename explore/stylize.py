"""Style transfer by latent arithmetic: keep what a motion does, change how (Lang2Motion).

A motion's windows are encoded to VAE latents, moved by ``strength`` times a style direction and
decoded. The direction comes from data when the style is one the corpus labels (the mean latent of the
style's ``train`` windows minus the mean over all styled ``train`` windows, or minus the source style's
mean when the caller knows it), else from words: the stage-3 projector's latent of ``"a {style}
person"`` minus that of ``"a person"``. Which to prefer for a known style and the default strength were
chosen on ``val`` (``capabilities.json``), as was whether to decode the moved latents outright or to add
only the change they make to the clip's own windows (``residual``, which keeps detail the VAE loses).
The result keeps the clip's bone lengths and plants its feet.
"""

from __future__ import annotations

import numpy as np
import torch

from embedders.runtime import DanceSearchModel
from explore.body import bone_lengths
from explore.latent import assemble, clip_starts, decode_windows, encode_clip, encode_texts
from explore.settings import CapabilitySettings
from motion.windows import extract_window, to_window_frame

MAX_WINDOWS = 16
NEUTRAL = "a person"
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


def style_direction(model: DanceSearchModel, style: str, settings: CapabilitySettings,
                    method: str | None = None, source_style: str | None = None) -> tuple[torch.Tensor, str]:
    """The direction and the method used ("data" for a known style unless ``method`` says "text")."""
    style = style.strip()
    if not style:
        raise StyleError("the style is empty")
    chosen = method or settings.style_method
    if chosen not in ("data", "text"):
        raise StyleError(f"method must be 'data' or 'text', got {chosen!r}")
    if chosen == "data" and style in settings.style_means:
        return data_direction(style, settings, source_style), "data"
    return text_direction(model, style), "text"


@torch.no_grad()
def stylize_latents(model: DanceSearchModel, positions: np.ndarray, direction: torch.Tensor,
                    strength: float, residual: bool = False) -> np.ndarray:
    """Decoded windows (N, S, J, 3) of the clip's latents moved by ``strength`` * ``direction``.

    ``residual``: the clip's own windows plus what the move changes in the decoder's output
    (decode(z + s d) - decode(z)), which keeps the detail the VAE cannot reconstruct."""
    starts = clip_starts(model, len(positions), MAX_WINDOWS)
    z = encode_clip(model, positions, starts)
    moved = decode_windows(model, z + strength * direction)
    if not residual:
        return moved
    own = to_window_frame(np.stack([extract_window(positions, st, model.window_size) for st in starts]),
                          model.body_normalised)
    return own + (moved - decode_windows(model, z))


def stylize(model: DanceSearchModel, positions: np.ndarray, style: str, strength: float | None = None,
            settings: CapabilitySettings | None = None, method: str | None = None,
            source_style: str | None = None, residual: bool | None = None,
            clean: bool = True) -> tuple[np.ndarray, dict[str, object]]:
    """The canonical motion (T, J, 3) restyled, and what was done (style, method, strength, residual)."""
    s = settings or CapabilitySettings()
    k = s.style_strength if strength is None else float(strength)
    if not -8.0 <= k <= 8.0:
        raise StyleError(f"strength must be between -8 and 8, got {k}")
    direction, used = style_direction(model, style, s, method, source_style)
    res = s.style_residual if residual is None else residual
    windows = stylize_latents(model, positions, direction, k, res)
    out = assemble(windows, bone_lengths(positions), clean=clean)[: len(positions)]
    return out, {"style": style, "method": used, "strength": k, "source_style": source_style, "residual": res}
