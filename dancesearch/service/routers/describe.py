"""Describe endpoints: motion -> text, for an uploaded file or a library clip."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile

from dancesearch.service.deps import EngineDep, RangeDep, SettingsDep, check_k, parse_upload
from dancesearch.service.schemas import DescribeResponseModel, from_describe

router = APIRouter(prefix="/api/describe", tags=["describe"])

KQ = Annotated[int, Query(description="How many descriptions.")]
ClusterFilterQ = Annotated[bool | None, Query(description="Keep only descriptions of the motion's cluster.")]


@router.post("", response_model=DescribeResponseModel)
def describe_upload(engine: EngineDep, settings: SettingsDep, span: RangeDep,
                    file: Annotated[UploadFile, File(description="BVH, ballroom JSON or .npz, optionally .gz")],
                    k: KQ = 5, cluster_filter: ClusterFilterQ = None) -> DescribeResponseModel:
    """The best descriptions of an uploaded motion (parsed in memory)."""
    motion = parse_upload(file, settings)
    return from_describe(engine.describe(motion, span.start, span.end, check_k(k, settings), cluster_filter))


@router.get("/{clip_id}", response_model=DescribeResponseModel)
def describe_library_clip(engine: EngineDep, settings: SettingsDep, clip_id: int, span: RangeDep,
                          k: KQ = 5, cluster_filter: ClusterFilterQ = None) -> DescribeResponseModel:
    """The best descriptions of a library clip or a time range of it."""
    return from_describe(engine.describe_clip(clip_id, span.start, span.end, check_k(k, settings),
                                              cluster_filter))
