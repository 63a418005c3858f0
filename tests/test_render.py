"""Stick-figure rendering (PNG grid, GIF) and the ``dancesearch render`` command."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from motion.bvh_write import write_bvh
from motion.data import Motion, MotionError
from motion.render import render_gif, render_png
from tests.test_bvh import rigid_canonical_motion


def test_png_grid_and_gif(tmp_path: Path) -> None:
    motion = rigid_canonical_motion(30)
    png = render_png(motion, tmp_path / "m.png", n_frames=3, title="test")
    with Image.open(png) as image:
        assert image.format == "PNG" and image.width > 300 and image.height > 300
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3).astype(int)
    red = np.sum((pixels[:, 0] > 180) & (pixels[:, 2] < 90))
    blue = np.sum((pixels[:, 2] > 150) & (pixels[:, 0] < 90))
    assert red > 100 and blue > 100, "left and right sides must be drawn in their own colours"
    gif = render_gif(motion, tmp_path / "m.gif", fps=12.5)
    with Image.open(gif) as image:
        assert image.format == "GIF" and image.n_frames == 15


def test_render_refuses_non_canonical_motion(tmp_path: Path) -> None:
    with pytest.raises(MotionError, match="canonical"):
        render_png(Motion(np.zeros((1, 2, 3)), 25.0, ["a", "b"], [-1, 0]), tmp_path / "x.png")


def test_render_command(tmp_path: Path) -> None:
    from dancesearch.cli import app

    write_bvh(rigid_canonical_motion(10), tmp_path / "clip.bvh")
    (tmp_path / "broken.bvh").write_text("HIERARCHY\nROOT x\n")
    result = CliRunner().invoke(app, ["render", str(tmp_path / "clip.bvh"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "clip.png").is_file()
    result = CliRunner().invoke(app, ["render", str(tmp_path / "broken.bvh"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1 and "broken.bvh:" in result.output
