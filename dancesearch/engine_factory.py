"""The one place where the CLI and the HTTP service pick a model directory and open the search Engine.

Model resolution, the same everywhere: an explicit directory (``--model DIR``), then the environment
(``DANCESEARCH_MODEL``), then the model shipped with the repository at ``<repo root>/models/default``.
A missing or unloadable model is a :class:`search.errors.ModelMissing` whose message says what was
looked for and how to train one.

Threads: torch runs with ``DANCESEARCH_TORCH_THREADS`` threads (default: the core count, at most 4)
and FAISS with one thread per query (the benchmark's latency section, docs/bench/bench.md, runs with
these settings; its scale section shows the single-thread FAISS rows). On a machine busy with other
work, OpenMP threads that spin while waiting can make several torch threads slower than one, so importing
the ``dancesearch`` package defaults ``OMP_WAIT_POLICY=PASSIVE`` (``scripts/bench_text_query.py`` compares)
and a busy host may set ``DANCESEARCH_TORCH_THREADS=1``.

Heavy modules (torch, the model, the engine) are imported inside the functions, so importing this
module costs nothing.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from search.errors import ModelMissing

if TYPE_CHECKING:
    from embedders.runtime import DanceSearchModel
    from indexer.ray_embed import RayWindowEmbedder
    from indexer.ray_ingest import RayRuntime
    from search.engine import Engine
    from search.limits import SearchLimits

logger = logging.getLogger(__name__)

MODEL_ENV = "DANCESEARCH_MODEL"
THREADS_ENV = "DANCESEARCH_TORCH_THREADS"
TRAIN_HINT = "dancesearch train --corpus ../shared/corpus --out models/default"


def default_model_dir() -> Path:
    """The shipped default model: ``<repo root>/models/default`` (the package is installed editable)."""
    import dancesearch

    return Path(dancesearch.__file__).resolve().parents[1] / "models" / "default"


def resolve_model_dir(model: str | os.PathLike[str] | None = None) -> Path:
    """The model directory to use: ``model``, else ``$DANCESEARCH_MODEL``, else :func:`default_model_dir`.

    Raises ModelMissing (naming the directory and where it came from) unless the chosen directory
    holds a ``config.json``.
    """
    env = os.environ.get(MODEL_ENV, "").strip()
    if model is not None and str(model).strip():
        chosen, origin = Path(model).expanduser(), "--model"
    elif env:
        chosen, origin = Path(env).expanduser(), MODEL_ENV
    else:
        chosen = default_model_dir()
        if not (chosen / "config.json").is_file():
            raise ModelMissing(f"no model directory: pass --model DIR or set {MODEL_ENV}, or train the default "
                               f"model {chosen} (from the repository root: `{TRAIN_HINT}`)")
        return chosen
    if not chosen.is_dir():
        raise ModelMissing(f"{chosen}: model directory ({origin}) not found; train one with `{TRAIN_HINT}`")
    if not (chosen / "config.json").is_file():
        raise ModelMissing(f"{chosen}: not a dancesearch model directory ({origin}): it has no config.json")
    return chosen


def torch_threads() -> int:
    """The torch thread count from ``$DANCESEARCH_TORCH_THREADS`` (default: cores, at most 4)."""
    default = max(1, min(4, os.cpu_count() or 1))
    raw = os.environ.get(THREADS_ENV, "").strip()
    try:
        return max(1, int(raw)) if raw else default
    except ValueError:
        logger.warning("%s=%r is not an integer; using %d threads", THREADS_ENV, raw, default)
        return default


def load_model(model: str | os.PathLike[str] | None = None,
               data_dir: str | os.PathLike[str] | None = None) -> DanceSearchModel:
    """Resolve and load the model directory (setting torch's thread count first); ModelMissing if unusable.

    The model is served through :func:`explore.model.serving_model`: ``<NAME>`` concepts of the library
    (``DATA_DIR/concepts``) work in every text, and generation respects the body (bone lengths, feet)."""
    directory = resolve_model_dir(model)
    import torch

    torch.set_num_threads(torch_threads())
    import faiss

    # One FAISS thread per query: single searches are faster on one thread (see the benchmark).
    faiss.omp_set_num_threads(1)
    from db.config import resolve_data_dir
    from embedders.base import ModelLoadError
    from embedders.runtime import DanceSearchModel
    from explore.model import serving_model

    try:
        return serving_model(DanceSearchModel(directory), resolve_data_dir(data_dir) / "concepts")
    except (ModelLoadError, OSError, KeyError, ValueError) as exc:
        raise ModelMissing(f"cannot load the model {directory}: {exc}") from None


def load_window_model(model: str | os.PathLike[str], device: str = "cpu") -> DanceSearchModel:
    """The model directory ``model`` loaded for embedding library windows away from the engine (a Ray
    embedding actor, :mod:`indexer.ray_embed`) on ``device``: the plain :class:`DanceSearchModel`, whose
    window vectors, clusters and version are those of :func:`load_model`'s serving view. Torch threads are
    left to the caller (Ray sets one per CPU of the actor). ModelMissing if unusable."""
    directory = resolve_model_dir(model)
    from embedders.base import ModelLoadError
    from embedders.runtime import DanceSearchModel

    try:
        return DanceSearchModel(directory, device=device)
    except (ModelLoadError, OSError, KeyError, ValueError) as exc:
        raise ModelMissing(f"cannot load the model {directory}: {exc}") from None


def open_engine(model: str | os.PathLike[str] | None = None, data_dir: str | os.PathLike[str] | None = None,
                db: str | None = None, *, sync: bool = True, progress: bool = False,
                limits: SearchLimits | None = None) -> Engine:
    """The Engine over the library at ``data_dir``/``db`` (resolved as the CLI does) with the resolved model.

    ``sync`` checks the indexes against the database now (rebuilding what is stale); otherwise the
    first query does. Raises ModelMissing for the model and lets library errors propagate.
    """
    from db.config import LibraryLocation
    from search.engine import Engine

    loaded = load_model(model, data_dir)
    return Engine.open(LibraryLocation.resolve(data_dir, db), loaded, sync=sync, progress=progress, limits=limits)


@contextmanager
def ray_embedding(engine: Engine, model: str | os.PathLike[str] | None, rt: RayRuntime,
                  actors: int | None = None) -> Iterator[RayWindowEmbedder]:
    """While the block runs, ``engine``'s index syncs embed windows on a pool of Ray actors
    (:mod:`indexer.ray_embed`), each loading the model directory ``model`` (resolved as :func:`load_model`
    does; every node must see it at the same path) with :func:`load_window_model`. ``rt``: an entered
    Ray runtime; ``actors``: pool size (default: the cluster's GPUs, else its CPUs). The actors start on
    the first window to embed and stop when the block ends."""
    from indexer.ray_embed import RayEmbedOptions, RayWindowEmbedder

    directory = str(resolve_model_dir(model).resolve())
    options = RayEmbedOptions(functools.partial(load_window_model, directory), str(engine.lib.store.root),
                              actors=actors)
    previous = engine.indexes.window_embedder
    with RayWindowEmbedder(rt, options) as embedder:
        engine.indexes.window_embedder = embedder
        try:
            yield embedder
        finally:
            engine.indexes.window_embedder = previous
