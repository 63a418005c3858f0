"""Stick-figure pictures of canonical motion, for checking mappings by eye and for documentation.

:func:`render_png` draws a few frames of a clip in two fixed world views: front (camera on +Z
looking at -Z, so +X is to the right) and side (camera on +X looking at -X, so -Z is to the right),
with the performer's left side in one colour and the right side in another. A performer who faces
+Z (toes pointing left in the side view) must show the left colour on the right of the front view.
:func:`render_gif` animates the front view. matplotlib (Agg, no display) and Pillow do the drawing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from motion.data import Motion, MotionError
from motion.skeleton import BONES, JOINTS

LEFT_COLOUR, RIGHT_COLOUR, CENTRE_COLOUR = "#d62728", "#1f77b4", "#444444"


def _bone_colour(child: int) -> str:
    name = JOINTS[child]
    return LEFT_COLOUR if name.startswith("l_") else RIGHT_COLOUR if name.startswith("r_") else CENTRE_COLOUR


def _check(motion: Motion) -> np.ndarray:
    if tuple(motion.joint_names) != JOINTS:
        raise MotionError("rendering needs a canonical motion (see motion.canonical.to_canonical)")
    return motion.positions.astype(np.float64)


def _draw(ax: object, frame: np.ndarray, axes: tuple[int, int], flip: bool, limits: np.ndarray) -> None:
    h, v = axes
    sign = -1.0 if flip else 1.0
    for child, parent in BONES:
        ax.plot([sign * frame[parent, h], sign * frame[child, h]],  # type: ignore[attr-defined]
                [frame[parent, v], frame[child, v]], color=_bone_colour(child), lw=2.2,
                solid_capstyle="round")
    ax.scatter(sign * frame[:, h], frame[:, v], s=6, color="black", zorder=3)  # type: ignore[attr-defined]
    ax.axhline(0.0, color="#999999", lw=0.8, ls="--")  # type: ignore[attr-defined]
    ax.set_xlim(*limits[0])  # type: ignore[attr-defined]
    ax.set_ylim(*limits[1])  # type: ignore[attr-defined]
    ax.set_aspect("equal")  # type: ignore[attr-defined]
    ax.tick_params(labelsize=6)  # type: ignore[attr-defined]


def _limits(frames: np.ndarray, h: int, flip: bool) -> np.ndarray:
    centre = frames[:, 0, h].mean() * (-1.0 if flip else 1.0)
    top = max(frames[..., 1].max(), 0.5)
    half = max(top, 1.0) * 0.6
    return np.array([[centre - half, centre + half], [min(frames[..., 1].min(), 0.0) - 0.05, top + 0.1]])


def render_png(motion: Motion, path: str | Path, n_frames: int = 6, title: str = "",
               frames: Sequence[int] | None = None) -> Path:
    """Save a grid of ``n_frames`` evenly spaced frames (or the given ``frames``): front row, side row."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    pos = _check(motion)
    picks = list(frames) if frames is not None else np.linspace(0, len(pos) - 1, n_frames).round().astype(int).tolist()
    fig, grid = plt.subplots(2, len(picks), figsize=(2.2 * len(picks), 5.6), squeeze=False)
    for col, f in enumerate(picks):
        for row, (axes, flip, label) in enumerate((((0, 1), False, "front: +X right"),
                                                  ((2, 1), True, "side: -Z right"))):
            ax = grid[row, col]
            _draw(ax, pos[f], axes, flip, _limits(pos[picks][None, col], axes[0], flip))
            ax.set_title(f"{label}\nframe {f} ({f / motion.fps:.1f} s)", fontsize=7)
    handles = [Line2D([], [], color=c, lw=3, label=n) for c, n in
               ((LEFT_COLOUR, "performer's left"), (RIGHT_COLOUR, "performer's right"), (CENTRE_COLOUR, "spine/head"))]
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle(title or str(motion.meta.get("rig", "")), fontsize=10)
    fig.tight_layout(rect=(0, 0.05, 1, 0.95))
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def render_gif(motion: Motion, path: str | Path, fps: float = 12.5, max_frames: int = 150) -> Path:
    """Save an animated GIF of the front view at ``fps`` (subsampled, at most ``max_frames`` frames)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    pos = _check(motion)
    step = max(1, round(motion.fps / fps))
    picks = np.arange(0, len(pos), step)[:max_frames]
    limits = _limits(pos[picks], 0, False)
    limits[0] = [pos[picks, :, 0].min() - 0.3, pos[picks, :, 0].max() + 0.3]
    images = []
    fig, ax = plt.subplots(figsize=(3.2, 3.6))
    for f in picks:
        ax.clear()
        _draw(ax, pos[f], (0, 1), False, limits)
        ax.set_title(f"front (+X right)  {f / motion.fps:.1f} s", fontsize=8)
        fig.canvas.draw()
        images.append(Image.fromarray(np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()))  # type: ignore[attr-defined]
    plt.close(fig)
    out = Path(path)
    images[0].save(out, save_all=True, append_images=images[1:], duration=int(1000 * step / motion.fps), loop=0)
    return out
