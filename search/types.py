"""Plain result types of the search Engine, shared by the CLI, the HTTP service and the benchmarks.

The Engine returns these dataclasses; transports convert them (``dataclasses.asdict``) to JSON or to
their own pydantic response models. Times are seconds from the start of the clip.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Filters:
    """Metadata filters applied to candidate clips before ranking.

    source: a source name (e.g. "ballroom"); labels: label key -> required value, compared as strings
    (``{"genre": "waltz"}``); min_duration / max_duration: clip duration bounds in seconds.
    """

    source: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    min_duration: float | None = None
    max_duration: float | None = None

    def is_empty(self) -> bool:
        return not (self.source or self.labels or self.min_duration is not None or self.max_duration is not None)


@dataclass(frozen=True)
class Hit:
    """One matching moment: a library clip and its best-matching span, or a generated motion."""

    clip_id: int | None
    source_path: str | None
    start: float
    end: float
    score: float
    labels: dict[str, Any]
    description: str | None
    cluster: int | None
    generated: bool = False
    generated_id: str | None = None  # set when generated: id to download the motion
    # Why it matched (text search): the motion score (best-span cosine), the normalised BM25 score of the
    # clip's metadata words and the words that matched, the cosine between the query and the metadata text.
    motion_score: float | None = None
    keyword_score: float | None = None
    matched_terms: list[str] = field(default_factory=list)
    metadata_similarity: float | None = None
    # The folder the clip was ingested from: transports show ``source_path`` relative to it (the HTTP
    # service never returns the server's absolute paths); None for generated motions.
    source_root: str | None = None


@dataclass(frozen=True)
class SearchResponse:
    """Ranked hits for one query page, plus what the engine did to answer it."""

    results: list[Hit]
    query_cluster: int | None = None
    cluster_filter: bool = False
    generated_fallback: bool = False
    offset: int = 0
    k: int = 10
    mode: str = "motion"
    match: str | None = None  # by example: "similar" or "same" (search.by_example); None for text


@dataclass(frozen=True)
class Description:
    """A description of a motion, with its similarity score and semantic cluster."""

    text: str
    score: float
    cluster: int | None


@dataclass(frozen=True)
class DescribeResponse:
    results: list[Description]
    query_cluster: int | None = None
    cluster_filter: bool = False
