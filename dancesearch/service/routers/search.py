"""Search endpoints: text -> motion, uploaded example -> motion, library clip -> motion."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Query, UploadFile

from dancesearch.service.deps import (
    EngineDep,
    FiltersDep,
    PageDep,
    RangeDep,
    SettingsDep,
    check_query,
    parse_upload,
    resolve_k,
)
from dancesearch.service.schemas import (
    GenerateMode,
    SearchMode,
    SearchResponseModel,
    TextSearchRequest,
    from_search,
)

router = APIRouter(prefix="/api/search", tags=["search"])

ClusterFilterQ = Annotated[bool | None, Query(description="Keep only results of the query's semantic "
                                                          "cluster (default: the model's setting).")]
MatchQ = Annotated[Literal["similar", "same"], Query(
    description="similar: movement that means the same (the learned space); same: the same movement first, "
                "on another rig, body or dancer (poses re-rank the learned candidates).")]


@router.get("/text", response_model=SearchResponseModel)
def search_text_get(engine: EngineDep, settings: SettingsDep, page: PageDep, filters: FiltersDep,
                    query: Annotated[str, Query(description="What to look for, in words.")],
                    cluster_filter: ClusterFilterQ = None, generate: GenerateMode = "auto",
                    mode: Annotated[SearchMode, Query(description="hybrid: motion fused with the clips' names, "
                                                                  "labels and descriptions; motion: the motion "
                                                                  "alone; keyword: metadata words only.")]
                    = "hybrid") -> SearchResponseModel:
    """Text -> motion: the best-matching moments of the library; each hit says why it matched."""
    return from_search(engine.search_text(check_query(query, settings), page.k, page.offset, filters,
                                          cluster_filter, generate, mode))


@router.post("/text", response_model=SearchResponseModel)
def search_text_post(engine: EngineDep, settings: SettingsDep, body: TextSearchRequest) -> SearchResponseModel:
    """Text -> motion with a JSON body (the same fields as the GET form)."""
    return from_search(engine.search_text(check_query(body.query, settings), resolve_k(body.k, settings),
                                          body.offset, body.filters.to_filters(), body.cluster_filter,
                                          body.generate, body.mode))


@router.post("/clip", response_model=SearchResponseModel)
def search_upload(engine: EngineDep, settings: SettingsDep, page: PageDep, filters: FiltersDep, span: RangeDep,
                  file: Annotated[UploadFile, File(description="BVH, ballroom JSON or .npz positions, "
                                                               "optionally .gz")],
                  cluster_filter: ClusterFilterQ = None, match: MatchQ = "similar") -> SearchResponseModel:
    """Motion -> motion by an uploaded example clip (parsed in memory), optionally a time range."""
    motion = parse_upload(file, settings)
    return from_search(engine.search_motion(motion, span.start, span.end, page.k, page.offset, filters,
                                            cluster_filter, match=match))


@router.get("/clip/{clip_id}", response_model=SearchResponseModel)
def search_library_clip(engine: EngineDep, clip_id: int, page: PageDep, filters: FiltersDep, span: RangeDep,
                        cluster_filter: ClusterFilterQ = None, match: MatchQ = "similar") -> SearchResponseModel:
    """Motion -> motion by a library clip and time range; the clip itself is excluded."""
    return from_search(engine.search_clip(clip_id, span.start, span.end, page.k, page.offset, filters,
                                          cluster_filter, match=match))
