"""``dancesearch render``: draw motion files as stick figures (PNG grid, optional GIF).

Any supported motion file is loaded, mapped onto the canonical skeleton and drawn with the
performer's left and right in different colours - the quickest way to check a new rig mapping.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from dancesearch.options import DataDirOpt

log = logging.getLogger(__name__)


def render(
    files: Annotated[list[Path], typer.Argument(help="Motion files (.bvh, .npz, skeletons .json; optionally .gz).")],
    out: Annotated[Path, typer.Option("--out", help="Directory for the pictures (created if missing).")],
    gif: Annotated[bool, typer.Option("--gif", help="Also write an animated GIF of each file.")] = False,
    frames: Annotated[int, typer.Option("--frames", min=1, max=24, help="Frames in the PNG grid.")] = 6,
    rigs: Annotated[Path | None, typer.Option("--rigs", help="Extra directory of rig TOML files.")] = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Write OUT/<name>.png (front and side views of a few frames) for every FILE."""
    from motion.canonical import to_canonical
    from motion.data import MotionError
    from motion.formats import load_motion
    from motion.render import render_gif, render_png
    from motion.rigmap import load_rigs

    out.mkdir(parents=True, exist_ok=True)
    from db.config import user_rig_dirs

    rig_list = load_rigs(user_rig_dirs(data_dir, (rigs,) if rigs else ()))
    failures = 0
    for path in files:
        stem = path.parent.name if path.name.startswith("skeletons.") else path.name.split(".")[0]
        try:
            motion = to_canonical(load_motion(path), rig_list)
        except MotionError as exc:
            typer.echo(f"error: {exc}" if str(path) in str(exc) else f"error: {path}: {exc}", err=True)
            failures += 1
            continue
        title = f"{path.name} - rig {motion.meta['rig']}"
        typer.echo(render_png(motion, out / f"{stem}.png", n_frames=frames, title=title))
        if gif:
            typer.echo(render_gif(motion, out / f"{stem}.gif"))
    if failures:
        raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    """Attach ``render`` to the top-level app."""
    app.command("render")(render)
