"""Between canonical motion and the model's latents: the VAE latent (mu) of windows, the stage-3 text
latent, decoding latents back into motion, and shared-space vectors of motions.

Windows are the model's own (50 frames, 2 s). A clip becomes a sequence of windows placed ``stride``
frames apart; decoded windows are positions in each window's own frame and are chained back into one
motion (:func:`embedders.chain.chain_windows`), then given reference bone lengths and planted feet
(:mod:`explore.body`), so everything this package returns is a canonical motion a user can play.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from embedders.chain import BLEND_FRAMES, chain_windows
from embedders.runtime import DanceSearchModel
from explore.body import bone_lengths, plant_feet, project_bones, put_on_floor
from explore.gait import synthesise_gait
from motion.skeleton import N_JOINTS
from motion.windows import extract_window, to_window_frame, window_starts


def chain_stride(model: DanceSearchModel) -> int:
    """Frames between the starts of consecutive chained windows (a window minus the cross-fade)."""
    return model.window_size - BLEND_FRAMES


def clip_starts(model: DanceSearchModel, n_frames: int, max_windows: int | None = None) -> list[int]:
    """Starts of windows that tile a clip the way chaining rebuilds it: the first ``max_windows`` of
    them (contiguous, so the decoded motion is the clip's beginning, not a jumpy sample of all of it)."""
    starts = window_starts(n_frames, model.window_size, chain_stride(model))
    return starts if max_windows is None else starts[:max_windows]


@torch.no_grad()
def encode_clip(model: DanceSearchModel, positions: np.ndarray, starts: Sequence[int]) -> torch.Tensor:
    """VAE latents mu (N, L) of the windows of a canonical clip starting at ``starts``."""
    return model.vae.embed_mu(model.window_features(positions, starts))


def own_windows(model: DanceSearchModel, positions: np.ndarray, starts: Sequence[int]) -> np.ndarray:
    """A clip's own windows (N, S, J, 3) in each window's frame, as :func:`decode_windows` returns decoded
    ones (so ``own - decode(encode(own))`` is the detail the VAE loses)."""
    return to_window_frame(np.stack([extract_window(positions, st, model.window_size) for st in starts]),
                           model.body_normalised)


@torch.no_grad()
def encode_texts(model: DanceSearchModel, minilm: torch.Tensor) -> torch.Tensor:
    """Stage-3 dance latents (N, L) of MiniLM embeddings (the projector is trained towards VAE mu)."""
    return model.projector(minilm)


@torch.no_grad()
def decode_windows(model: DanceSearchModel, latents: torch.Tensor) -> np.ndarray:
    """Window positions (N, S, J, 3) in each window's frame, decoded by the VAE decoder."""
    feats = model.vae.decode(latents).numpy()
    return model.normalizer.inverse(feats).reshape(len(latents), model.window_size, N_JOINTS, 3)


@torch.no_grad()
def generate_windows(model: DanceSearchModel, minilm: torch.Tensor, latents: torch.Tensor) -> np.ndarray:
    """Window positions (N, S, J, 3) from the text-to-dance generator given text embeddings and latents."""
    feats = model.generator(minilm, latents).numpy()
    return model.normalizer.inverse(feats).reshape(len(latents), model.window_size, N_JOINTS, 3)


def assemble(windows: np.ndarray, lengths: np.ndarray | None = None, n_frames: int | None = None,
             clean: bool = True, gait: bool = False) -> np.ndarray:
    """One canonical motion (T, J, 3) from decoded windows: chained, then (``clean``) projected onto
    ``lengths`` (default: the motion's own median bone lengths), given steps where it travels on gliding
    feet (``gait``, :mod:`explore.gait`) and with planted feet."""
    n = n_frames or (len(windows[0]) + (len(windows) - 1) * (len(windows[0]) - BLEND_FRAMES))
    motion = chain_windows(list(windows), n)
    if not clean:
        return motion
    ref = bone_lengths(motion) if lengths is None or not len(lengths) else np.asarray(lengths)
    if gait:
        motion = synthesise_gait(put_on_floor(project_bones(motion, ref)), ref)[0]
    return plant_feet(motion, ref)[0]


def motion_vectors(model: DanceSearchModel, positions: np.ndarray, stride: int = 10) -> np.ndarray:
    """Shared-space vectors (N, D) of a canonical motion's windows."""
    return model.embed_windows(positions, window_starts(len(positions), model.window_size, stride))


def mean_vector(vectors: np.ndarray) -> np.ndarray:
    """The unit-length mean of unit vectors (N, D) -> (D,)."""
    m = np.asarray(vectors, np.float64).mean(0)
    return (m / max(float(np.linalg.norm(m)), 1e-9)).astype(np.float32)
