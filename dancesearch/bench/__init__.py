"""The ``dancesearch bench`` benchmark: ingest speed, query latency, load, scale, peers and quality.

One module per report section (:mod:`machine`, :mod:`ingest`, :mod:`latency`, :mod:`load`,
:mod:`scale`, :mod:`peers`, :mod:`quality`), the shared settings and statistics (:mod:`config`,
:mod:`stats`), the query sets and the HTTP server used by the latency and load sections
(:mod:`queries`, :mod:`server`), realistic vectors for the scale section (:mod:`vectors`), the
report writer (:mod:`report`) and the orchestration (:mod:`runner`). Nothing is imported at package
import time beyond this docstring; the heavy modules load when a section runs.
"""
