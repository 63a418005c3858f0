"""Stage 6: text-to-dance generation through the VAE's decoder.

The conditioning vector is LayerNorm(Linear([MiniLM text embedding (384), dance latent (L)])), of
size L, decoded by a copy of the trained VAE's GRU decoder. At inference the dance latent comes from
a frozen copy of the stage-3 text projector held inside the module, so `generate()` needs only the
text embedding (the paper's path; its phase b of training, off by default now, trains that path). The
product's generation (:mod:`explore.generation`) gives it a latent sampled from the latent prior instead,
as phase a trains it: a text and a window's own latent.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from embedders.base import SavableModule
from embedders.motion import DanceVAE, pose_decoder
from embedders.text import MINILM_DIM, TextProjector, TextProjectorConfig
from motion.windows import DEFAULT_SIZE, N_FEATURES


@dataclass
class GeneratorConfig:
    """Sizes; `latent`/`hidden`/`seq_len`/`n_features` must match the VAE, `projector_hidden` stage 3."""

    text_dim: int = MINILM_DIM
    latent: int = 128
    hidden: int = 128
    seq_len: int = DEFAULT_SIZE
    n_features: int = N_FEATURES
    projector_hidden: int = 512
    decoder: str = "gru"  # the VAE's decoder kind ("gru" or "conv"), whose weights it starts from


class TextToDanceGenerator(SavableModule):
    """(text embedding, dance latent) -> conditioning -> VAE decoder -> windows (B, S, F)."""

    Config = GeneratorConfig
    config: GeneratorConfig

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__(config)
        c = config
        self.condition = nn.Sequential(nn.Linear(c.text_dim + c.latent, c.latent), nn.LayerNorm(c.latent))
        self.decoder = pose_decoder(c.decoder, c.latent, c.hidden, c.n_features, c.seq_len)
        self.projector = TextProjector(TextProjectorConfig(c.text_dim, c.projector_hidden, c.latent))
        self.projector.requires_grad_(False)

    @classmethod
    def from_stages(cls, vae: DanceVAE, projector: TextProjector) -> TextToDanceGenerator:
        """A generator whose decoder starts from the VAE's and whose projector is stage 3's (frozen)."""
        v, p = vae.config, projector.config
        if p.latent != v.latent:
            raise ValueError(f"projector latent {p.latent} != VAE latent {v.latent}")
        gen = cls(GeneratorConfig(p.text_dim, v.latent, v.hidden, v.seq_len, v.n_features, p.hidden, v.decoder))
        gen.decoder.load_state_dict(vae.decoder.state_dict())
        gen.projector.load_state_dict(projector.state_dict())
        return gen

    def forward(self, text_emb: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        """Windows (B, S, F) from text embeddings (B, 384) and dance latents (B, L)."""
        return self.decoder(self.condition(torch.cat([text_emb, latent], dim=-1)))

    def text_latent(self, text_emb: torch.Tensor) -> torch.Tensor:
        """The stage-3 dance latent predicted from text (frozen projector)."""
        return self.projector(text_emb)

    def from_text(self, text_emb: torch.Tensor) -> torch.Tensor:
        """Windows (B, S, F) from text embeddings alone (the paper's inference path, and phase b of training)."""
        return self(text_emb, self.text_latent(text_emb))

    @torch.no_grad()
    def generate(self, text_embedding: torch.Tensor) -> torch.Tensor:
        """One window (S, F) of normalised features for one MiniLM embedding (384,) (or a batch (B, S, F))."""
        was_training = self.training
        self.eval()
        single = text_embedding.dim() == 1
        emb = text_embedding.unsqueeze(0) if single else text_embedding
        out = self.from_text(emb.to(next(self.parameters()).device).float())
        self.train(was_training)
        return out[0] if single else out
