"""Joint motion-text embedding spaces with one interface, so search and evaluation can swap them.

Both spaces offer `embed_motion(x (N, S, F)) -> (N, D)` and `embed_text(minilm (N, 384)) -> (N, D)`,
L2-normalised, so cosine similarity is a dot product:
- :class:`SharedSpace` (stage 7, TMR-style): its own motion encoder and a text head trained with
  symmetric InfoNCE; D = `dim` (256 by default).
- :class:`TripletSpace` (paper, stages 1+3+4): VAE mu -> dance head, MiniLM -> stage-3 projector ->
  text head; D = L. Built from the saved stage modules, it has no weights of its own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

from embedders.base import SavableModule, copy_matching
from embedders.heads import ProjectionHeads
from embedders.motion import DanceVAE, MotionEncoder, TransformerMotionEncoder
from embedders.text import MINILM_DIM, TextProjector
from motion.windows import DEFAULT_SIZE, N_FEATURES

log = logging.getLogger(__name__)


class JointSpace(Protocol):
    """What search and evaluation need from a joint space."""

    dim: int

    def embed_motion(self, x: torch.Tensor) -> torch.Tensor: ...

    def embed_text(self, minilm_emb: torch.Tensor) -> torch.Tensor: ...


@dataclass
class SharedSpaceConfig:
    """Stage-7 sizes: encoder hidden H, text-head hidden, shared dim D."""

    n_features: int = N_FEATURES
    seq_len: int = DEFAULT_SIZE
    hidden: int = 128
    text_dim: int = MINILM_DIM
    text_hidden: int = 512
    dim: int = 256
    encoder: str = "lstm"  # "lstm" (MotionEncoder) or "transformer" (TransformerMotionEncoder, TMR's shape)


class SharedSpace(SavableModule):
    """Stage 7: motion encoder (Linear, LSTM, attention, Linear to D) and text MLP (384 -> D)."""

    Config = SharedSpaceConfig
    config: SharedSpaceConfig

    def __init__(self, config: SharedSpaceConfig) -> None:
        super().__init__(config)
        c = config
        if c.encoder not in ("lstm", "transformer"):
            raise ValueError(f"unknown motion encoder {c.encoder!r}: lstm or transformer")
        self.encoder: nn.Module = (MotionEncoder(c.n_features, c.hidden) if c.encoder == "lstm"
                                   else TransformerMotionEncoder(c.n_features, c.hidden, c.seq_len))
        self.motion_out = nn.Linear(c.hidden, c.dim)
        self.text_head = nn.Sequential(nn.Linear(c.text_dim, c.text_hidden), nn.ReLU(),
                                       nn.Linear(c.text_hidden, c.dim))

    @property
    def dim(self) -> int:
        return self.config.dim

    def init_from_vae(self, vae: DanceVAE) -> list[str]:
        """Start the motion encoder from the VAE encoder where shapes allow; returns the copied names."""
        copied = copy_matching(self.encoder, vae.encoder)
        log.info("shared space: %d encoder tensors initialised from the VAE", len(copied))
        return copied

    def embed_motion(self, x: torch.Tensor) -> torch.Tensor:
        """Windows (N, S, F) -> unit vectors (N, D)."""
        return F.normalize(self.motion_out(self.encoder(x)), dim=-1)

    def embed_text(self, minilm_emb: torch.Tensor) -> torch.Tensor:
        """MiniLM embeddings (N, 384) -> unit vectors (N, D)."""
        return F.normalize(self.text_head(minilm_emb), dim=-1)

    def use_text_head(self, head: TextHead) -> None:
        """Embed texts with ``head`` (stage 7b, refitted on this space's motion encoder) from now on."""
        if head.config.dim != self.config.dim:
            raise ValueError(f"text head of dimension {head.config.dim} for a space of dimension {self.config.dim}")
        self.text_head = head.net.eval()


@dataclass
class TextHeadConfig:
    """Stage-7b text head sizes: MiniLM (384) -> hidden -> shared dim D, and input dropout while training."""

    text_dim: int = MINILM_DIM
    hidden: int = 512
    dim: int = 256
    dropout: float = 0.0


class TextHead(SavableModule):
    """Stage 7b: the shared space's text head refitted on the frozen (locked) motion encoder, as in LiT
    (Zhai et al. 2022), with noise (and optionally dropout) on the MiniLM input while training. The joint
    stage fits the text head to the few thousand caption phrasings it sees; the refit keeps nearby MiniLM
    vectors (other people's words for the same movement) near the same motions. Measured on val in
    docs/experiments.md ("Text head on the locked motion encoder")."""

    Config = TextHeadConfig
    config: TextHeadConfig

    def __init__(self, config: TextHeadConfig) -> None:
        super().__init__(config)
        c = config
        self.net = nn.Sequential(nn.Dropout(c.dropout), nn.Linear(c.text_dim, c.hidden), nn.ReLU(),
                                 nn.Linear(c.hidden, c.dim))

    def forward(self, minilm_emb: torch.Tensor) -> torch.Tensor:
        """MiniLM embeddings (N, 384) -> unit vectors (N, D)."""
        return F.normalize(self.net(minilm_emb), dim=-1)


class TripletSpace(nn.Module):
    """The paper's space: heads over VAE mu and over the stage-3 text latent, outputs L2-normalised.

    The heads were trained with Euclidean triplet distances on unnormalised outputs; retrieval here
    uses the cosine (the direction), as every other space in the system does.
    """

    def __init__(self, vae: DanceVAE, projector: TextProjector, heads: ProjectionHeads) -> None:
        super().__init__()
        if not vae.config.latent == projector.config.latent == heads.config.dim:
            raise ValueError(f"latent sizes differ: VAE {vae.config.latent}, projector "
                             f"{projector.config.latent}, heads {heads.config.dim}")
        self.vae, self.projector, self.heads = vae, projector, heads

    @property
    def dim(self) -> int:
        return self.heads.config.dim

    def embed_motion(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.heads.dance(self.vae.embed_mu(x)), dim=-1)

    def embed_text(self, minilm_emb: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.heads.text(self.projector(minilm_emb)), dim=-1)

