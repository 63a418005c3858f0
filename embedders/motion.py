"""Motion modules: the recurrent encoder with temporal attention, the GRU pose decoder, and the VAE.

Inputs are normalised window features (B, S, F): S frames of F = 19 joints x 3 heading-relative
coordinates (see :mod:`motion.windows`). The encoder (Linear -> LSTM -> attention pooling) is shared
by the VAE (stage 1) and the InfoNCE motion encoder (stage 7); the decoder (Linear -> repeat S times
-> GRU -> Linear per frame) by the VAE and the text-to-dance generator (stage 6).

The VAE can instead use a window MLP encoder and a convolutional decoder (``VAEConfig.encoder = "mlp"``,
``decoder = "conv"``): the recurrent pair, and any sizeable KL weight, reconstruct no step alternation
(docs/experiments.md, "Why generated walks glide"); these options are what that entry measured.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from embedders.base import SavableModule
from motion.windows import DEFAULT_SIZE, N_FEATURES


class MotionEncoder(nn.Module):
    """(B, S, F) -> (B, H): per-frame Linear to H, LSTM(H), softmax attention over frames."""

    def __init__(self, n_features: int, hidden: int) -> None:
        super().__init__()
        self.frame = nn.Linear(n_features, hidden)
        self.lstm = nn.LSTM(hidden, hidden, batch_first=True)
        self.score = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        states, _ = self.lstm(torch.relu(self.frame(x)))
        weights = torch.softmax(self.score(states), dim=1)  # (B, S, 1)
        return (weights * states).sum(dim=1)


class TransformerMotionEncoder(nn.Module):
    """(B, S, F) -> (B, H), TMR's shape at CPU size: per-frame Linear to H, learned positions, a [CLS]
    token, ``layers`` pre-norm Transformer encoder layers (``heads`` heads, feed-forward 2H), the [CLS]
    output. The stage-7 alternative to :class:`MotionEncoder`, chosen by measurement on val."""

    def __init__(self, n_features: int, hidden: int, seq_len: int, layers: int = 2, heads: int = 4) -> None:
        super().__init__()
        self.frame = nn.Linear(n_features, hidden)
        self.position = nn.Parameter(torch.zeros(1, seq_len + 1, hidden))
        self.cls = nn.Parameter(torch.zeros(1, 1, hidden))
        layer = nn.TransformerEncoderLayer(hidden, heads, 2 * hidden, dropout=0.1, batch_first=True, norm_first=True)
        self.layers = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(hidden)
        nn.init.normal_(self.position, std=0.02)
        nn.init.normal_(self.cls, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.frame(x)
        h = torch.cat([self.cls.expand(len(h), -1, -1), h], dim=1) + self.position[:, : h.shape[1] + 1]
        return self.norm(self.layers(h)[:, 0])


class WindowMLPEncoder(nn.Module):
    """(B, S, F) -> (B, H): the whole window flattened, Linear to 512, GELU, Linear to H (keeps the timing
    of every frame, e.g. the phase of a step, which attention pooling averages away)."""

    def __init__(self, n_features: int, hidden: int, seq_len: int, width: int = 512) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(seq_len * n_features, width), nn.GELU(), nn.Linear(width, hidden))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ConvPoseDecoder(nn.Module):
    """(B, C) -> (B, S, F): Linear to ``coarse`` frames of ``channels``, linear upsampling to S frames, two
    1-D convolutions (width 5, GELU) and a convolution to F per frame: every frame of its own, neighbours
    agreeing (an MLP over all frames jitters frame to frame)."""

    def __init__(self, cond_dim: int, n_features: int, seq_len: int, channels: int = 256, coarse: int = 13) -> None:
        super().__init__()
        self.channels, self.coarse = channels, coarse
        self.input = nn.Linear(cond_dim, channels * coarse)
        self.core = nn.Sequential(nn.Upsample(size=seq_len, mode="linear", align_corners=True),
                                  nn.Conv1d(channels, channels, 5, padding=2), nn.GELU(),
                                  nn.Conv1d(channels, channels, 5, padding=2), nn.GELU())
        self.output = nn.Conv1d(channels, n_features, 5, padding=2)

    def forward(self, cond: torch.Tensor) -> torch.Tensor:
        h = nn.functional.gelu(self.input(cond)).view(len(cond), self.channels, self.coarse)
        return self.output(self.core(h)).transpose(1, 2)


def pose_decoder(kind: str, cond_dim: int, hidden: int, n_features: int, seq_len: int) -> nn.Module:
    """The VAE's (and the generator's) decoder: "gru" (:class:`PoseDecoder`) or "conv" (:class:`ConvPoseDecoder`)."""
    if kind == "gru":
        return PoseDecoder(cond_dim, hidden, n_features, seq_len)
    if kind == "conv":
        return ConvPoseDecoder(cond_dim, n_features, seq_len)
    raise ValueError(f"unknown pose decoder {kind!r}: gru or conv")


class PoseDecoder(nn.Module):
    """(B, C) -> (B, S, F): Linear to H, repeated over S frames, GRU(H), Linear to F per frame."""

    def __init__(self, cond_dim: int, hidden: int, n_features: int, seq_len: int) -> None:
        super().__init__()
        self.seq_len = seq_len
        self.input = nn.Linear(cond_dim, hidden)
        self.gru = nn.GRU(hidden, hidden, batch_first=True)
        self.output = nn.Linear(hidden, n_features)

    def forward(self, cond: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.input(cond)).unsqueeze(1).expand(-1, self.seq_len, -1)
        states, _ = self.gru(h.contiguous())
        return self.output(states)

    @property
    def core(self) -> nn.Module:
        """The recurrent middle (what the generator unfreezes last)."""
        return self.gru


@dataclass
class VAEConfig:
    """Sizes of the dance VAE: window length S, features F, hidden H, latent L."""

    n_features: int = N_FEATURES
    seq_len: int = DEFAULT_SIZE
    hidden: int = 128
    latent: int = 128
    encoder: str = "lstm"  # "lstm" (MotionEncoder) or "mlp" (WindowMLPEncoder)
    decoder: str = "gru"   # "gru" (PoseDecoder) or "conv" (ConvPoseDecoder)


class DanceVAE(SavableModule):
    """Stage 1: variational autoencoder of windows; `encode(x)` gives (mu, logvar), `decode(z)` poses."""

    Config = VAEConfig
    config: VAEConfig

    def __init__(self, config: VAEConfig) -> None:
        super().__init__(config)
        c = config
        if c.encoder not in ("lstm", "mlp"):
            raise ValueError(f"unknown VAE encoder {c.encoder!r}: lstm or mlp")
        self.encoder: nn.Module = (MotionEncoder(c.n_features, c.hidden) if c.encoder == "lstm"
                                   else WindowMLPEncoder(c.n_features, c.hidden, c.seq_len))
        self.mu = nn.Linear(c.hidden, c.latent)
        self.logvar = nn.Linear(c.hidden, c.latent)
        self.decoder = pose_decoder(c.decoder, c.latent, c.hidden, c.n_features, c.seq_len)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Windows (B, S, F) -> mu, logvar, each (B, L)."""
        h = self.encoder(x)
        return self.mu(h), self.logvar(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latents (B, L) -> windows (B, S, F)."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reconstruction (sampled z in training mode, z = mu in eval mode), mu and logvar."""
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
        return self.decode(z), mu, logvar

    def embed_mu(self, x: torch.Tensor) -> torch.Tensor:
        """The deterministic dance latent mu (B, L) used by every later stage."""
        return self.encode(x)[0]
