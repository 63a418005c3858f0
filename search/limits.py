"""How much work one request may ask of the engine: the one limits object the engine enforces and the
HTTP service mirrors (``ServiceSettings.limits()``, env ``DANCESEARCH_MAX_K``, ``DANCESEARCH_MAX_OFFSET``).

An anonymous caller of the open read endpoints must not be able to make the engine rank millions of rows
(a large ``offset``), grow memory without bound (one cached filter mask per distinct label filter) or
fill the disk (every generated motion is a file). Defaults:

* ``max_k`` 100 results per page and ``max_offset`` 1,000: the engine ranks at most a few thousand rows
  per request under its lock;
* filters: at most ``max_filter_labels`` label conditions of at most ``max_filter_chars`` characters;
  the masks of the ``filter_cache_entries`` most recently used filters are kept (LRU);
* generated motions expire after ``generated_max_age_s`` and the folder is pruned, oldest first, to
  ``generated_max_bytes`` whenever a new one is written.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SearchLimits:
    """Bounds on the work of one request (see the module docstring)."""

    max_k: int = 100
    max_offset: int = 1_000
    max_filter_labels: int = 16
    max_filter_chars: int = 200
    filter_cache_entries: int = 64
    generated_max_age_s: float = 3600.0
    generated_max_bytes: int = 256 * 1024 * 1024


DEFAULT_LIMITS = SearchLimits()
# Listing the library (clips, not ranked results) may page further.
LISTING_LIMITS = SearchLimits(max_k=1_000, max_offset=1_000_000)
