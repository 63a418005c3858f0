"""Loss functions of the seven stages; each returns a dict of named terms (TMR style).

A trainer combines the terms with a dict of weights (:func:`combine`) and logs every term, so loss
curves show each part separately. Mining helpers (:func:`hardest_pairs`, :func:`negative_mask`) are
separate functions so tests can check on hand-made cases which pairs they pick.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

Losses = dict[str, torch.Tensor]


def combine(losses: Losses, weights: dict[str, float]) -> torch.Tensor:
    """Weighted sum of the terms named in `weights` (a term missing from `losses` is an error)."""
    missing = set(weights) - set(losses)
    if missing:
        raise KeyError(f"loss terms {sorted(missing)} not computed; have {sorted(losses)}")
    return sum((losses[k] * w for k, w in weights.items()), torch.zeros((), device=_device(losses)))


def _device(losses: Losses) -> torch.device:
    return next(iter(losses.values())).device if losses else torch.device("cpu")


def kl_beta(step: int, total_steps: int, start: float = 0.01, end: float = 0.2,
            warm_fraction: float = 0.4) -> float:
    """KL weight: linear from `start` to `end` over the first `warm_fraction` of training, then `end`."""
    warm = max(1.0, warm_fraction * total_steps)
    return start + (end - start) * min(1.0, step / warm)


def velocity(x: torch.Tensor) -> torch.Tensor:
    """Frame-to-frame differences (B, S-1, F) of windows (B, S, F)."""
    return x[:, 1:] - x[:, :-1]


def vae_losses(recon: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> Losses:
    """Reconstruction MSE and L1, velocity MSE, and KL to N(0, I), every term a mean over its elements.

    The KL is averaged over latent dimensions too (not summed): with per-element reconstruction means,
    a summed KL outweighs reconstruction by the latent size and the posterior collapses.
    """
    kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).mean()
    return {"mse": F.mse_loss(recon, x), "l1": F.l1_loss(recon, x),
            "velocity": F.mse_loss(velocity(recon), velocity(x)), "kl": kl}


def detail_energy(x: torch.Tensor) -> torch.Tensor:
    """Root-mean-square acceleration (B, F) of each feature of windows (B, S, F) over time."""
    acc = velocity(velocity(x))
    return acc.pow(2).mean(dim=1).add(1e-8).sqrt()


def foot_slide(pred: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, feet: tuple[tuple[int, int], ...],
               fps: float = 25.0, ankle_height: float = 0.12, toe_height: float = 0.09) -> torch.Tensor:
    """Mean squared horizontal speed (m/s) of feet that are on the floor in the predicted windows.

    ``pred`` (B, S, J*3) are normalised features (``* std + mean``: metres in the window's frame, y up,
    the floor at 0); ``feet`` holds (ankle, toe) joint indices. A foot counts as on the floor where its
    ankle is below ``ankle_height`` or its toe below ``toe_height`` (the clean-up's contact heights);
    that mask is not differentiated, so the term asks a low foot to stand still (or to lift), not to sink.
    """
    pos = (pred * std + mean).reshape(pred.shape[0], pred.shape[1], -1, 3)
    terms = []
    for ankle, toe in feet:
        speed2 = (pos[:, 1:, ankle, [0, 2]] - pos[:, :-1, ankle, [0, 2]]).pow(2).sum(-1) * fps ** 2
        low = ((pos[:, 1:, ankle, 1] < ankle_height) | (pos[:, 1:, toe, 1] < toe_height)).detach()
        terms.append((speed2 * low).mean())
    return torch.stack(terms).mean()


def pose_losses(pred: torch.Tensor, x: torch.Tensor) -> Losses:
    """Generator terms: pose MSE, velocity MSE and detail: the mean absolute difference of each feature's
    RMS acceleration (:func:`detail_energy`). A mean-squared error on the acceleration itself pulls an
    uncertain acceleration to zero (over-smooth motion, docs/experiments.md); matching its magnitude
    asks for as much fast detail as the captured window has, whatever its phase."""
    return {"pose": F.mse_loss(pred, x), "velocity": F.mse_loss(velocity(pred), velocity(x)),
            "detail": F.l1_loss(detail_energy(pred), detail_energy(x))}


def alignment_losses(pred: torch.Tensor, target: torch.Tensor) -> Losses:
    """Stage 3 terms: mean (1 - cosine) and MSE between predicted and target latents."""
    return {"cosine": (1 - F.cosine_similarity(pred, target, dim=-1)).mean(), "mse": F.mse_loss(pred, target)}


def hardest_pairs(anchor: torch.Tensor, other: torch.Tensor, labels_a: torch.Tensor,
                  labels_o: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Batch-hard mining by Euclidean distance from each anchor (A, D) to `other` (O, D).

    Returns (positive index, negative index, positive distance, negative distance), each (A,): the
    farthest `other` sharing the anchor's label and the nearest one with a different label. An anchor
    without any positive or any negative gets distance NaN (see :func:`batch_hard_triplet`).
    """
    dist = torch.cdist(anchor.float(), other.float())
    same = labels_a.view(-1, 1) == labels_o.view(1, -1)
    d_pos, i_pos = dist.masked_fill(~same, float("-inf")).max(dim=1)
    d_neg, i_neg = dist.masked_fill(same, float("inf")).min(dim=1)
    d_pos = torch.where(same.any(1), d_pos, torch.full_like(d_pos, float("nan")))
    d_neg = torch.where((~same).any(1), d_neg, torch.full_like(d_neg, float("nan")))
    return i_pos, i_neg, d_pos, d_neg


def batch_hard_triplet(anchor: torch.Tensor, other: torch.Tensor, labels_a: torch.Tensor,
                       labels_o: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """Mean hinge max(0, d(a, hardest +) - d(a, hardest -) + margin) over anchors that have both."""
    _, _, d_pos, d_neg = hardest_pairs(anchor, other, labels_a, labels_o)
    valid = ~(d_pos.isnan() | d_neg.isnan())
    if not valid.any():
        return anchor.sum() * 0.0
    return F.relu(d_pos[valid] - d_neg[valid] + margin).mean()


def triplet_losses(dance: torch.Tensor, text: torch.Tensor, dance_clusters: torch.Tensor,
                   text_clusters: torch.Tensor, margin: float = 1.0) -> Losses:
    """Stage 4 terms: cluster-aware batch-hard triplets with dance anchors and with text anchors.

    Dances carry their window's cluster, texts their caption's cluster (see
    :func:`training.clustering.caption_clusters`).
    """
    return {"dance_anchor": batch_hard_triplet(dance, text, dance_clusters, text_clusters, margin),
            "text_anchor": batch_hard_triplet(text, dance, text_clusters, dance_clusters, margin)}


def negative_mask(groups: torch.Tensor, captions: torch.Tensor | None = None) -> torch.Tensor:
    """(B, B) bool: True where pair (i, j) may serve as a negative (different group and caption, i != j)."""
    ok = groups.view(-1, 1) != groups.view(1, -1)
    if captions is not None:
        ok &= captions.view(-1, 1) != captions.view(1, -1)
    return ok & ~torch.eye(len(groups), dtype=torch.bool, device=groups.device)


def infonce_losses(motion: torch.Tensor, text: torch.Tensor, temperature: float, groups: torch.Tensor,
                   captions: torch.Tensor | None = None) -> Losses:
    """Stage 7 terms: symmetric InfoNCE on unit vectors (B, D); pairs (i, i) match, masked negatives dropped."""
    logits = motion @ text.T / temperature
    keep = negative_mask(groups, captions) | torch.eye(len(groups), dtype=torch.bool, device=logits.device)
    logits = logits.masked_fill(~keep, float("-inf"))
    target = torch.arange(len(groups), device=logits.device)
    return {"motion_to_text": F.cross_entropy(logits, target), "text_to_motion": F.cross_entropy(logits.T, target)}


def instance_infonce(view_a: torch.Tensor, view_b: torch.Tensor, temperature: float) -> torch.Tensor:
    """Symmetric InfoNCE between two augmented views of the same windows (B, D unit vectors): each
    window must find its own other view among the batch (instance discrimination, SimCLR-style)."""
    logits = view_a @ view_b.T / temperature
    target = torch.arange(len(view_a), device=logits.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def grouped_motion_infonce(view_a: torch.Tensor, view_b: torch.Tensor, groups: torch.Tensor,
                           temperature: float) -> torch.Tensor:
    """Supervised InfoNCE between two augmented views (B, D unit vectors) with several positives per
    anchor: its own other view and every window of the same group (same content and style, genre or
    description); windows without labels have a group of their own, so only their other view counts."""
    same = groups.view(-1, 1) == groups.view(1, -1)

    def one_way(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        log_prob = F.log_softmax(a @ b.T / temperature, dim=1)
        return (-(log_prob * same).sum(1) / same.sum(1)).mean()

    return (one_way(view_a, view_b) + one_way(view_b, view_a)) / 2


def cosine_embedding_losses(pred: torch.Tensor, target: torch.Tensor, groups: torch.Tensor,
                            captions: torch.Tensor | None = None, margin: float = 0.2) -> Losses:
    """Stage 5 terms: pull (1 - cos) for matching pairs; push the hardest valid negative below `margin`."""
    sims = F.normalize(pred, dim=-1) @ F.normalize(target, dim=-1).T
    pos = 1 - sims.diagonal()
    neg_sims = sims.masked_fill(~negative_mask(groups, captions), float("-inf")).max(dim=1).values
    valid = neg_sims > float("-inf")
    neg = F.relu(neg_sims[valid] - margin).mean() if valid.any() else sims.sum() * 0.0
    return {"positive": pos.mean(), "negative": neg}
