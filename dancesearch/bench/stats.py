"""Summaries of repeated measurements: percentiles with the repetition count, and target checks.

Every figure in the report is a :class:`Summary` (n repetitions, median = p50, p95, p99, mean, min,
max) or names its repetitions explicitly, so no figure is ever one run quoted alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Summary:
    """Distribution of ``n`` repeated measurements of one quantity (unit in ``unit``)."""

    n: int
    p50: float
    p95: float
    p99: float
    mean: float
    min: float
    max: float
    unit: str

    @classmethod
    def of(cls, values: Sequence[float] | np.ndarray, unit: str) -> Summary:
        """Summarise ``values`` (at least one)."""
        arr = np.asarray(values, dtype=np.float64)
        if arr.size == 0:
            raise ValueError("cannot summarise zero measurements")
        p50, p95, p99 = np.percentile(arr, [50, 95, 99])
        return cls(int(arr.size), float(p50), float(p95), float(p99), float(arr.mean()), float(arr.min()),
                   float(arr.max()), unit)

    @property
    def median(self) -> float:
        return self.p50

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds, result) of one call."""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def latencies_ms(fn: Callable[[int], Any], repeats: int, warmup: int = 0) -> Summary:
    """Call ``fn(i)`` ``warmup`` times unmeasured, then ``repeats`` times; summary in milliseconds."""
    for i in range(warmup):
        fn(i)
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        fn(warmup + i)
        times.append((time.perf_counter() - start) * 1000.0)
    return Summary.of(times, "ms")


def verdict(value: float | None, target: float, higher_is_better: bool = False) -> str:
    """``MET`` / ``MISSED`` (or ``n/a`` when nothing was measured) for a value against a target."""
    if value is None or not np.isfinite(value):
        return "n/a"
    ok = value >= target if higher_is_better else value <= target
    return "MET" if ok else "MISSED"


def target_entry(value: float | None, target: float, what: str, higher_is_better: bool = False) -> dict[str, Any]:
    """A target check as stored in bench.json: what, value, target, comparison and verdict."""
    return {"what": what, "value": value, "target": target, "higher_is_better": higher_is_better,
            "verdict": verdict(value, target, higher_is_better)}
