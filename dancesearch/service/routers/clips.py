"""Clip endpoints: list, metadata, motion download, delete (write)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from dancesearch.service.deps import EngineDep, FiltersDep, RangeDep, WriteAccess
from dancesearch.service.downloads import MotionFormat, clip_stem, motion_response
from dancesearch.service.public import public_clip
from dancesearch.service.schemas import ClipInfoModel, ClipListModel, MotionPayload

router = APIRouter(prefix="/api/clips", tags=["clips"])


@router.get("", response_model=ClipListModel)
def list_clips(engine: EngineDep, filters: FiltersDep,
               limit: Annotated[int, Query(ge=1, le=500)] = 50,
               offset: Annotated[int, Query(ge=0)] = 0) -> dict[str, Any]:
    """Clips of the library, newest first, with paging and filters."""
    return {"clips": [public_clip(c) for c in engine.list_clips(limit, offset, filters)], "limit": limit,
            "offset": offset}


@router.get("/{clip_id}", response_model=ClipInfoModel)
def clip_info(engine: EngineDep, clip_id: int) -> dict[str, Any]:
    """Metadata of one clip."""
    return public_clip(engine.clip_info(clip_id))


@router.get("/{clip_id}/motion", response_model=MotionPayload,
            responses={200: {"content": {"application/octet-stream": {}},
                             "description": "JSON positions, or a BVH file with format=bvh"}})
def clip_motion(engine: EngineDep, clip_id: int, span: RangeDep, format: MotionFormat = "json") -> Response:
    """The canonical motion of a clip (or a time range of it) as JSON positions or BVH."""
    motion = engine.clip_motion(clip_id, span.start, span.end)
    return motion_response(motion, format, clip_stem(clip_id, span.start, span.end), span.start)


@router.delete("/{clip_id}", status_code=status.HTTP_204_NO_CONTENT, dependencies=[WriteAccess])
def delete_clip(engine: EngineDep, clip_id: int) -> Response:
    """Remove a clip, its windows and their index entries (needs the API key)."""
    engine.delete_clip(clip_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
