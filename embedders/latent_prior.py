"""A text-conditioned prior over the VAE latent: p(mu | text) as a rectified flow.

Why: the stage-3 projector regresses the VAE mean on a text embedding, so a text gets the *average*
latent of the windows its captions describe; decoded, that is an average motion (over-smooth and
alike for many texts). A flow samples *one* latent of those windows instead, the way LEAD's latent
diffusion does, at the cost of an MLP run a few dozen times per sample (milliseconds on a CPU).

Model: a velocity field v(z_t, t, text) on standardised latents (the train split's per-dimension
mean and std are buffers of the module), trained by flow matching on the straight path
z_t = (1 - t) noise + t latent. The text is replaced by a learned null embedding for a fraction of
training pairs, so sampling can use classifier-free guidance: v = v(null) + g (v(text) - v(null)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from embedders.base import SavableModule
from embedders.text import MINILM_DIM


@dataclass
class LatentPriorConfig:
    """Sizes; `latent` must match the VAE's."""

    text_dim: int = MINILM_DIM
    latent: int = 128
    hidden: int = 256
    blocks: int = 4
    time_dim: int = 64


class _Block(nn.Module):
    """Pre-norm residual MLP block with the condition added inside."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        self.inner = nn.Linear(hidden, hidden * 2)
        self.cond = nn.Linear(hidden, hidden * 2)
        self.outer = nn.Linear(hidden * 2, hidden)

    def forward(self, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return h + self.outer(nn.functional.silu(self.inner(self.norm(h)) + self.cond(c)))


def time_features(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal features (B, dim) of flow times t (B,) in [0, 1]."""
    half = dim // 2
    freqs = torch.exp(-math.log(1000.0) * torch.arange(half, device=t.device, dtype=t.dtype) / half)
    angles = t[:, None] * 1000.0 * freqs[None, :]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)


SAMPLE_STEPS = 16
"""Euler steps of a sample. On val (docs/experiments.md, "Latent-prior sampling steps") 16 steps gave the
R@3, jerk and diversity of 32 at half the time; 8 and 4 lost some of each."""


class LatentPrior(SavableModule):
    """v(z_t, t, text): the velocity of a flow from N(0, I) to standardised VAE latents given a text."""

    Config = LatentPriorConfig
    config: LatentPriorConfig
    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, config: LatentPriorConfig) -> None:
        super().__init__(config)
        c = config
        self.register_buffer("mean", torch.zeros(c.latent))
        self.register_buffer("std", torch.ones(c.latent))
        self.null_text = nn.Parameter(torch.zeros(c.text_dim))
        self.text_in = nn.Linear(c.text_dim, c.hidden)
        self.time_in = nn.Sequential(nn.Linear(c.time_dim, c.hidden), nn.SiLU(), nn.Linear(c.hidden, c.hidden))
        self.z_in = nn.Linear(c.latent, c.hidden)
        self.blocks = nn.ModuleList(_Block(c.hidden) for _ in range(c.blocks))
        self.out = nn.Sequential(nn.LayerNorm(c.hidden), nn.Linear(c.hidden, c.latent))

    def set_statistics(self, latents: torch.Tensor) -> None:
        """Standardise with the per-dimension mean and std of training latents (N, L)."""
        self.mean.copy_(latents.mean(0))
        self.std.copy_(latents.std(0).clamp_min(1e-4))

    def velocity(self, z: torch.Tensor, t: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """Velocity (B, L) at standardised points z (B, L), times t (B,) and text embeddings (B, 384)."""
        c = self.text_in(text) + self.time_in(time_features(t, self.config.time_dim))
        h = self.z_in(z)
        for block in self.blocks:
            h = block(h, c)
        return self.out(h)

    def flow_loss(self, latents: torch.Tensor, text: torch.Tensor, p_uncond: float,
                  generator: torch.Generator | None = None) -> torch.Tensor:
        """Flow-matching MSE for latents (B, L) and their texts (B, 384); a `p_uncond` share of the
        texts is replaced by the null embedding (classifier-free guidance). `generator` fixes the noise."""
        x1 = (latents - self.mean) / self.std
        x0 = torch.randn(x1.shape, generator=generator, device=x1.device)
        t = torch.rand(len(x1), generator=generator, device=x1.device)
        drop = torch.rand(len(x1), generator=generator, device=x1.device) < p_uncond
        text = torch.where(drop[:, None], self.null_text.expand_as(text), text)
        zt = (1 - t[:, None]) * x0 + t[:, None] * x1
        return ((self.velocity(zt, t, text) - (x1 - x0)) ** 2).mean()

    @torch.no_grad()
    def edit(self, latents: torch.Tensor, text: torch.Tensor, strength: float, guidance: float = 2.0,
             steps: int = 32, generator: torch.Generator | None = None) -> torch.Tensor:
        """Latents (B, L) moved towards texts (B, 384), as SDEdit does: each is put back on the straight
        path at time ``1 - strength`` (that share of it replaced by seeded noise) and the flow is
        integrated to the end under the new text. ``strength`` 0 keeps the latents, 1 draws new ones."""
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"strength must be in [0, 1], got {strength}")
        if strength == 0.0:
            return latents.clone()
        device = self.mean.device
        text = text.to(device).float()
        x1 = (latents.to(device) - self.mean) / self.std
        t0 = 1.0 - strength
        z = t0 * x1 + strength * torch.randn(x1.shape, generator=generator).to(device)
        n = max(1, round(steps * strength))
        return self._integrate(z, text, t0, n, guidance) * self.std + self.mean

    def _integrate(self, z: torch.Tensor, text: torch.Tensor, t0: float, n: int, guidance: float) -> torch.Tensor:
        """Euler steps of the (guided) flow from time ``t0`` to 1."""
        b = len(text)
        # With guidance, the text and the null embedding go through one pass of a doubled batch: at a few
        # windows per call the MLP's time is reading its weights, so one pass costs about what half does.
        cond = torch.cat([text, self.null_text.expand_as(text)]) if guidance != 1.0 else text
        dt = (1.0 - t0) / n
        for i in range(n):
            t = torch.full((len(cond),), t0 + i * dt, device=z.device)
            v = self.velocity(z.repeat(len(cond) // b, 1), t, cond)
            if guidance != 1.0:
                v = v[b:] + guidance * (v[:b] - v[b:])
            z = z + v * dt
        return z

    @torch.no_grad()
    def sample(self, text: torch.Tensor, guidance: float = 2.0, steps: int = SAMPLE_STEPS,
               generator: torch.Generator | None = None, temperature: float = 1.0) -> torch.Tensor:
        """Latents (B, L) for text embeddings (B, 384): Euler steps from seeded noise (scaled by
        `temperature`), classifier-free guidance `guidance` (1 = the conditional flow alone)."""
        device = self.mean.device
        text = text.to(device).float()
        z = temperature * torch.randn((len(text), self.config.latent), generator=generator).to(device)
        return self._integrate(z, text, 0.0, steps, guidance) * self.std + self.mean
