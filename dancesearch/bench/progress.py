"""Progress lines for long benchmark sections: which section, which step, how far, how fast, ETA.

Why: a full ``dancesearch bench`` used to be silent for up to half an hour. Lines (not a redrawn bar)
so the output stays readable when redirected to a log file; at most one line every ``every_s``
seconds per step, plus its first and last.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def duration(seconds: float) -> str:
    """``1h02m``, ``3m05s`` or ``12.3s``."""
    if seconds >= 3600:
        return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"
    if seconds >= 60:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    return f"{seconds:.1f}s"


def say(section: str, message: str, stream: TextIO | None = None) -> None:
    """One line ``[bench section] message`` on stderr (flushed)."""
    out = stream or sys.stderr
    print(f"[bench {section}] {message}", file=out, flush=True)


class Progress:
    """Counts ``total`` units of one step of ``section``; ``update(n)`` prints rate and ETA now and then."""

    def __init__(self, section: str, step: str, total: int, unit: str = "", every_s: float = 10.0,
                 enabled: bool = True, stream: TextIO | None = None) -> None:
        self.section, self.step, self.total, self.unit = section, step, max(0, int(total)), unit
        self.every_s, self.enabled, self.stream = every_s, enabled, stream
        self.done = 0
        self.start = time.perf_counter()
        self._last = -float("inf")
        self._emit(force=True)

    def update(self, n: int) -> None:
        self.done = min(self.total, self.done + int(n)) if self.total else self.done + int(n)
        self._emit(force=self.done >= self.total)

    def line(self) -> str:
        elapsed = time.perf_counter() - self.start
        unit = f" {self.unit}" if self.unit else ""
        text = f"{self.step}: {self.done:,}/{self.total:,}{unit}"
        if self.total:
            text += f" ({100.0 * self.done / self.total:.0f}%)"
        if self.done and elapsed > 0:
            rate = self.done / elapsed
            text += f", {rate:,.0f}{unit}/s, elapsed {duration(elapsed)}"
            if self.total and self.done < self.total:
                text += f", ETA {duration((self.total - self.done) / rate)}"
        return text

    def _emit(self, force: bool) -> None:
        now = time.perf_counter()
        if self.enabled and (force or now - self._last >= self.every_s):
            self._last = now
            say(self.section, self.line(), self.stream)
