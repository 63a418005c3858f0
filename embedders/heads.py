"""Stage 4 contrastive projection heads and stage 5 dance-to-text projector with describe-by-retrieval.

:class:`ProjectionHeads` holds two heads of the same shape and separate weights (three Linear L->L,
ReLU between, no final non-linearity): one for the dance latent mu, one for the stage-3 text latent.
:class:`DanceToText` maps mu into MiniLM space; :func:`describe` ranks known descriptions for dances
by cosine similarity, optionally keeping only those whose cluster matches the dance's cluster.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from embedders.base import SavableModule
from embedders.text import MINILM_DIM


def _head(dim: int, depth: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(depth):
        layers.append(nn.Linear(dim, dim))
        if i < depth - 1:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


@dataclass
class ProjectionHeadsConfig:
    """Both heads map dim -> dim through `depth` Linear layers."""

    dim: int = 128
    depth: int = 3


class ProjectionHeads(SavableModule):
    """Stage 4: `dance(mu)` and `text(text_latent)`, each (B, L) -> (B, L), unnormalised."""

    Config = ProjectionHeadsConfig
    config: ProjectionHeadsConfig

    def __init__(self, config: ProjectionHeadsConfig) -> None:
        super().__init__(config)
        self.dance_head = _head(config.dim, config.depth)
        self.text_head = _head(config.dim, config.depth)

    def dance(self, mu: torch.Tensor) -> torch.Tensor:
        return self.dance_head(mu)

    def text(self, text_latent: torch.Tensor) -> torch.Tensor:
        return self.text_head(text_latent)


@dataclass
class DanceToTextConfig:
    """Stage-5 sizes: dance latent L -> hidden -> MiniLM dim."""

    latent: int = 128
    hidden: int = 512
    text_dim: int = MINILM_DIM
    dropout: float = 0.1


class DanceToText(SavableModule):
    """Stage 5: dance latent mu (B, L) -> MiniLM space (B, 384): Linear, ReLU, Dropout, Linear, LayerNorm."""

    Config = DanceToTextConfig
    config: DanceToTextConfig

    def __init__(self, config: DanceToTextConfig) -> None:
        super().__init__(config)
        c = config
        self.net = nn.Sequential(nn.Linear(c.latent, c.hidden), nn.ReLU(), nn.Dropout(c.dropout),
                                 nn.Linear(c.hidden, c.text_dim), nn.LayerNorm(c.text_dim))

    def forward(self, mu: torch.Tensor) -> torch.Tensor:
        return self.net(mu)


@dataclass
class Described:
    """One retrieved description for one dance: its row in the description matrix, cosine, cluster check."""

    index: int
    score: float
    consistent: bool | None  # None when no cluster ids were given


def describe(predicted: torch.Tensor, descriptions: torch.Tensor, k: int = 5,
             dance_clusters: torch.Tensor | None = None, description_clusters: torch.Tensor | None = None,
             require_consistent: bool = False) -> list[list[Described]]:
    """Top-k descriptions per dance by cosine between `predicted` (N, D) and `descriptions` (M, D).

    With both cluster arrays given, each hit says whether its description's cluster equals the dance's
    (the paper's cluster-consistency check); `require_consistent` keeps only consistent hits (then a
    dance may get fewer than k). Without them `consistent` is None and `require_consistent` is an error.
    """
    check = dance_clusters is not None and description_clusters is not None
    if require_consistent and not check:
        raise ValueError("require_consistent needs both dance_clusters and description_clusters")
    sims = F.normalize(predicted.float(), dim=-1) @ F.normalize(descriptions.float(), dim=-1).T
    if require_consistent:
        assert dance_clusters is not None and description_clusters is not None
        same = dance_clusters.view(-1, 1) == description_clusters.view(1, -1)
        sims = sims.masked_fill(~same, float("-inf"))
    scores, idx = sims.topk(min(k, sims.shape[1]), dim=1)
    out: list[list[Described]] = []
    for row, (srow, irow) in enumerate(zip(scores.tolist(), idx.tolist(), strict=True)):
        hits = []
        for s, j in zip(srow, irow, strict=True):
            if s == float("-inf"):
                continue
            ok = bool(dance_clusters[row] == description_clusters[j]) if check else None  # type: ignore[index]
            hits.append(Described(j, s, ok))
        out.append(hits)
    return out
