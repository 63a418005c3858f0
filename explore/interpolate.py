"""Semantic interpolation between two motions, two texts, or a motion and a text (Lang2Motion).

Both ends become sequences of latents in the VAE's latent space: a motion by encoding its windows (mu),
a text by the stage-3 projector (trained to land on the VAE mu of matching motion). Evenly spaced points
of the straight path between them are decoded window by window and chained into motions. Between two
texts the text-to-dance generator decodes instead (it is what was trained to turn text into motion),
given the interpolated MiniLM embedding and the interpolated latent. Ends of different lengths are
resampled to the same number of windows. With ``detail`` (the default, chosen on val) a motion end also
lends the detail the VAE loses: each decoded window gets ``(1 - t)`` times A's own window minus its
reconstruction (and ``t`` times B's), so the path starts and ends on the clips themselves rather than on
their smoothed reconstructions. Every decoded motion gets bone lengths interpolated between the ends' (or
the reference skeleton's) and planted feet (:mod:`explore.body`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from embedders.runtime import DanceSearchModel
from explore.body import bone_lengths
from explore.latent import (
    assemble,
    clip_starts,
    decode_windows,
    encode_clip,
    encode_texts,
    generate_windows,
    own_windows,
)
from explore.settings import CapabilitySettings

MAX_WINDOWS = 8
"""A motion end is represented by its first windows, at most this many (about 13 s)."""
MAX_STEPS = 32


@dataclass
class Endpoint:
    """One end of the path: a canonical motion (T, J, 3) or a text; ``name`` says which, for display."""

    name: str
    positions: np.ndarray | None = None
    text: str | None = None

    def __post_init__(self) -> None:
        if (self.positions is None) == (self.text is None):
            raise ValueError("an endpoint is either a motion or a text")
        if self.text is not None and not self.text.strip():
            raise ValueError("an endpoint text is empty")

    @property
    def kind(self) -> str:
        return "text" if self.text is not None else "motion"


@dataclass
class Interpolation:
    """Decoded motions (each (T, J, 3), canonical) at path positions ``ts`` (0 = A, 1 = B)."""

    a: Endpoint
    b: Endpoint
    ts: list[float]
    motions: list[np.ndarray]
    decoder: str


def _pick(k: int, n: int) -> np.ndarray:
    return np.linspace(0, k - 1, n).round().astype(int)


def _resample(latents: torch.Tensor, n: int) -> torch.Tensor:
    return latents[torch.from_numpy(_pick(len(latents), n))]


def _detail(model: DanceSearchModel, end: Endpoint, latents: torch.Tensor) -> np.ndarray | None:
    """A motion end's own windows minus their VAE reconstruction (n, S, J, 3), given the end's n latents
    from :func:`_latents` (resampled alike); None for a text end."""
    if end.positions is None:
        return None
    starts = clip_starts(model, len(end.positions), MAX_WINDOWS)
    own = own_windows(model, end.positions, starts)[_pick(len(starts), len(latents))]
    return own - decode_windows(model, latents)


def _latents(model: DanceSearchModel, end: Endpoint, n: int | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(latents (K, L), MiniLM embeddings (K, 384) or None) of an endpoint."""
    if end.text is not None:
        e = model.minilm([end.text])
        return encode_texts(model, e).expand(n or 1, -1), e.expand(n or 1, -1)
    assert end.positions is not None
    starts = clip_starts(model, len(end.positions), MAX_WINDOWS)
    z = encode_clip(model, end.positions, starts)
    return (z if n is None else _resample(z, n)), None


def _lengths(end: Endpoint, settings: CapabilitySettings) -> np.ndarray | None:
    """A motion end's own bone lengths; a text end's the reference skeleton's when generation uses it
    (``generation_bones``, chosen on val), else None (the decoded motion's own median lengths)."""
    if end.positions is not None:
        return bone_lengths(end.positions)
    use_reference = settings.generation_bones == "reference" and settings.bone_lengths
    return np.asarray(settings.bone_lengths) if use_reference else None


def interpolate(model: DanceSearchModel, a: Endpoint, b: Endpoint, steps: int = 5,
                settings: CapabilitySettings | None = None, clean: bool = True, detail: bool = True) -> Interpolation:
    """``steps`` motions evenly spaced from A (t = 0) to B (t = 1), both ends included (``detail``: see
    the module docstring; it changes nothing between two texts)."""
    if not 2 <= steps <= MAX_STEPS:
        raise ValueError(f"steps must be between 2 and {MAX_STEPS}, got {steps}")
    s = settings or CapabilitySettings()
    motions_k = [len(clip_starts(model, len(e.positions), MAX_WINDOWS)) for e in (a, b) if e.positions is not None]
    n = max(motions_k) if motions_k else 2
    za, ea = _latents(model, a, n)
    zb, eb = _latents(model, b, n)
    la, lb = _lengths(a, s), _lengths(b, s)
    ts = [float(t) for t in np.linspace(0.0, 1.0, steps)]
    decoder = "generator" if ea is not None and eb is not None else "vae"
    da, db = (_detail(model, a, za), _detail(model, b, zb)) if detail and decoder == "vae" else (None, None)
    motions = []
    for t in ts:
        z = (1 - t) * za + t * zb
        if decoder == "generator":
            assert ea is not None and eb is not None
            e = torch.nn.functional.normalize((1 - t) * ea + t * eb, dim=-1)
            windows = generate_windows(model, e, z)
        else:
            windows = decode_windows(model, z)
            if da is not None:
                windows = windows + (1 - t) * da
            if db is not None:
                windows = windows + t * db
        lengths = None if la is None or lb is None else (1 - t) * la + t * lb
        if lengths is None:
            lengths = la if la is not None else lb
        motions.append(assemble(windows, lengths, clean=clean, gait=s.generation_gait))
    return Interpolation(a, b, ts, motions, decoder)
