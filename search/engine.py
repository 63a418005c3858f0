"""The search Engine: one library and one model behind :class:`search.protocol.SearchEngine`.

``Engine.open(location, model)`` opens the library (migrating it), then checks the persistent
indexes (:mod:`search.indexes`) against the DB and rebuilds or completes what is stale, so it never
serves results of another model or of deleted rows. ``sync=False`` defers that check to the first
query (or an explicit :meth:`Engine.sync`).

Directions (ranking, paging and spans: :mod:`search.hits`):

* text -> motion: the text embedding against the window index; below the model's calibrated
  ``fallback_threshold`` (or with ``generate="always"``) a motion is generated and returned first,
  on the first page only, as an extra hit marked ``generated`` (its score: the best cosine between
  the text and the generated motion's windows). Library hits page independently of it.
* motion -> motion: the example (any rig, mapped to canonical unless ``meta["canonical"]`` and the
  canonical joints at 25 fps) or a library clip, whole or a ``[start, end)`` range in seconds, is cut
  into windows like the library (at most :data:`MAX_QUERY_WINDOWS`: every ``m``-th for a long query), each window is
  searched, and clips score ``mean_i max_w cos(q_i, w)``. A library clip query excludes that clip.
* motion -> text: ``describe_windows`` of the query windows against the description index; each
  description scores its mean cosine over the query windows; texts are unique (case/space-folded).

Cluster-consistency filtering (the paper's check): results must share the query's semantic
cluster (``cluster_of_texts`` for text, the most common ``cluster_of`` over the query windows for
motion); the default per direction comes from ``model.settings`` and ``cluster_filter`` overrides
it. Metadata filters become a set of allowed window ids (cached per filter until the library
changes). Calls are serialised by one lock (the indexes are mutated by ingest/delete/reindex).
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from db import annotations as ann_db
from db.config import LibraryLocation
from db.library import Library, LibraryError
from db.locks import WritersLock
from db.records import ClipInfo
from indexer.embedding import ClipWindowEmbedder
from motion.data import Motion
from motion.skeleton import CANONICAL_FPS, JOINTS, N_JOINTS, PARENTS
from motion.windows import DEFAULT_SIZE, DEFAULT_STRIDE, window_starts
from search.ann import Thresholds
from search.by_example import MATCHES, RERANK_FETCH, PoseCache, by_example_settings, clip_windows, rerank
from search.embedder import SearchModel
from search.errors import InvalidQuery, NotFound, SearchError
from search.hits import IdentityGroups, Ranked, WindowGroups, best_span, filter_key, rank_groups, score_groups
from search.indexes import DESCRIPTIONS, INDEXED_KINDS, WINDOWS, IndexManager, text_key
from search.limits import DEFAULT_LIMITS, LISTING_LIMITS, SearchLimits
from search.metadata import DEFAULT_FUSION, METADATA, MODES, Fusion, KeywordMatch, MetadataIndex
from search.queries import (
    canonical_positions,
    check_filters,
    check_page,
    check_text,
    frame_range,
    majority_cluster,
    unit_rows,
)
from search.recovery import RecoveryReport, ingest_journal, motion_in_use, recover
from search.types import DescribeResponse, Description, Filters, Hit, SearchResponse

logger = logging.getLogger(__name__)

MAX_QUERY_WINDOWS = 16
"""A longer motion query is represented by this many evenly spaced windows (bounds query latency)."""
MAX_GENERATE_SECONDS = 60.0
MAX_SEED = 2**31 - 1
GENERATE_MODES = ("auto", "always", "never")


def check_match(match: str) -> None:
    """``match`` of a search by example: "similar" (the learned space) or "same" (the same movement first)."""
    if match not in MATCHES:
        raise InvalidQuery(f"match must be one of {', '.join(MATCHES)}, got {match!r}")
GENERATED_ID = re.compile(r"[0-9a-f]{32}")
"""Generated motion ids: 32 lowercase hex digits (``secrets.token_hex(16)``), checked before any path use."""


def _score(match: KeywordMatch | None) -> float:
    return 0.0 if match is None else match.score


class Engine:
    """Implements :class:`search.protocol.SearchEngine` over an open library and a model."""

    def __init__(self, library: Library, model: SearchModel, *, progress: bool = True, use_gpu: bool | None = None,
                 thresholds: Thresholds | None = None, ingest_workers: int | None = None,
                 limits: SearchLimits | None = None, window_embedder: ClipWindowEmbedder | None = None) -> None:
        self.lib, self.model = library, model
        self.data_dir = library.location.data_dir
        self.progress, self.ingest_workers = progress, ingest_workers
        self.indexes = IndexManager(library, model, self.data_dir / "indexes", thresholds=thresholds,
                                    use_gpu=use_gpu, progress=progress, window_embedder=window_embedder)
        self._lock = threading.RLock()
        self._ingest_lock = threading.Lock()
        self._synced = False
        self._table = ann_db.WindowTable.empty()
        self._descs: dict[int, ann_db.DescriptionRow] = {}
        self.limits = limits or DEFAULT_LIMITS
        self._filter_masks: OrderedDict[tuple[object, ...], np.ndarray] = OrderedDict()  # LRU, bounded
        self._clips: dict[int, ClipInfo] = {}
        self.meta = MetadataIndex(library, model, self.data_dir / "indexes")
        self.fusion: Fusion = DEFAULT_FUSION
        self._rigs: tuple[tuple[int, float], list[Any]] | None = None
        self.writers = WritersLock(self.data_dir)
        self.recovery: RecoveryReport | None = None
        self._poses = PoseCache(self._clip_pose_vectors)

    def rigs(self) -> list[Any]:
        """Rig files for query motions: built-ins plus ``DATA_DIR/rigs`` (reloaded when that folder changes),
        so a user's rig file works for ``search clip FILE``, ``describe FILE`` and uploads as for ingest."""
        from db.config import user_rig_dirs
        from motion.rigmap import load_rigs

        folder = self.data_dir / "rigs"
        files = sorted(folder.glob("*.toml")) if folder.is_dir() else []
        stamp = (len(files), max((p.stat().st_mtime for p in files), default=0.0))
        if self._rigs is None or self._rigs[0] != stamp:
            self._rigs = (stamp, load_rigs(user_rig_dirs(self.data_dir)))
        return self._rigs[1]

    @classmethod
    def open(cls, location: LibraryLocation, model: SearchModel, *, sync: bool = True, progress: bool = True,
             use_gpu: bool | None = None, thresholds: Thresholds | None = None,
             ingest_workers: int | None = None, limits: SearchLimits | None = None,
             check: bool = True, window_embedder: ClipWindowEmbedder | None = None) -> Engine:
        """Open the library at ``location`` with ``model``; ``check`` runs the start-up check that repairs
        what a crash left (:mod:`search.recovery`); ``sync`` checks/rebuilds the indexes now;
        ``limits`` bound the work of one request (:mod:`search.limits`); ``window_embedder`` embeds the
        windows when the indexes are synced (default: the model in this process; e.g. Ray actors,
        :mod:`indexer.ray_embed`)."""
        engine = cls(Library.open(location), model, progress=progress, use_gpu=use_gpu, thresholds=thresholds,
                     ingest_workers=ingest_workers, limits=limits, window_embedder=window_embedder)
        if check:
            engine.recovery = recover(engine.lib)
        if sync:
            engine.sync()
        return engine

    def close(self) -> None:
        self.lib.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- index state --------------------------------------------------------------------------

    def sync(self, rebuild: bool = False, reuse: bool = True) -> dict[str, Any]:
        """Check the indexes against the DB and fix them (see :mod:`search.indexes`); the reports.
        ``reuse=False`` with ``rebuild`` re-embeds every row instead of reusing current vectors."""
        with self._lock, self.writers.shared():
            reports: dict[str, Any] = dict(self.indexes.sync(rebuild=rebuild, reuse=reuse))
            reports[METADATA] = self.meta.sync(rebuild=rebuild)
            self._table = ann_db.window_table(self.lib)
            self._descs = {r.id: r for r in ann_db.list_descriptions(self.lib) if r.kind in INDEXED_KINDS}
            self._filter_masks.clear()
            self._clips.clear()
            self._poses.clear()
            self._synced = True
        for report in reports.values():
            if report.rebuilt or report.embedded or report.removed:
                logger.info("%s index: %s", report.name, report.to_json())
        return {name: report.to_json() for name, report in reports.items()}

    def _ready(self) -> None:
        if not self._synced:
            self.sync()

    def reindex(self, re_embed: bool = False) -> dict[str, Any]:
        t0 = time.perf_counter()
        reports = self.sync(rebuild=True, reuse=not re_embed)
        return {"model_version": self.model.version, "seconds": round(time.perf_counter() - t0, 3),
                "indexes": reports}

    # ---- queries ------------------------------------------------------------------------------

    def search_text(self, query: str, k: int = 10, offset: int = 0, filters: Filters | None = None,
                    cluster_filter: bool | None = None, generate: str = "auto",
                    mode: str = "hybrid") -> SearchResponse:
        text = check_text(query)
        check_page(k, offset, limits=self.limits)
        check_filters(filters, self.limits)
        if generate not in GENERATE_MODES:
            raise InvalidQuery(f"generate must be one of {', '.join(GENERATE_MODES)}, got {generate!r}")
        if mode not in MODES:
            raise InvalidQuery(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        with self._lock:
            self._ready()
            qvec = unit_rows(self.model.embed_texts([text]))
            qcluster = majority_cluster(self.model.cluster_of_texts([text]))
            use = self._use_cluster("cluster_filter_text", cluster_filter, qcluster)
            if mode == "motion":
                hits, best = self._search_windows(qvec, k, offset, filters, qcluster if use else None, None)
            else:
                hits, best = self._search_hybrid(text, qvec, k, offset, filters, qcluster if use else None, mode)
            threshold = self.model.settings.get("fallback_threshold")
            score = self.model.match_score(text, best)
            weak = score is None or (isinstance(threshold, int | float) and score < float(threshold))
            fallback = offset == 0 and (generate == "always" or (generate == "auto" and weak))
            if fallback:
                hits = [self._generated_hit(text, qvec, qcluster), *hits]
        return SearchResponse(hits, qcluster, use, fallback, offset, k, mode)

    def search_motion(self, motion: Motion, start: float | None = None, end: float | None = None,
                      k: int = 10, offset: int = 0, filters: Filters | None = None,
                      cluster_filter: bool | None = None, exclude_clip_id: int | None = None,
                      match: str = "similar") -> SearchResponse:
        check_page(k, offset, limits=self.limits)
        check_filters(filters, self.limits)
        check_match(match)
        positions = canonical_positions(motion, self.rigs())
        a, b = frame_range(positions.shape[0], start, end, "the query motion")
        with self._lock:
            self._ready()
            return self._motion_query(positions[a:b], k, offset, filters, cluster_filter, exclude_clip_id, match)

    def search_clip(self, clip_id: int, start: float | None = None, end: float | None = None, k: int = 10,
                    offset: int = 0, filters: Filters | None = None,
                    cluster_filter: bool | None = None, match: str = "similar") -> SearchResponse:
        check_page(k, offset, limits=self.limits)
        check_filters(filters, self.limits)
        check_match(match)
        with self._lock:
            self._ready()
            positions = self._clip_positions(clip_id, start, end)
            return self._motion_query(positions, k, offset, filters, cluster_filter, clip_id, match)

    def describe(self, motion: Motion, start: float | None = None, end: float | None = None, k: int = 5,
                 cluster_filter: bool | None = None) -> DescribeResponse:
        check_page(k, 0, limits=self.limits)
        positions = canonical_positions(motion, self.rigs())
        a, b = frame_range(positions.shape[0], start, end, "the query motion")
        with self._lock:
            self._ready()
            return self._describe(positions[a:b], k, cluster_filter)

    def describe_clip(self, clip_id: int, start: float | None = None, end: float | None = None, k: int = 5,
                      cluster_filter: bool | None = None) -> DescribeResponse:
        check_page(k, 0, limits=self.limits)
        with self._lock:
            self._ready()
            return self._describe(self._clip_positions(clip_id, start, end), k, cluster_filter)

    def _use_cluster(self, setting: str, explicit: bool | None, qcluster: int | None) -> bool:
        wanted = bool(self.model.settings.get(setting, False)) if explicit is None else bool(explicit)
        return wanted and qcluster is not None

    def _query_stride(self) -> int:
        """Frames between a motion query's windows: the library's stride, scaled to the model's window."""
        return max(1, round(int(self.model.window_size) * DEFAULT_STRIDE / DEFAULT_SIZE))

    def _query_windows(self, positions: np.ndarray) -> tuple[list[int], int]:
        """The query's window starts and the frames between consecutive regular ones: every stride, or
        every ``m``-th window for a query longer than :data:`MAX_QUERY_WINDOWS` windows, so that they stay
        evenly spaced (the step of temporal context, :mod:`search.by_example`)."""
        starts = window_starts(positions.shape[0], int(self.model.window_size), self._query_stride())
        every = max(1, -(-len(starts) // MAX_QUERY_WINDOWS))
        return starts[::every], every * self._query_stride()

    def _motion_query(self, positions: np.ndarray, k: int, offset: int, filters: Filters | None,
                      cluster_filter: bool | None, exclude: int | None, match: str = "similar") -> SearchResponse:
        starts, step = self._query_windows(positions)
        queries = unit_rows(self.model.embed_windows(positions, starts))
        qcluster = majority_cluster(self.model.cluster_of(positions, starts))
        use = self._use_cluster("cluster_filter_motion", cluster_filter, qcluster)
        weight, context = by_example_settings(self.model.settings, match)
        if weight > 0 or context > 0:
            hits = self._search_reranked(positions, starts, step, queries, k, offset, filters,
                                         qcluster if use else None, exclude, weight, context)
        else:
            hits, _ = self._search_windows(queries, k, offset, filters, qcluster if use else None, exclude)
        return SearchResponse(hits, qcluster, use, False, offset, k, match=match)

    def _search_reranked(self, positions: np.ndarray, starts: list[int], step: int, queries: np.ndarray, k: int,
                         offset: int,
                         filters: Filters | None, cluster: int | None, exclude: int | None, weight: float,
                         context: int) -> list[Hit]:
        """By example (:mod:`search.by_example`): the learned ranking's best clips re-scored in temporal
        context and, with a pose weight, with the poses themselves."""
        allowed = self._allowed(filters, cluster, exclude)
        if allowed is not None and allowed.size == 0:
            return []
        index = self.indexes.index(WINDOWS)
        groups = WindowGroups(self._table)
        available = len(index) if allowed is None else int(allowed.size)
        _, ids = index.search(queries, min(available, RERANK_FETCH), allowed_ids=allowed)
        seen = np.unique(groups.group_of(np.unique(ids[ids >= 0])))
        seen = seen[seen >= 0]
        query_poses = self.model.pose_vectors(positions, starts) if weight > 0 else None
        ranked = rerank(index, queries, starts, clip_windows(groups, seen, allowed), self._table,
                        weight, context, step, query_poses, self._poses)
        if len(ranked) < offset + k:  # past the re-scored clips, the learned order continues
            rest = rank_groups(index, queries, offset + k + len(ranked), groups, allowed)
            rescored = set(seen.tolist())
            ranked += [r for r in rest if r.group not in rescored]
        return [self._clip_hit(r) for r in ranked[offset:offset + k]]

    def _clip_pose_vectors(self, clip_id: int, starts: np.ndarray) -> np.ndarray:
        positions = self.lib.store.get(self._clip(clip_id).motion_key)
        return self.model.pose_vectors(positions, [int(s) for s in starts])

    def _describe(self, positions: np.ndarray, k: int, cluster_filter: bool | None) -> DescribeResponse:
        starts, _ = self._query_windows(positions)
        queries = unit_rows(self.model.describe_windows(positions, starts))
        qcluster = majority_cluster(self.model.cluster_of(positions, starts))
        use = self._use_cluster("cluster_filter_describe", cluster_filter, qcluster)
        allowed = None
        if use:
            allowed = np.array(sorted(i for i, r in self._descs.items() if r.cluster_id == qcluster), dtype=np.int64)
        ranked = rank_groups(self.indexes.index(DESCRIPTIONS), queries, k, IdentityGroups(), allowed)
        out: list[Description] = []
        seen: set[str] = set()
        for r in ranked:
            row = self._descs.get(r.group)
            if row is not None and text_key(row.text) not in seen:
                seen.add(text_key(row.text))
                out.append(Description(row.text, r.score, row.cluster_id))
        return DescribeResponse(out, qcluster, use)

    def _search_windows(self, queries: np.ndarray, k: int, offset: int, filters: Filters | None,
                        cluster: int | None, exclude: int | None) -> tuple[list[Hit], float | None]:
        """A page of clip hits and the best score of the whole ranking (None when nothing matches)."""
        allowed = self._allowed(filters, cluster, exclude)
        if allowed is not None and allowed.size == 0:
            return [], None
        ranked = rank_groups(self.indexes.index(WINDOWS), queries, offset + k, WindowGroups(self._table), allowed)
        best = ranked[0].score if ranked else None
        return [self._clip_hit(r) for r in ranked[offset:offset + k]], best

    def _search_hybrid(self, text: str, qvec: np.ndarray, k: int, offset: int, filters: Filters | None,
                       cluster: int | None, mode: str) -> tuple[list[Hit], float | None]:
        """Text search with the metadata signals (:mod:`search.metadata`): ``keyword`` ranks the clips
        whose metadata words match by BM25; ``hybrid`` adds the calibrated metadata boosts to the motion
        score of the motion candidates and of the best-boosted clips. Every hit keeps its motion span.
        A clip without boost keeps its motion score, so where no metadata matches the ranking is the
        motion ranking. The best motion score (for the generation fallback) is as in motion mode."""
        allowed = self._allowed(filters, cluster, None)
        if allowed is not None and allowed.size == 0:
            return [], None
        index, groups, fusion = self.indexes.index(WINDOWS), WindowGroups(self._table), self.fusion
        allowed_clips = None if allowed is None else np.unique(groups.group_of(allowed))
        keyword = self.meta.keywords.search(text)
        motion = rank_groups(index, qvec, 1 if mode == "keyword" else offset + k, groups, allowed)
        best = motion[0].score if motion else None
        if mode == "keyword":
            allowed_set = None if allowed_clips is None else set(allowed_clips.tolist())
            order = [c for c in keyword.ranked() if allowed_set is None or c in allowed_set]
            top = order[:offset + k + fusion.candidates]
            scored = score_groups(index, qvec, groups, np.array(top, dtype=np.int64), allowed)
            kw = {r.group: keyword.get(r.group) for r in scored}
            ranked = sorted(scored, key=lambda r: (-_score(kw[r.group]), -r.score, r.group))[offset:offset + k]
            sims = self.meta.similarities_of(qvec[0], [r.group for r in ranked])
            return [self._clip_hit(r, _score(kw[r.group]), kw[r.group], sims.get(r.group)) for r in ranked], best
        sim_ids, sim_values = self.meta.similarity_all(qvec[0])
        ids, boost = fusion.boosts(keyword, sim_ids, sim_values)
        if allowed_clips is not None:
            keep = np.isin(ids, allowed_clips)
            ids, boost = ids[keep], boost[keep]

        def boosts_of(rows: list[Ranked]) -> np.ndarray:
            clips = np.fromiter((r.group for r in rows), dtype=np.int64, count=len(rows))
            pos = np.minimum(np.searchsorted(ids, clips), max(ids.size - 1, 0))
            return np.where(ids[pos] == clips, boost[pos], 0.0) if ids.size else np.zeros(len(rows))

        pool = {r.group: r for r in motion}
        extra = np.zeros(0, dtype=np.int64)
        if len(motion) == offset + k and ids.size:
            # A clip outside the motion top scores at most the last motion score there (theta), so it can
            # only reach the page when theta + its boost reaches the page's last fused score (phi).
            theta = motion[-1].score
            phi = float(np.min(np.array([r.score for r in motion]) + boosts_of(motion)))
            lifted = np.lexsort((ids, -boost))[:fusion.candidates]
            extra = ids[lifted][(theta + boost[lifted] >= phi) & ~np.isin(ids[lifted], list(pool))]
        pool.update((r.group, r) for r in score_groups(index, qvec, groups, extra, allowed))
        rows = list(pool.values())
        fused = np.array([r.score for r in rows]) + boosts_of(rows)
        picks = np.lexsort((np.array([r.group for r in rows]), -fused))[offset:offset + k]
        page = [rows[i] for i in picks]
        sims = self.meta.similarities_of(qvec[0], [r.group for r in page])
        return [self._clip_hit(r, float(fused[i]), keyword.get(r.group), sims.get(r.group))
                for i, r in zip(picks, page, strict=True)], best

    def _allowed(self, filters: Filters | None, cluster: int | None, exclude: int | None) -> np.ndarray | None:
        table = self._table
        mask: np.ndarray | None = None
        if filters is not None and not filters.is_empty():
            key = filter_key(filters)
            if key not in self._filter_masks:
                clips = ann_db.matching_clip_ids(self.lib, filters.source, filters.labels,
                                                 filters.min_duration, filters.max_duration)
                self._filter_masks[key] = np.isin(table.clip_ids, clips)
                while len(self._filter_masks) > self.limits.filter_cache_entries:
                    self._filter_masks.popitem(last=False)
            self._filter_masks.move_to_end(key)
            mask = self._filter_masks[key]
        if cluster is not None:
            mask = (table.clusters == cluster) if mask is None else mask & (table.clusters == cluster)
        if exclude is not None:
            mask = (table.clip_ids != exclude) if mask is None else mask & (table.clip_ids != exclude)
        return None if mask is None else table.ids[mask]

    def _clip_hit(self, ranked: Ranked, score: float | None = None, keyword: KeywordMatch | None = None,
                  similarity: float | None = None) -> Hit:
        rows = self._table.rows(ranked.member_ids)
        a, b, best = best_span(self._table.starts[rows], self._table.ends[rows], ranked.member_scores)
        cluster = int(self._table.clusters[rows[best]])
        info = self._clip(ranked.group)
        return Hit(info.id, info.path, a / CANONICAL_FPS, b / CANONICAL_FPS,
                   ranked.score if score is None else float(score), dict(info.labels),
                   info.description, cluster if cluster >= 0 else None, motion_score=ranked.score,
                   keyword_score=None if keyword is None else keyword.score,
                   matched_terms=[] if keyword is None else list(keyword.terms), metadata_similarity=similarity,
                   source_root=info.source_root)

    # ---- generation ---------------------------------------------------------------------------

    def _generated_hit(self, text: str, qvec: np.ndarray, qcluster: int | None) -> Hit:
        gid, motion = self.generate(text)
        starts, _ = self._query_windows(motion.positions)
        score = float((unit_rows(self.model.embed_windows(motion.positions, starts)) @ qvec[0]).max())
        return Hit(None, None, 0.0, motion.duration, score, {}, text, qcluster, True, gid)

    def generate(self, query: str, seconds: float = 4.0, seed: int = 0) -> tuple[str, Motion]:
        """A new motion for ``query``; another ``seed`` draws another motion for the same text."""
        text = check_text(query)
        if not isinstance(seconds, int | float) or not 0 < seconds <= MAX_GENERATE_SECONDS:
            raise InvalidQuery(f"seconds must be in (0, {MAX_GENERATE_SECONDS:g}], got {seconds!r}")
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
            raise InvalidQuery(f"seed must be an integer in [0, {MAX_SEED}], got {seed!r}")
        with self._lock:
            positions = np.asarray(self.model.generate(text, float(seconds), seed), dtype=np.float32)
        if positions.ndim != 3 or positions.shape[1:] != (N_JOINTS, 3) or positions.shape[0] == 0 \
                or not np.isfinite(positions).all():
            raise SearchError(f"the model generated an invalid motion of shape {positions.shape}")
        gid = secrets.token_hex(16)
        folder = self.data_dir / "generated"
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".gen-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.save(fh, positions, allow_pickle=False)
            os.replace(tmp, self._generated_path(gid))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._prune_generated(folder, keep=gid)
        return gid, self._motion(positions, generated_id=gid, text=text)

    def _prune_generated(self, folder: Path, keep: str) -> None:
        """Generated motions expire: older than ``generated_max_age_s`` goes, then the oldest until the
        folder holds at most ``generated_max_bytes`` (the newest motion is always kept)."""
        now = time.time()
        files = []
        for path in folder.glob("*.npy"):
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            files.append((st.st_mtime, st.st_size, path))
        files.sort()
        total = sum(size for _, size, _ in files)
        for mtime, size, path in files:
            if path.stem == keep:
                continue
            if now - mtime > self.limits.generated_max_age_s or total > self.limits.generated_max_bytes:
                path.unlink(missing_ok=True)
                total -= size

    def _generated_path(self, generated_id: str) -> Path:
        if not isinstance(generated_id, str) or not GENERATED_ID.fullmatch(generated_id):
            raise NotFound(f"no generated motion with id {generated_id!r} (ids are 32 hex digits)")
        return self.data_dir / "generated" / f"{generated_id}.npy"

    def generated_motion(self, generated_id: str) -> Motion:
        path = self._generated_path(generated_id)
        try:
            positions = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise NotFound(f"no generated motion with id {generated_id!r}") from None
        except (OSError, ValueError) as exc:
            raise SearchError(f"generated motion {generated_id} is unreadable: {exc}") from None
        return self._motion(positions, generated_id=generated_id)

    @staticmethod
    def _motion(positions: np.ndarray, **meta: object) -> Motion:
        return Motion(positions, CANONICAL_FPS, list(JOINTS), list(PARENTS), {"canonical": True, **meta})

    # ---- library ------------------------------------------------------------------------------

    def _clip(self, clip_id: int) -> ClipInfo:
        if isinstance(clip_id, bool) or not isinstance(clip_id, int | np.integer) or not 0 < clip_id < 2**63:
            raise NotFound(f"no clip with id {clip_id!r}")
        info = self._clips.get(int(clip_id))
        if info is None:
            try:
                info = self.lib.get_clip(int(clip_id))
            except LibraryError:
                raise NotFound(f"no clip with id {clip_id}") from None
            self._clips[info.id] = info
        return info

    def _clip_positions(self, clip_id: int, start: float | None, end: float | None) -> np.ndarray:
        info = self._clip(clip_id)
        positions = self.lib.store.get(info.motion_key)
        a, b = frame_range(positions.shape[0], start, end, f"clip {clip_id}")
        return positions[a:b]

    # Clip reads take the engine lock, like searches: a delete (which holds it from the DB delete to the
    # removal of the stored motion) is then seen wholly or not at all, never half done.
    def clip_info(self, clip_id: int) -> dict[str, Any]:
        with self._lock:
            info = self._clip(clip_id)
        return {"id": info.id, "source": info.source, "source_path": info.path, "format": info.format,
                "rig": info.rig, "fps": info.orig_fps, "duration": info.duration, "labels": dict(info.labels),
                "description": info.description, "split": info.split, "source_root": info.source_root}

    def clip_motion(self, clip_id: int, start: float | None = None, end: float | None = None) -> Motion:
        with self._lock:
            positions = self._clip_positions(clip_id, start, end)
        return self._motion(positions, clip_id=int(clip_id), start=float(start or 0.0))

    def list_clips(self, limit: int = 50, offset: int = 0, filters: Filters | None = None) -> list[dict[str, Any]]:
        check_page(limit, offset, "limit", LISTING_LIMITS)
        check_filters(filters, self.limits)
        f = filters or Filters()
        with self._lock:
            ids = ann_db.matching_clip_ids(self.lib, f.source, f.labels, f.min_duration, f.max_duration)[::-1]
            return [self.clip_info(int(i)) for i in ids[offset:offset + limit]]

    def ingest(self, paths: Sequence[Path], metadata: Path | None = None, *, owned: bool = False) -> dict[str, Any]:
        from indexer.ingest import Ingester, IngestInputError, IngestOptions
        from indexer.metadata import MetadataError, load_metadata

        try:
            meta = load_metadata([metadata]) if metadata is not None else None
        except MetadataError as exc:
            raise InvalidQuery(str(exc)) from None
        options = IngestOptions(metadata=meta, progress=self.progress)
        if self.ingest_workers is not None:
            options.workers = self.ingest_workers
        files = [*paths, *([metadata] if metadata is not None else [])]
        # The writers' lock spans the journal too: another process's start-up check never sees it unfinished.
        with self._ingest_lock, self.writers.shared(), ingest_journal(self.lib, files, owned):
            try:
                summary = Ingester(self.lib, options).run([str(p) for p in paths])
            except IngestInputError as exc:
                raise InvalidQuery(str(exc)) from None
        indexed = self.sync()
        return {**summary.to_json(), "errors": [{"file": p, "error": r} for p, r in summary.errors],
                "indexed": indexed}

    def delete_clip(self, clip_id: int) -> None:
        with self._lock:
            self._ready()
            key = self._clip(clip_id).motion_key
            with self.writers.shared():
                try:
                    windows, descriptions = ann_db.delete_clip(self.lib, int(clip_id))
                except LibraryError:
                    raise NotFound(f"no clip with id {clip_id}") from None
                self.indexes.remove(WINDOWS, windows)
                self.indexes.remove(DESCRIPTIONS, descriptions)
            self.sync()
            # The stored motion goes too, unless another clip shares it or a writer is running (then the
            # next start-up check reclaims it).
            with self.writers.exclusive_if_free() as free:
                if free and not motion_in_use(self.lib, key):
                    self.lib.store.delete(key)

    def status(self) -> dict[str, Any]:
        stats = self.lib.stats()
        settings = self.model.settings
        return {"model": str(settings.get("name", "")), "model_version": self.model.version,
                "clips": stats.clips, "windows": stats.windows, "sources": sorted(stats.sources),
                "descriptions": len(self._descs), "synced": self._synced,
                "indexes": {**self.indexes.sizes(), METADATA: self.meta.sizes()},
                "settings": {k: settings.get(k) for k in ("fallback_threshold", "cluster_filter_text",
                                                          "cluster_filter_motion", "cluster_filter_describe")},
                "data_dir": str(self.data_dir),
                "startup_check": None if self.recovery is None else self.recovery.to_json()}
