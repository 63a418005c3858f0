"""Motion downloads: canonical motion -> JSON positions (for the player) or BVH (for other tools).

BVH is made in memory by :func:`motion.bvh_write.bvh_text` (the text :func:`motion.bvh.write_bvh`
writes); download names are built by the server from ids and times.
"""

from __future__ import annotations

from typing import Literal

from fastapi.responses import JSONResponse, Response

from dancesearch.service.schemas import motion_payload
from motion.data import Motion

MotionFormat = Literal["json", "bvh"]


def motion_bvh_text(motion: Motion) -> bytes:
    """The BVH file of a canonical motion, as bytes."""
    from motion.bvh_write import bvh_text

    return bvh_text(motion).encode("utf-8")


def motion_response(motion: Motion, fmt: MotionFormat, stem: str, start: float | None = None) -> Response:
    """`motion` as a download named ``{stem}.{fmt}`` (stem is built by the server from ids and times)."""
    if fmt == "bvh":
        return Response(motion_bvh_text(motion), media_type="application/octet-stream",
                        headers={"Content-Disposition": f'attachment; filename="{stem}.bvh"'})
    return JSONResponse(motion_payload(motion, start),
                        headers={"Content-Disposition": f'inline; filename="{stem}.json"'})


def clip_stem(clip_id: int, start: float | None, end: float | None) -> str:
    """``clip-12`` or ``clip-12_1.50-4.00s`` for a time range."""
    if start is None and end is None:
        return f"clip-{clip_id}"
    return f"clip-{clip_id}_{start or 0:.2f}-{'end' if end is None else f'{end:.2f}'}s"
