"""The contract of the search Engine that the CLI, the HTTP service and the benchmarks program against.

`search.engine.Engine` implements it over a real library and model; tests of the transport layers may
substitute a small fake that satisfies this Protocol. Errors are domain exceptions from
:mod:`search.errors`, mapped to HTTP status codes only in the service's routers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from motion.data import Motion
from search.types import DescribeResponse, Filters, SearchResponse


class SearchEngine(Protocol):
    """Search, describe and generate over one library with one model."""

    def search_text(self, query: str, k: int = 10, offset: int = 0, filters: Filters | None = None,
                    cluster_filter: bool | None = None, generate: str = "auto",
                    mode: str = "hybrid") -> SearchResponse:
        """Text -> motion. `generate`: "auto" (fallback below the calibrated threshold), "always", "never".
        `cluster_filter` None means the model's default. `mode`: "hybrid" (motion fused with what the
        clips' names, labels and descriptions say), "motion" (the motion embedding alone), "keyword"
        (metadata words only, BM25); each hit says why it matched."""

    def search_motion(self, motion: Motion, start: float | None = None, end: float | None = None,
                      k: int = 10, offset: int = 0, filters: Filters | None = None,
                      cluster_filter: bool | None = None, exclude_clip_id: int | None = None,
                      match: str = "similar") -> SearchResponse:
        """Motion -> motion by an example (any rig, mapped to canonical), optionally a time range in seconds.
        `match`: "similar" (movement that means the same: the learned space) or "same" (the same movement
        first, on another rig, body or dancer: see :mod:`search.by_example`)."""

    def search_clip(self, clip_id: int, start: float | None = None, end: float | None = None, k: int = 10,
                    offset: int = 0, filters: Filters | None = None,
                    cluster_filter: bool | None = None, match: str = "similar") -> SearchResponse:
        """Motion -> motion by a library clip and time range; the query clip itself is excluded."""

    def describe(self, motion: Motion, start: float | None = None, end: float | None = None, k: int = 5,
                 cluster_filter: bool | None = None) -> DescribeResponse:
        """Motion -> text: the best descriptions with scores."""

    def describe_clip(self, clip_id: int, start: float | None = None, end: float | None = None, k: int = 5,
                      cluster_filter: bool | None = None) -> DescribeResponse:
        """Motion -> text for a library clip."""

    def generate(self, query: str, seconds: float = 4.0, seed: int = 0) -> tuple[str, Motion]:
        """Synthesize a canonical motion for a text; returns (generated_id, motion). The motion is kept
        in the data directory so it can be downloaded later by id; another ``seed`` draws another motion."""

    def generated_motion(self, generated_id: str) -> Motion:
        """A previously generated motion (raises NotFound)."""

    def clip_info(self, clip_id: int) -> dict[str, Any]:
        """Metadata of a clip: id, source, source_path, format, rig, fps, duration, labels, description, split."""

    def clip_motion(self, clip_id: int, start: float | None = None, end: float | None = None) -> Motion:
        """Canonical motion of a clip (or a time range of it), for playback and download."""

    def list_clips(self, limit: int = 50, offset: int = 0, filters: Filters | None = None) -> list[dict[str, Any]]:
        """Clips of the library, newest first."""

    def ingest(self, paths: Sequence[Path], metadata: Path | None = None, *, owned: bool = False) -> dict[str, Any]:
        """Add files to the library and to the indexes; returns the ingest summary. ``owned``: the files
        belong to the library (uploads): if the ingest does not finish, those no clip references are
        removed (at once, or after a crash by the next start-up check)."""

    def delete_clip(self, clip_id: int) -> None:
        """Remove a clip, its windows and their index entries (raises NotFound)."""

    def reindex(self, re_embed: bool = False) -> dict[str, Any]:
        """Rebuild the indexes: vectors the active model already made are reused and the rest embedded;
        ``re_embed`` embeds every row again."""

    def status(self) -> dict[str, Any]:
        """Model name/version, clip and window counts, index types and sizes, default settings."""
