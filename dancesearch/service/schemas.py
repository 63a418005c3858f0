"""Request and response models of the HTTP API, one section per schema family.

Responses mirror the Engine's result dataclasses (:mod:`search.types`) and are built from them with
the ``from_*`` helpers, so handlers stay one line of engine call plus one of conversion.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from dancesearch.service.public import relative_source
from motion.data import Motion
from search.types import DescribeResponse, Filters, Hit, SearchResponse

GenerateMode = Literal["auto", "always", "never"]
SearchMode = Literal["hybrid", "motion", "keyword"]


# --- filters and search ---------------------------------------------------------------------------
class FiltersModel(BaseModel):
    """Metadata filters: source name, label key -> value (strings), clip duration bounds (seconds)."""

    source: str | None = Field(None, max_length=200)
    labels: dict[str, str] = Field(default_factory=dict)
    min_duration: float | None = Field(None, ge=0)
    max_duration: float | None = Field(None, ge=0)

    def to_filters(self) -> Filters:
        return Filters(source=self.source or None, labels=dict(self.labels),
                       min_duration=self.min_duration, max_duration=self.max_duration)


class TextSearchRequest(BaseModel):
    """Body of ``POST /api/search/text``; the same fields as the GET query parameters."""

    query: str
    k: int | None = Field(default=None, description="Results per page (default 10).")
    offset: int = Field(default=0, ge=0, le=1_000_000)
    filters: FiltersModel = Field(default_factory=lambda: FiltersModel.model_validate({}))
    cluster_filter: bool | None = None
    generate: GenerateMode = "auto"
    mode: SearchMode = "hybrid"


class HitModel(BaseModel):
    """One matching moment: a library clip and its best span (seconds), or a generated motion."""

    clip_id: int | None
    source_path: str | None = Field(description="The clip's file, relative to the folder it was ingested from "
                                                "(never a server path); None for a generated motion.")
    start: float
    end: float
    score: float
    labels: dict[str, Any]
    description: str | None
    cluster: int | None
    generated: bool = False
    generated_id: str | None = None
    motion_score: float | None = Field(None, description="Why it matched: the text -> motion cosine of the "
                                                           "best span (text search).")
    keyword_score: float | None = Field(None, description="Normalised BM25 score (0..1) of the clip's file, "
                                                            "folder, label and description words.")
    matched_terms: list[str] = Field(default_factory=list, description="The clip's metadata words that "
                                                                       "matched the query.")
    metadata_similarity: float | None = Field(None, description="Cosine between the query and the clip's "
                                                                  "metadata text (text encoder space).")
    motion_url: str = Field(description="Where to fetch the motion as JSON positions for playback.")


class SearchResponseModel(BaseModel):
    results: list[HitModel]
    query_cluster: int | None = None
    cluster_filter: bool = False
    generated_fallback: bool = False
    offset: int = 0
    k: int = 10
    mode: str = "motion"
    match: str | None = Field(
        None, description="Search by example only: 'similar' ranks by the learned space (movement that means "
                          "the same), 'same' puts the same movement first (another rig, body or dancer).")


def motion_url(clip_id: int | None, generated_id: str | None) -> str:
    """The JSON motion URL of a library clip or of a generated motion."""
    if generated_id is not None:
        return f"/api/generated/{generated_id}/motion?format=json"
    return f"/api/clips/{clip_id}/motion?format=json"


def from_hit(hit: Hit) -> HitModel:
    """The public form of a hit: ``source_path`` relative to the clip's ingest root."""
    fields = {k: v for k, v in dataclasses.asdict(hit).items() if k in HitModel.model_fields}
    fields["source_path"] = relative_source(hit.source_path, hit.source_root)
    return HitModel(**fields, motion_url=motion_url(hit.clip_id, hit.generated_id))


def from_search(resp: SearchResponse) -> SearchResponseModel:
    hits = [from_hit(h) for h in resp.results]
    return SearchResponseModel(results=hits, query_cluster=resp.query_cluster,
                               cluster_filter=resp.cluster_filter,
                               generated_fallback=resp.generated_fallback, offset=resp.offset, k=resp.k,
                               mode=resp.mode, match=resp.match)


# --- describe -------------------------------------------------------------------------------------
class DescriptionModel(BaseModel):
    text: str
    score: float
    cluster: int | None


class DescribeResponseModel(BaseModel):
    results: list[DescriptionModel]
    query_cluster: int | None = None
    cluster_filter: bool = False


def from_describe(resp: DescribeResponse) -> DescribeResponseModel:
    return DescribeResponseModel(**dataclasses.asdict(resp))


# --- generate -------------------------------------------------------------------------------------
class GenerateRequest(BaseModel):
    query: str
    seconds: float = Field(4.0, gt=0)
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Another seed draws another motion for the same text.")


class GenerateResponse(BaseModel):
    """A generated motion, kept by the engine and downloadable by id."""

    generated_id: str
    query: str
    fps: float
    n_frames: int
    duration: float
    motion_url: str
    bvh_url: str


def from_generated(generated_id: str, query: str, motion: Motion) -> GenerateResponse:
    return GenerateResponse(generated_id=generated_id, query=query, fps=float(motion.fps),
                            n_frames=motion.n_frames, duration=motion.duration,
                            motion_url=motion_url(None, generated_id),
                            bvh_url=f"/api/generated/{generated_id}/motion?format=bvh")


# --- clips and motion -----------------------------------------------------------------------------
class ClipInfoModel(BaseModel):
    """Metadata of a library clip (the engine may add fields; they are passed through)."""

    model_config = ConfigDict(extra="allow")

    id: int
    source: str | None = None
    source_path: str | None = Field(None, description="The clip's file, relative to the folder it was "
                                                      "ingested from (never a server path).")
    format: str | None = None
    rig: str | None = None
    fps: float | None = None
    duration: float | None = None
    labels: dict[str, Any] = Field(default_factory=dict)
    description: str | None = None
    split: Any = None


class ClipListModel(BaseModel):
    clips: list[ClipInfoModel]
    limit: int
    offset: int


class MotionPayload(BaseModel):
    """Canonical joint positions for playback: positions[frame][joint] = [x, y, z] in metres, Y up."""

    fps: float
    joint_names: list[str]
    parents: list[int]
    n_frames: int
    start: float = Field(description="Seconds into the clip of the first frame.")
    positions: list[list[list[float]]]


def motion_payload(motion: Motion, start: float | None) -> dict[str, Any]:
    """The JSON body of a motion download (positions rounded to 0.1 mm to keep it small)."""
    return {"fps": float(motion.fps), "joint_names": list(motion.joint_names),
            "parents": [int(p) for p in motion.parents], "n_frames": motion.n_frames,
            "start": float(start or 0.0),
            "positions": np.round(motion.positions.astype(np.float64), 4).tolist()}


# --- errors ---------------------------------------------------------------------------------------
class ErrorModel(BaseModel):
    """Every error response: a one-line message for the user (no stack trace, no server path)."""

    detail: str
    errors: list[dict[str, Any]] | None = Field(None, description="Request validation only: each problem "
                                                                  "found, with where it is.")


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorModel, "description": text} for code, text in (
        (400, "Unreadable input (the message names the file)"), (401, "Missing or wrong X-API-Key"),
        (403, "Write endpoints are disabled (no DANCESEARCH_API_KEY)"), (404, "No such clip or motion"),
        (413, "Upload larger than the limit"), (422, "Invalid request"), (500, "Internal error"),
        (503, "Search engine or model not available"))}
"""The error responses every router documents (FastAPI's default 422 schema is not what the service sends)."""


# --- admin ----------------------------------------------------------------------------------------
class HealthModel(BaseModel):
    status: Literal["ok"] = "ok"
    engine_loaded: bool


class OpenDict(BaseModel):
    """A free-form JSON object reported by the engine (status, ingest and reindex summaries)."""

    model_config = ConfigDict(extra="allow")


class SavedUpload(BaseModel):
    file: str = Field(description="The client's file name (text only, never used as a path).")
    saved_as: str = Field(description="The server-made name it was saved and ingested under.")


class IngestResponse(BaseModel):
    saved: list[SavedUpload]
    summary: dict[str, Any] = Field(description="The engine's ingest summary (errors name saved files).")
