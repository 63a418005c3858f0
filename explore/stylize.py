"""Style transfer: keep what a motion does, change how (Lang2Motion), in the latent or on the joints.

Latent methods encode the motion's windows to VAE latents, move them and decode: "data" adds ``strength``
times the mean latent of the style's ``train`` windows minus the mean over all styled ``train`` windows (or
minus the source style's mean when the caller knows it); "adain" re-normalises each latent dimension from
the source style's train mean and spread to the target's (AdaIN, with the source style predicted by a
classifier on train latents when not given), ``strength`` interpolating towards that; "text" moves along
words: the stage-3 projector's latent of ``"a {style} person"`` minus that of ``"a person"``; "prior" edits
each latent with the model's latent prior (SDEdit: ``strength`` in [0, 1] of the way back to noise, then the
flow to ``"a {style} person"``). Decoded latents lose detail; ``residual`` adds only the change they make to
the clip's own windows instead.

"pose" works on the joints: each frame's pose in the body's own frame (pelvis over the origin, facing +Z)
keeps its timing and gets the target style's posture and amplitude, ``pose + strength * (target mean -
source mean)`` around the clip's own mean and its deviations scaled by ``(target spread / source spread)
** strength`` (bounded to :data:`POSE_RATIO`), from train-split statistics per style (the source style
predicted from the clip's own statistics unless given); posture and amplitude carry much of a style (a
bent back, wide arms, small steps), and nothing passes through the decoder.

"data", "adain" and "pose" need a style the corpus labels; any other style goes by words ("text" or
"prior", whichever did better on val). The method, its strength and ``residual`` were chosen on ``val``
(``capabilities.json``). The result keeps the clip's bone lengths and plants its feet.
"""

from __future__ import annotations

import numpy as np
import torch

from embedders.runtime import DanceSearchModel
from explore.body import bone_lengths, plant_feet
from explore.latent import (
    assemble,
    chain_stride,
    clip_starts,
    decode_windows,
    encode_clip,
    encode_texts,
    own_windows,
)
from explore.settings import CapabilitySettings
from motion.skeleton import JOINT_INDEX
from motion.windows import facing_angles, rotation_y

MAX_WINDOWS = 64
"""Longer motions (about 100 s) are refused: stylize a range of them."""
NEUTRAL = "a person"
PRIOR_GUIDANCE = 2.0
"""Classifier-free guidance of the "prior" method's edit (fixed, not tuned; the strength grid is chosen on val)."""
STYLE_PROMPT = "a {} person"


class StyleError(ValueError):
    """The style cannot be used (empty text, unknown source style)."""


def known_styles(settings: CapabilitySettings) -> list[str]:
    """Styles with a data direction (the corpus' style labels seen in ``train``)."""
    return sorted(settings.style_means)


@torch.no_grad()
def text_direction(model: DanceSearchModel, style: str) -> torch.Tensor:
    """Latent direction (L,) from the words: projector("a {style} person") - projector("a person")."""
    e = model.minilm([STYLE_PROMPT.format(style.replace("-", " ")), NEUTRAL])
    z = encode_texts(model, e)
    return z[0] - z[1]


def data_direction(style: str, settings: CapabilitySettings, source_style: str | None = None) -> torch.Tensor:
    """Latent direction (L,) from train-split style means (minus the source style's mean, if given)."""
    if style not in settings.style_means:
        raise StyleError(f"no train-split mean for style {style!r}; known: {', '.join(known_styles(settings))}")
    target = torch.tensor(settings.style_means[style])
    if source_style is not None:
        if source_style not in settings.style_means:
            raise StyleError(f"unknown source style {source_style!r}; known: {', '.join(known_styles(settings))}")
        return target - torch.tensor(settings.style_means[source_style])
    return target - torch.tensor(settings.style_global)


METHODS = ("data", "adain", "text", "prior", "pose")
POSE_RATIO = (0.25, 4.0)
"""Bounds of the pose method's amplitude factor ((target spread / source spread) ** strength) per joint
coordinate: a joint that barely moves in the source style would otherwise have its jitter magnified."""
_PELVIS = JOINT_INDEX["pelvis"]


def _ground(positions: np.ndarray) -> np.ndarray:
    """The pelvis's point on the floor per frame (T, 1, 3), float64."""
    return np.asarray(positions, dtype=np.float64)[:, _PELVIS:_PELVIS + 1] * np.array([1.0, 0.0, 1.0])


def body_pose(positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each frame's joints (T, J, 3) relative to the pelvis's floor point, turned to face +Z (the pelvis
    height stays, so a crouch shows), and the frames' headings (T,) to turn them back."""
    pos = np.asarray(positions, dtype=np.float64)
    heading = np.unwrap(facing_angles(pos))
    return np.einsum("tij,tkj->tki", rotation_y(-heading), pos - _ground(pos)), heading


def _statistics(pose: np.ndarray) -> np.ndarray:
    return np.stack([pose.mean(0), pose.std(0)])


def pose_statistics(positions: np.ndarray) -> np.ndarray:
    """Mean and spread over time of the body-frame pose (2, J, 3): the posture and amplitude of a motion."""
    return _statistics(body_pose(positions)[0])


def predict_pose_style(stats: np.ndarray, settings: CapabilitySettings) -> str | None:
    """A motion's style from its :func:`pose_statistics` by the stored train-split classifier (None if none)."""
    c = settings.style_pose_classifier
    if not c:
        return None
    logits = np.asarray(c["coef"]) @ stats.ravel() + np.asarray(c["intercept"])
    return str(c["classes"][int(np.argmax(logits))])


def pose_transfer(positions: np.ndarray, style: str, strength: float, settings: CapabilitySettings,
                  source_style: str | None) -> tuple[np.ndarray, str]:
    """The motion (T, J, 3) with the target style's posture and amplitude (see the module docstring),
    before bone projection and foot planting; and the source style used (given or predicted)."""
    pose, heading = body_pose(positions)
    stats = _statistics(pose)
    src = source_style or predict_pose_style(stats, settings)
    if src is None or src not in settings.style_pose or style not in settings.style_pose:
        raise StyleError(f"no train-split pose statistics for {src!r} -> {style!r}")
    source = np.asarray(settings.style_pose[src]).reshape(stats.shape)
    target = np.asarray(settings.style_pose[style]).reshape(stats.shape)
    ratio = np.clip((target[1] / np.maximum(source[1], 1e-3)) ** strength, *POSE_RATIO)
    moved = stats[0] + strength * (target[0] - source[0]) + (pose - stats[0]) * ratio
    return (np.einsum("tij,tkj->tki", rotation_y(heading), moved) + _ground(positions)).astype(np.float32), src


def predict_style(z: torch.Tensor, settings: CapabilitySettings) -> str | None:
    """The source style of windows' latents (N, L) by the stored train-split classifier (None if none)."""
    c = settings.style_classifier
    if not c:
        return None
    logits = z @ torch.tensor(c["coef"]).T + torch.tensor(c["intercept"])
    return str(c["classes"][int(torch.softmax(logits, -1).mean(0).argmax())])


def adain(z: torch.Tensor, style: str, settings: CapabilitySettings, source_style: str | None) -> torch.Tensor:
    """Latents re-normalised from the source style's per-dimension mean and spread to the target's
    (AdaIN in the VAE latent); the source style is predicted when not given."""
    src = source_style or predict_style(z, settings)
    if src is None or src not in settings.style_stds or style not in settings.style_stds:
        raise StyleError(f"no train-split statistics for {src!r} -> {style!r}")
    mean_s, mean_t = torch.tensor(settings.style_means[src]), torch.tensor(settings.style_means[style])
    std_s = torch.tensor(settings.style_stds[src]).clamp(min=1e-3)
    return (z - mean_s) / std_s * torch.tensor(settings.style_stds[style]) + mean_t


def check_method(style: str, settings: CapabilitySettings, method: str | None) -> str:
    """The method to use: the requested or calibrated one; for a style the corpus does not label, the
    words method that did better on val (``style_words_method``: "text" or "prior") instead of "data",
    "adain" or "pose"."""
    if not style.strip():
        raise StyleError("the style is empty")
    chosen = method or settings.style_method
    if chosen not in METHODS:
        raise StyleError(f"method must be one of {', '.join(METHODS)}, got {chosen!r}")
    labelled = (style.strip() in settings.style_pose and bool(settings.style_pose_classifier) if chosen == "pose"
                else style.strip() in settings.style_means)
    if chosen in ("data", "adain", "pose") and not labelled:
        return settings.style_words_method if settings.style_words_method in ("text", "prior") else "text"
    return chosen


def method_defaults(settings: CapabilitySettings, method: str) -> tuple[float, bool]:
    """(strength, residual) for ``method`` when the caller gives none: the calibrated ones for the
    calibrated method, else that method's best on val (``style_best``), else the calibrated ones."""
    best = settings.style_best.get(method) if method != settings.style_method else None
    if best:
        return float(best["strength"]), bool(best["residual"])
    return settings.style_strength, settings.style_residual


@torch.no_grad()
def moved_latents(model: DanceSearchModel, z: torch.Tensor, style: str, strength: float,
                  settings: CapabilitySettings, method: str, source_style: str | None) -> torch.Tensor:
    """The clip's latents (N, L) moved towards ``style`` by ``strength`` with ``method``."""
    if method == "adain":
        return z + strength * (adain(z, style, settings, source_style) - z)
    if method == "prior":
        if model.latent_prior is None:
            raise StyleError("this model has no latent prior; use --method data, adain or text")
        e = model.minilm([STYLE_PROMPT.format(style.replace("-", " "))]).expand(len(z), -1)
        return model.latent_prior.edit(z, e, strength, PRIOR_GUIDANCE, generator=torch.Generator().manual_seed(0))
    direction = data_direction(style, settings, source_style) if method == "data" else text_direction(model, style)
    return z + strength * direction


@torch.no_grad()
def stylize_windows(model: DanceSearchModel, positions: np.ndarray, style: str, strength: float,
                    settings: CapabilitySettings, method: str, source_style: str | None = None,
                    residual: bool = False) -> np.ndarray:
    """Decoded windows (N, S, J, 3) of the clip's moved latents.

    ``residual``: the clip's own windows plus what the move changes in the decoder's output
    (decode(z') - decode(z)), which keeps the detail the VAE cannot reconstruct."""
    starts = clip_starts(model, len(positions), MAX_WINDOWS)
    z = encode_clip(model, positions, starts)
    moved = decode_windows(model, moved_latents(model, z, style, strength, settings, method, source_style))
    if not residual:
        return moved
    return own_windows(model, positions, starts) + (moved - decode_windows(model, z))


def stylize(model: DanceSearchModel, positions: np.ndarray, style: str, strength: float | None = None,
            settings: CapabilitySettings | None = None, method: str | None = None,
            source_style: str | None = None, residual: bool | None = None,
            clean: bool = True) -> tuple[np.ndarray, dict[str, object]]:
    """The canonical motion (T, J, 3) restyled, and what was done (style, method, strength, residual,
    the source style given or predicted)."""
    s = settings or CapabilitySettings()
    style = style.strip()
    used = check_method(style, s, method)
    if used == "prior" and model.latent_prior is None and method != "prior":
        used = "text"  # a words fallback on a model without a latent prior
    default_k, default_res = method_defaults(s, used)
    k = default_k if strength is None else float(strength)
    if not -8.0 <= k <= 8.0:
        raise StyleError(f"strength must be between -8 and 8, got {k}")
    limit = (MAX_WINDOWS - 1) * chain_stride(model) + model.window_size
    if len(positions) > limit:
        raise StyleError(f"the motion lasts {len(positions) / 25:.0f} s; stylize at most {limit / 25:.0f} s "
                         "at a time (give a range, e.g. FILE@0-60)")
    if used == "prior" and not 0.0 <= k <= 1.0:
        raise StyleError(f"strength must be between 0 and 1 with the prior method (the share of the latent "
                         f"re-drawn), got {k}")
    if source_style is not None and source_style not in s.style_means:
        raise StyleError(f"unknown source style {source_style!r}; known: {', '.join(known_styles(s))}")
    res = default_res if residual is None else residual
    if used == "pose":
        moved, source_style = pose_transfer(positions, style, k, s, source_style)
        out = plant_feet(moved, bone_lengths(positions))[0] if clean else moved
        return out, {"style": style, "method": used, "strength": k, "source_style": source_style, "residual": False}
    windows = stylize_windows(model, positions, style, k, s, used, source_style, res)
    out = assemble(windows, bone_lengths(positions), clean=clean)[: len(positions)]
    if used == "adain" and source_style is None:
        z = encode_clip(model, positions, clip_starts(model, len(positions), MAX_WINDOWS))
        source_style = predict_style(z, s)
    return out, {"style": style, "method": used, "strength": k, "source_style": source_style, "residual": res}
