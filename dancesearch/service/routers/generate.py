"""Generation endpoints: text -> new motion, and download of a generated motion by id."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Response, status

from dancesearch.service.deps import EngineDep, SettingsDep, check_query
from dancesearch.service.downloads import MotionFormat, motion_response
from dancesearch.service.schemas import GenerateRequest, GenerateResponse, MotionPayload, from_generated

router = APIRouter(prefix="/api", tags=["generate"])

GENERATED_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@router.post("/generate", response_model=GenerateResponse)
def generate(engine: EngineDep, settings: SettingsDep, body: GenerateRequest) -> GenerateResponse:
    """Synthesize a motion for a text; it is kept and can be downloaded by its id."""
    if body.seconds > settings.max_generate_seconds:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"seconds must be at most {settings.max_generate_seconds:g}, got {body.seconds:g}")
    query = check_query(body.query, settings)
    generated_id, motion = engine.generate(query, body.seconds, body.seed)
    return from_generated(generated_id, query, motion)


@router.get("/generated/{generated_id}/motion", response_model=MotionPayload,
            responses={200: {"content": {"application/octet-stream": {}},
                             "description": "JSON positions, or a BVH file with format=bvh"}})
def generated_motion(engine: EngineDep,
                     generated_id: Annotated[str, Path(pattern=GENERATED_ID.pattern)],
                     format: MotionFormat = "json") -> Response:
    """A previously generated motion as JSON positions or BVH."""
    motion = engine.generated_motion(generated_id)
    return motion_response(motion, format, f"generated-{generated_id}")
