"""A small in-memory SearchEngine for testing the transports (HTTP service, web page) without a model.

It holds three synthetic canonical motions (a turning waltz, a jump, a walk) with labels and
descriptions, ranks text queries by word overlap with the descriptions and labels, ranks example
motions by two simple motion statistics, and keeps generated motions and ingested files in memory.
It follows the contract of :class:`search.protocol.SearchEngine`, errors included, and records every
call in ``calls`` so tests can check what the transport passed on.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from motion.data import Motion
from motion.formats import MotionFileError, load_motion
from motion.skeleton import CANONICAL_FPS, JOINTS, PARENTS
from search.errors import InvalidQuery, NotFound
from search.types import DescribeResponse, Description, Filters, Hit, SearchResponse

# Rest pose in metres, Y up, facing +Z, performer's left = +X (same order as JOINTS).
REST = np.array([
    [0, 1.0, 0], [0, 1.15, 0], [0, 1.35, 0], [0, 1.5, 0], [0, 1.62, 0],
    [0.18, 1.45, 0], [0.2, 1.17, 0], [0.22, 0.92, 0],
    [-0.18, 1.45, 0], [-0.2, 1.17, 0], [-0.22, 0.92, 0],
    [0.1, 0.95, 0], [0.1, 0.52, 0], [0.1, 0.08, 0], [0.1, 0.02, 0.12],
    [-0.1, 0.95, 0], [-0.1, 0.52, 0], [-0.1, 0.08, 0], [-0.1, 0.02, 0.12],
], dtype=np.float32)
ARMS = [6, 7, 9, 10]


def canonical(positions: np.ndarray, **meta: object) -> Motion:
    return Motion(positions.astype(np.float32), CANONICAL_FPS, list(JOINTS), list(PARENTS), dict(meta))


def waltz(seconds: float = 10.0) -> Motion:
    """Turning on a circle of 1 m radius, one turn every 2 s."""
    t = np.arange(int(seconds * CANONICAL_FPS)) / CANONICAL_FPS
    angle = np.pi * t
    c, s = np.cos(angle), np.sin(angle)
    rot = np.stack([np.stack([c, 0 * c, s], -1), np.stack([0 * c, 1 + 0 * c, 0 * c], -1),
                    np.stack([-s, 0 * c, c], -1)], 1)            # (T, 3, 3) rotation about Y
    pos = np.einsum("tij,kj->tki", rot, REST)
    pos[:, :, 0] += np.cos(angle / 4)[:, None]
    pos[:, :, 2] += np.sin(angle / 4)[:, None]
    return canonical(pos, kind="waltz")


def jump(seconds: float = 6.0) -> Motion:
    """Jumping on the spot once a second with the arms raised at the top."""
    t = np.arange(int(seconds * CANONICAL_FPS)) / CANONICAL_FPS
    height = 0.3 * np.abs(np.sin(np.pi * t))
    pos = np.repeat(REST[None], len(t), 0)
    pos[:, :, 1] += height[:, None]
    # Arms swing up sideways about the shoulders (rigid bones: stored clips must pass the plausibility checks).
    angle = 4.1 * height
    c, s = np.cos(angle)[:, None], np.sin(angle)[:, None]
    for shoulder, joints, side in ((5, ARMS[:2], 1.0), (8, ARMS[2:], -1.0)):
        rel = pos[:, joints] - pos[:, [shoulder]]
        x, y = rel[..., 0].copy(), rel[..., 1].copy()
        rel[..., 0], rel[..., 1] = c * x - side * s * y, side * s * x + c * y
        pos[:, joints] = pos[:, [shoulder]] + rel
    return canonical(pos, kind="jump")


def walk(seconds: float = 8.0) -> Motion:
    """Walking forward (+Z) at 1.2 m/s with swinging legs."""
    t = np.arange(int(seconds * CANONICAL_FPS)) / CANONICAL_FPS
    pos = np.repeat(REST[None], len(t), 0)
    pos[:, :, 2] += (1.2 * t)[:, None]
    swing = 0.25 * np.sin(2 * np.pi * t)
    pos[:, [13, 14], 2] += swing[:, None]
    pos[:, [17, 18], 2] -= swing[:, None]
    return canonical(pos, kind="walk")


@dataclass
class FakeClip:
    id: int
    motion: Motion
    source: str
    labels: dict[str, Any]
    description: str
    split: str = "train"

    def info(self) -> dict[str, Any]:
        return {"id": self.id, "source": self.source, "source_path": f"{self.source}/clip{self.id}.bvh",
                "format": "bvh", "rig": self.source, "fps": self.motion.fps, "duration": self.motion.duration,
                "labels": dict(self.labels), "description": self.description, "split": self.split}


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def _signature(motion: Motion) -> np.ndarray:
    """Vertical bounce and horizontal speed of the root (first joint), scale-free enough for a fake."""
    root = motion.positions[:, 0, :].astype(np.float64)
    height = max(float(np.ptp(motion.positions[0, :, 1])), 1e-6)
    speed = np.linalg.norm(np.diff(root[:, [0, 2]], axis=0), axis=1).mean() * motion.fps if len(root) > 1 else 0.0
    return np.array([root[:, 1].std() / height, speed / height])


def _matches(clip: FakeClip, filters: Filters | None) -> bool:
    if filters is None:
        return True
    duration = clip.motion.duration
    return ((not filters.source or clip.source == filters.source)
            and all(str(clip.labels.get(k)) == v for k, v in filters.labels.items())
            and (filters.min_duration is None or duration >= filters.min_duration)
            and (filters.max_duration is None or duration <= filters.max_duration))


@dataclass
class FakeEngine:
    """Implements :class:`search.protocol.SearchEngine` over a few synthetic clips."""

    clips: dict[int, FakeClip] = field(default_factory=dict)
    generated: dict[str, Motion] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.clips:
            for clip in (FakeClip(1, waltz(), "ballroom", {"genre": "waltz"}, "a couple waltzes, turning in circles"),
                         FakeClip(2, jump(), "bandai", {"content": "jump", "style": "happy"},
                                  "a happy jump with the arms raised"),
                         FakeClip(3, walk(), "cmu", {"subject": "2"}, "walking forward")):
                self.clips[clip.id] = clip

    def _log(self, name: str, **args: Any) -> None:
        self.calls.append((name, args))

    def _clip(self, clip_id: int) -> FakeClip:
        if clip_id not in self.clips:
            raise NotFound(f"no clip with id {clip_id}")
        return self.clips[clip_id]

    def _span(self, motion: Motion, start: float | None, end: float | None) -> Motion:
        a = 0.0 if start is None else start
        b = motion.duration if end is None else min(end, motion.duration)
        if a >= motion.duration or b <= a:
            raise InvalidQuery(f"time range {a:g}-{b:g} s is outside the motion (0-{motion.duration:g} s)")
        return motion.slice_frames(int(round(a * motion.fps)), max(int(round(b * motion.fps)), int(a * motion.fps) + 1))

    def _hit(self, clip: FakeClip, score: float) -> Hit:
        return Hit(clip.id, clip.info()["source_path"], 1.0, 3.0, score, dict(clip.labels), clip.description, clip.id % 2)

    def _page(self, scored: list[tuple[float, FakeClip]], k: int, offset: int, filters: Filters | None) -> list[Hit]:
        ranked = sorted(((s, c) for s, c in scored if _matches(c, filters)), key=lambda sc: (-sc[0], sc[1].id))
        return [self._hit(c, s) for s, c in ranked[offset:offset + k]]

    def search_text(self, query: str, k: int = 10, offset: int = 0, filters: Filters | None = None,
                    cluster_filter: bool | None = None, generate: str = "auto",
                    mode: str = "hybrid") -> SearchResponse:
        """Word overlap with descriptions and labels; in ``hybrid`` and ``keyword`` modes each hit
        explains itself with the words that matched (``motion`` mode: a motion score only)."""
        self._log("search_text", query=query, k=k, offset=offset, filters=filters,
                  cluster_filter=cluster_filter, generate=generate, mode=mode)
        if mode not in ("hybrid", "motion", "keyword"):
            raise InvalidQuery(f"mode must be one of hybrid, motion, keyword, got {mode!r}")
        words = _words(query)
        if not words:
            raise InvalidQuery("the query has no words")
        scored = [(len(words & _words(c.description + " " + " ".join(map(str, c.labels.values())))) / len(words), c)
                  for c in self.clips.values()]
        hits = self._page([(s, c) for s, c in scored if s > 0], k, offset, filters)
        if mode != "motion":
            hits = [dataclasses.replace(h, motion_score=h.score, keyword_score=h.score, metadata_similarity=0.5,
                                        matched_terms=sorted(words & _words(f"{h.description} {h.source_path} "
                                                                            + " ".join(map(str, h.labels.values())))))
                    for h in hits]
        else:
            hits = [dataclasses.replace(h, motion_score=h.score) for h in hits]
        fallback = generate == "always" or (generate == "auto" and not hits and offset == 0)
        if fallback:
            gid, motion = self.generate(query)
            hits.append(Hit(None, None, 0.0, motion.duration, 0.0, {}, query, None, True, gid))
        return SearchResponse(hits, 0, bool(cluster_filter), fallback, offset, k, mode)

    def search_motion(self, motion: Motion, start: float | None = None, end: float | None = None,
                      k: int = 10, offset: int = 0, filters: Filters | None = None,
                      cluster_filter: bool | None = None, exclude_clip_id: int | None = None,
                      match: str = "similar") -> SearchResponse:
        self._log("search_motion", n_frames=motion.n_frames, start=start, end=end, k=k, offset=offset,
                  filters=filters, exclude_clip_id=exclude_clip_id, match=match)
        sig = _signature(self._span(motion, start, end))
        scored = [(1.0 / (1.0 + float(np.linalg.norm(sig - _signature(c.motion)))), c)
                  for c in self.clips.values() if c.id != exclude_clip_id]
        return SearchResponse(self._page(scored, k, offset, filters), 0, bool(cluster_filter), False, offset, k,
                              match=match)

    def search_clip(self, clip_id: int, start: float | None = None, end: float | None = None, k: int = 10,
                    offset: int = 0, filters: Filters | None = None,
                    cluster_filter: bool | None = None, match: str = "similar") -> SearchResponse:
        return self.search_motion(self._clip(clip_id).motion, start, end, k, offset, filters, cluster_filter,
                                  exclude_clip_id=clip_id, match=match)

    def describe(self, motion: Motion, start: float | None = None, end: float | None = None, k: int = 5,
                 cluster_filter: bool | None = None) -> DescribeResponse:
        self._log("describe", n_frames=motion.n_frames, start=start, end=end, k=k)
        ranked = self.search_motion(self._span(motion, start, end), k=k).results
        return DescribeResponse([Description(h.description or "", h.score, h.cluster) for h in ranked], 0,
                                bool(cluster_filter))

    def describe_clip(self, clip_id: int, start: float | None = None, end: float | None = None, k: int = 5,
                      cluster_filter: bool | None = None) -> DescribeResponse:
        return self.describe(self._clip(clip_id).motion, start, end, k, cluster_filter)

    def generate(self, query: str, seconds: float = 4.0, seed: int = 0) -> tuple[str, Motion]:
        self._log("generate", query=query, seconds=seconds, seed=seed)
        motion = jump(seconds)
        gid = uuid.uuid4().hex[:12]
        self.generated[gid] = motion
        return gid, motion

    def generated_motion(self, generated_id: str) -> Motion:
        if generated_id not in self.generated:
            raise NotFound(f"no generated motion with id {generated_id!r}")
        return self.generated[generated_id]

    def clip_info(self, clip_id: int) -> dict[str, Any]:
        return self._clip(clip_id).info()

    def clip_motion(self, clip_id: int, start: float | None = None, end: float | None = None) -> Motion:
        motion = self._clip(clip_id).motion
        return motion if start is None and end is None else self._span(motion, start, end)

    def list_clips(self, limit: int = 50, offset: int = 0, filters: Filters | None = None) -> list[dict[str, Any]]:
        self._log("list_clips", limit=limit, offset=offset, filters=filters)
        clips = [c for c in sorted(self.clips.values(), key=lambda c: -c.id) if _matches(c, filters)]
        return [c.info() for c in clips[offset:offset + limit]]

    def ingest(self, paths: Sequence[Path], metadata: Path | None = None, *, owned: bool = False) -> dict[str, Any]:
        """Reads every file for real; each readable one becomes a clip (played back as a walk)."""
        self._log("ingest", paths=list(paths), metadata=metadata)
        added, errors = [], []
        for path in paths:
            try:
                source_motion = load_motion(path)
            except MotionFileError as exc:
                errors.append({"file": path.name, "error": exc.reason})
                continue
            clip_id = max(self.clips, default=0) + 1
            self.clips[clip_id] = FakeClip(clip_id, walk(max(source_motion.duration, 0.2)), "upload", {}, "uploaded")
            added.append(clip_id)
        return {"added": added, "errors": errors}

    def delete_clip(self, clip_id: int) -> None:
        self._log("delete_clip", clip_id=clip_id)
        del self.clips[self._clip(clip_id).id]

    def reindex(self, re_embed: bool = False) -> dict[str, Any]:
        self._log("reindex", re_embed=re_embed)
        return {"clips": len(self.clips), "windows": 0}

    def status(self) -> dict[str, Any]:
        return {"model": "fake", "clips": len(self.clips), "windows": 0, "index": "none",
                "sources": sorted({c.source for c in self.clips.values()})}
