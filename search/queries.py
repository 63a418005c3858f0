"""Validation and preparation of search queries: texts, paging, filters, time ranges, motions.

Every check raises :class:`search.errors.InvalidQuery` with a message meant for the user, naming the
offending value; the Engine calls these before touching the model or the indexes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from motion.data import Motion, MotionError
from motion.rigmap import Rig
from motion.skeleton import CANONICAL_FPS, JOINTS
from search.errors import InvalidQuery, UnmappableMotion
from search.limits import DEFAULT_LIMITS, SearchLimits
from search.types import Filters

MAX_QUERY_CHARS = 1000


def check_text(query: str) -> str:
    """The query text with whitespace collapsed; empty or over-long texts are refused."""
    if not isinstance(query, str) or not query.strip():
        raise InvalidQuery("the query text is empty")
    text = " ".join(query.split())
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidQuery(f"the query text has {len(text)} characters; the limit is {MAX_QUERY_CHARS}")
    return text


def check_page(k: int, offset: int, name: str = "k", limits: SearchLimits = DEFAULT_LIMITS) -> None:
    """Refuse a page size outside 1..max_k or an offset outside 0..max_offset (:mod:`search.limits`)."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= limits.max_k:
        raise InvalidQuery(f"{name} must be an integer from 1 to {limits.max_k}, got {k!r}")
    if isinstance(offset, bool) or not isinstance(offset, int | np.integer) or not 0 <= offset <= limits.max_offset:
        raise InvalidQuery(f"offset must be an integer from 0 to {limits.max_offset}, got {offset!r}")


def check_filters(filters: Filters | None, limits: SearchLimits = DEFAULT_LIMITS) -> None:
    """Refuse negative or non-finite durations, an empty duration range and over-large label filters."""
    if filters is None:
        return
    if len(filters.labels) > limits.max_filter_labels:
        raise InvalidQuery(f"at most {limits.max_filter_labels} label filters, got {len(filters.labels)}")
    too_long = [k for k, v in filters.labels.items() if len(str(k)) + len(str(v)) > limits.max_filter_chars]
    if too_long or len(filters.source or "") > limits.max_filter_chars:
        raise InvalidQuery(f"a filter is longer than {limits.max_filter_chars} characters")
    for name in ("min_duration", "max_duration"):
        value = getattr(filters, name)
        if value is not None and (not np.isfinite(value) or value < 0):
            raise InvalidQuery(f"{name} must be a non-negative number of seconds, got {value!r}")
    if filters.min_duration is not None and filters.max_duration is not None \
            and filters.min_duration > filters.max_duration:
        raise InvalidQuery(f"min_duration {filters.min_duration:g} s exceeds max_duration {filters.max_duration:g} s")


def frame_range(n_frames: int, start: float | None, end: float | None, what: str) -> tuple[int, int]:
    """Frames ``[a, b)`` of a ``start``-``end`` seconds range of a canonical motion (validated)."""
    duration = n_frames / CANONICAL_FPS
    a = 0.0 if start is None else float(start)
    b = duration if end is None else float(end)
    if not (np.isfinite(a) and np.isfinite(b)):
        raise InvalidQuery(f"the time range of {what} must be finite numbers of seconds")
    if a < 0:
        raise InvalidQuery(f"start {a:g} s of {what} is negative")
    if a >= duration or b > duration + 0.5 / CANONICAL_FPS:
        raise InvalidQuery(f"time range {a:g}-{b:g} s is outside {what} (0-{duration:g} s)")
    if a >= b:
        raise InvalidQuery(f"start {a:g} s must be before end {b:g} s")
    lo = int(np.floor(a * CANONICAL_FPS + 1e-6))
    hi = min(n_frames, int(np.ceil(b * CANONICAL_FPS - 1e-6)))
    return lo, max(hi, lo + 1)


def canonical_positions(motion: Motion, rigs: Sequence[Rig] | None = None) -> np.ndarray:
    """Canonical positions of an uploaded motion (mapped with ``to_canonical`` unless already so);
    ``rigs``: the rig files to try before recognition (the library's ``DATA_DIR/rigs`` and built-ins)."""
    if not isinstance(motion, Motion):
        raise InvalidQuery("the query motion is not a Motion")
    if motion.meta.get("canonical") and tuple(motion.joint_names) == JOINTS and motion.fps == CANONICAL_FPS:
        positions = motion.positions
    else:
        from motion.canonical import to_canonical

        try:
            # A query is not stored: an implausible one (a sketch, a synthetic test motion) is still searched.
            positions = to_canonical(motion, rigs, check=False).positions
        except MotionError as exc:
            raise UnmappableMotion(f"cannot map the query motion onto the canonical skeleton: {exc}") from None
    if positions.shape[0] == 0 or not np.isfinite(positions).all():
        raise InvalidQuery("the query motion has no frames or non-finite positions")
    return positions


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32, contiguous)."""
    arr = np.asarray(vectors, dtype=np.float32)
    return np.ascontiguousarray(arr / np.maximum(np.linalg.norm(arr, axis=1, keepdims=True), 1e-12))


def majority_cluster(clusters: np.ndarray) -> int | None:
    """The most common non-negative cluster id (smallest on ties), None when there is none."""
    values = np.asarray(clusters, dtype=np.int64).reshape(-1)
    values = values[values >= 0]
    return None if values.size == 0 else int(np.bincount(values).argmax())
