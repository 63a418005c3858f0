"""A trained model directory loaded for use: embeddings in either joint space, clusters, descriptions
and generation, behind the `search.embedder.SearchModel` contract.

The search engine, the evaluation and the benchmarks all go through this one class, so what is
measured is what is served. `space` picks the joint space: "shared_space" (stage 7, InfoNCE) or
"triplet" (the paper's stages 1+3+4); the model directory's config names the default.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file

from embedders.base import ModelLoadError
from embedders.generator import TextToDanceGenerator
from embedders.heads import DanceToText, ProjectionHeads
from embedders.latent_prior import LatentPrior
from embedders.motion import DanceVAE
from embedders.spaces import SharedSpace, TextHead, TripletSpace
from embedders.text import FrozenMiniLM, TextProjector
from motion.normalize import Normalizer
from motion.skeleton import N_JOINTS
from motion.windows import extract_window, to_window_frame

log = logging.getLogger(__name__)

SPACES = ("shared_space", "triplet")
_TEXT_CACHE_MAX = 4096
POSE_STEP = 5
"""Frames between the poses kept by :meth:`DanceSearchModel.pose_vectors` (5 of 25 fps: 0.2 s); on val,
every frame and every 5th gave the same by-example figures (docs/experiments.md, "Search by example: the
same movement")."""
FAMILIARITY_NEIGHBOURS = 10
"""Vocabulary entries averaged by :meth:`DanceSearchModel.familiarity`. Chosen on val (docs/experiments.md):
1 / 10 / 30 / 200 gave off-domain AUROC 0.793 / 0.839 / 0.855 / 0.872 for caption phrasings plus free-form
queries but 0.924 / 0.930 / 0.924 / 0.902 for the free-form ones alone; 10 is better than 1 on both."""


class DanceSearchModel:
    """Loaded model directory. Arrays in and out are NumPy float32; vectors are L2-normalised.

    ``device`` (e.g. ``"cuda"``) is where the window path runs (``embed_windows``, ``embed_clips``,
    ``cluster_of``: the joint space's motion encoder, the VAE encoder and the cluster centroids, copied
    there once); the modules themselves, texts, descriptions and generation stay on the CPU.
    """

    def __init__(self, directory: Path | str, space: str | None = None, text_encoder: FrozenMiniLM | None = None,
                 device: str = "cpu") -> None:
        self.directory = Path(directory)
        cfg_path = self.directory / "config.json"
        if not cfg_path.is_file():
            raise ModelLoadError(self.directory, "not a dancesearch model directory (no config.json)")
        self.config: dict[str, Any] = json.loads(cfg_path.read_text())
        self.space_name = space or self.config.get("search", {}).get("space", "shared_space")
        if self.space_name not in SPACES:
            raise ModelLoadError(self.directory, f"unknown space {self.space_name!r}; choose one of {SPACES}")
        self.device = torch.device(device)
        d = self.directory
        self.normalizer = Normalizer.load(d / "normalizer.npz")
        self.vae = DanceVAE.load(d, "vae").eval()
        self.projector = TextProjector.load(d, "projector").eval()
        self.heads = ProjectionHeads.load(d, "heads").eval()
        self.dance_to_text = DanceToText.load(d, "dance_to_text").eval()
        self.generator = TextToDanceGenerator.load(d, "generator").eval()
        # Models trained before the latent prior existed lack it; generation then uses the projector.
        self.latent_prior = LatentPrior.load(d, "latent_prior").eval() if (d / "latent_prior.json").is_file() else None
        self.shared = SharedSpace.load(d, "shared_space").eval()
        # Stage 7b (models trained since 2026-12-01): the text head refitted on the locked motion encoder.
        if (d / "text_head.json").is_file():
            self.shared.use_text_head(TextHead.load(d, "text_head"))
        self.triplet = TripletSpace(self.vae, self.projector, self.heads).eval()
        clusters = json.loads((d / "clusters.json").read_text())
        self.centroids = torch.tensor(clusters["centroids"], dtype=torch.float32)
        self.cluster_info: list[dict[str, Any]] = clusters.get("clusters", [])
        self._descriptions: list[dict[str, Any]] = json.loads((d / "descriptions.json").read_text())
        self._description_minilm = load_file(str(d / "descriptions.safetensors"))["minilm"]
        self._text_encoder = text_encoder
        self._text_cache: dict[str, torch.Tensor] = {}
        self._vocabulary: torch.Tensor | None = None

    # -- identity -------------------------------------------------------------------------------
    @property
    def version(self) -> str:
        return f"{self.config['version']}:{self.space_name}"

    @property
    def name(self) -> str:
        return str(self.config.get("name", self.directory.name))

    @property
    def space(self) -> SharedSpace | TripletSpace:
        return self.shared if self.space_name == "shared_space" else self.triplet

    @property
    def dim(self) -> int:
        return int(self.space.dim)

    @property
    def window_size(self) -> int:
        return int(self.config["window"]["size"])

    @property
    def body_normalised(self) -> bool:
        """Whether the model was trained on body-size-normalised features (model v2; older models: no)."""
        return bool(self.config.get("features", {}).get("body_normalised", False))

    @property
    def settings(self) -> dict[str, object]:
        s = dict(self.config.get("search", {}))
        s["name"] = self.name
        return s

    def with_space(self, space: str) -> DanceSearchModel:
        """The same weights viewed through another joint space (shares every module)."""
        other = object.__new__(DanceSearchModel)
        other.__dict__.update(self.__dict__)
        if space not in SPACES:
            raise ValueError(f"unknown space {space!r}")
        other.space_name = space
        return other

    def _window_path(self) -> tuple[SharedSpace | TripletSpace, DanceVAE, torch.Tensor]:
        """The joint space, the VAE and the centroids the window path uses, on ``self.device``."""
        if self.device.type == "cpu":
            return self.space, self.vae, self.centroids
        copies = self.__dict__.setdefault("_device_copies", {})
        if self.space_name not in copies:
            copies[self.space_name] = (copy.deepcopy(self.space).to(self.device),
                                       copy.deepcopy(self.vae).to(self.device), self.centroids.to(self.device))
        return copies[self.space_name]  # type: ignore[no-any-return]

    # -- inputs ---------------------------------------------------------------------------------
    def window_features(self, positions: np.ndarray, starts: Sequence[int]) -> torch.Tensor:
        """Normalised features (N, S, F) of windows of one canonical clip (T, J, 3)."""
        if positions.ndim != 3 or positions.shape[1:] != (N_JOINTS, 3):
            raise ValueError(f"expected canonical positions (T, {N_JOINTS}, 3), got {positions.shape}")
        wins = np.stack([extract_window(positions, int(s), self.window_size) for s in starts])
        feats = to_window_frame(wins, self.body_normalised).reshape(len(starts), self.window_size, -1)
        return torch.from_numpy(self.normalizer.transform(feats))

    def minilm(self, texts: Sequence[str]) -> torch.Tensor:
        """Frozen MiniLM embeddings (N, 384), with a small in-memory cache of recent texts."""
        found = {t: self._text_cache[t] for t in dict.fromkeys(texts) if t in self._text_cache}
        todo = [t for t in dict.fromkeys(texts) if t not in found]
        if todo:
            if self._text_encoder is None:
                self._text_encoder = FrozenMiniLM(fast=True)
            for t, e in zip(todo, self._text_encoder.encode(todo), strict=True):
                if len(self._text_cache) >= _TEXT_CACHE_MAX:
                    self._text_cache.pop(next(iter(self._text_cache)))
                self._text_cache[t] = found[t] = e
        # from ``found``, not the cache: a batch larger than the cache evicts its own first texts
        return torch.stack([found[t] for t in texts]) if texts else torch.zeros(0, 384)

    # -- embeddings -----------------------------------------------------------------------------
    @torch.no_grad()
    def embed_features(self, x: torch.Tensor, batch: int = 1024) -> np.ndarray:
        space = self._window_path()[0]
        return torch.cat([space.embed_motion(x[i:i + batch].to(self.device)).cpu() for i in range(0, len(x), batch)]
                         ).numpy() if len(x) else np.zeros((0, self.dim), np.float32)

    def embed_windows(self, positions: np.ndarray, starts: Sequence[int]) -> np.ndarray:
        return self.embed_features(self.window_features(positions, starts))

    def pose_vectors(self, positions: np.ndarray, starts: Sequence[int]) -> np.ndarray:
        """Unit vectors (N, S/POSE_STEP * F) of the windows' normalised pose features themselves, every
        POSE_STEP-th frame: no learned weights, so the same movement on another rig or body (after
        canonicalisation and body normalisation) stays close even where the learned space generalises
        and groups it with merely similar movement ("same motion" search by example)."""
        return self.pose_vectors_of_features(self.window_features(positions, starts))

    @staticmethod
    def pose_vectors_of_features(x: torch.Tensor) -> np.ndarray:
        """:meth:`pose_vectors` of normalised window features (N, S, F)."""
        flat = x.numpy()[:, ::POSE_STEP].reshape(len(x), -1).astype(np.float32)
        return flat / np.maximum(np.linalg.norm(flat, axis=1, keepdims=True), 1e-8)

    def embed_clips(self, clips: Sequence[tuple[np.ndarray, Sequence[int]]]) -> tuple[np.ndarray, np.ndarray]:
        """Vectors and clusters of the windows of several clips, features computed once per window."""
        if not clips:
            return np.zeros((0, self.dim), np.float32), np.zeros(0, np.int64)
        x = torch.cat([self.window_features(p, s) for p, s in clips])
        return self.embed_features(x), self.clusters_of_features(x)

    @torch.no_grad()
    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self.space.embed_text(self.minilm(texts)).numpy()

    @torch.no_grad()
    def embed_descriptions(self, texts: Sequence[str]) -> np.ndarray:
        """Descriptions in the space `describe_windows` queries: the joint space for InfoNCE; for the
        triplet model, MiniLM space (the stage-5 dance-to-text decoder predicts MiniLM vectors)."""
        if self.space_name == "shared_space":
            return self.embed_texts(texts)
        return torch.nn.functional.normalize(self.minilm(texts), dim=-1).numpy()

    @torch.no_grad()
    def describe_features(self, x: torch.Tensor) -> np.ndarray:
        if self.space_name == "shared_space":
            return self.embed_features(x)
        pred = self.dance_to_text(self.vae.embed_mu(x))
        return torch.nn.functional.normalize(pred, dim=-1).numpy()

    def describe_windows(self, positions: np.ndarray, starts: Sequence[int]) -> np.ndarray:
        return self.describe_features(self.window_features(positions, starts))

    # -- clusters -------------------------------------------------------------------------------
    @torch.no_grad()
    def clusters_of_features(self, x: torch.Tensor) -> np.ndarray:
        _, vae, centroids = self._window_path()
        mu = vae.embed_mu(x.to(self.device))
        return torch.cdist(mu, centroids).argmin(1).cpu().numpy()

    def cluster_of(self, positions: np.ndarray, starts: Sequence[int]) -> np.ndarray:
        return self.clusters_of_features(self.window_features(positions, starts))

    @torch.no_grad()
    def cluster_of_texts(self, texts: Sequence[str]) -> np.ndarray:
        return torch.cdist(self.projector(self.minilm(texts)), self.centroids).argmin(1).numpy()

    def descriptions(self) -> list[tuple[str, int | None]]:
        return [(d["text"], d.get("cluster")) for d in self._descriptions]

    # -- scores ---------------------------------------------------------------------------------
    @torch.no_grad()
    def familiarity(self, texts: Sequence[str]) -> np.ndarray:
        """How close each text is, in MiniLM space, to the words the model was trained on: the mean of its
        :data:`FAMILIARITY_NEIGHBOURS` best cosines against its description database and its vocabulary
        (``vocabulary.json``: the kinematic phrasings, written by calibration). Off-domain queries ("riding
        a bicycle") are far from all of them even when some motion happens to score well; a mean over
        several neighbours is steadier than the single best one (docs/experiments.md, "The generation
        fallback's score")."""
        if self._vocabulary is None:
            vocab_file = self.directory / "vocabulary.json"
            extra = json.loads(vocab_file.read_text()) if vocab_file.exists() else []
            rows = [self._description_minilm] + ([self.minilm(extra)] if extra else [])
            self._vocabulary = torch.nn.functional.normalize(torch.cat(rows), dim=-1)
        q = torch.nn.functional.normalize(self.minilm(texts), dim=-1)
        k = min(FAMILIARITY_NEIGHBOURS, self._vocabulary.shape[0])
        return (q @ self._vocabulary.T).topk(k, dim=1).values.mean(1).numpy()

    def match_score(self, text: str, best_motion: float | None) -> float | None:
        """The number the engine compares with ``fallback_threshold``: the best text -> motion score,
        blended with :meth:`familiarity` by the calibrated ``fallback_familiarity_weight`` (0: motion only)."""
        weight = float(self.settings.get("fallback_familiarity_weight", 0.0) or 0.0)  # type: ignore[arg-type]
        if best_motion is None or weight == 0.0:
            return best_motion
        return (1.0 - weight) * best_motion + weight * float(self.familiarity([text])[0])

    def description_records(self) -> list[dict[str, Any]]:
        return list(self._descriptions)

    # -- generation -----------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, text: str, seconds: float = 4.0, seed: int = 0) -> np.ndarray:
        """A canonical motion (T, J, 3) for a text: generated windows chained end to end.

        The generator makes one window (2 s) per call; longer motions chain windows, each placed
        where the previous one ended (position and heading) and cross-faded over a few frames.
        """
        emb = self.minilm([text])[0]
        n_frames = max(self.window_size, int(round(seconds * 25.0)))
        gen = torch.Generator().manual_seed(seed)
        pieces: list[np.ndarray] = []
        while sum(p.shape[0] for p in pieces) < n_frames + 10 * len(pieces):
            noise = 0.0 if not pieces else 0.05
            e = emb + noise * torch.randn(emb.shape, generator=gen)
            feats = self.generator.generate(e).numpy()
            pieces.append(self.normalizer.inverse(feats).reshape(self.window_size, N_JOINTS, 3))
        from embedders.chain import chain_windows

        return chain_windows(pieces, n_frames)
