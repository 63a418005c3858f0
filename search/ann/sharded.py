"""``sharded``: one logical index split into shards of any backend, built in parallel, searched together.

Why: a library beyond one machine's RAM (or one core's build time) is split into shards that are built
concurrently and can live on different nodes; a query fans out to every shard and the per-shard top-k
lists are merged by score. Each shard is an ordinary saved index (``shard-000/``... with its own
``config.json``), so a shard directory can be shipped to and loaded by another node as it is.

Routing is by id (``id % shards``), so add/remove/duplicate checks touch one shard per id and the ids
are the DB ids, as for every backend. Merging per-shard top-k by exact score gives the same ids and
scores as one index of the same backend when the shards are exact (``flat``, ``exact``). For
``ivfpq`` the shards share one training (:meth:`ShardedIndex.train`, or the first add trains one
quantiser on the whole batch and copies it to every shard), so every shard probes the same lists a
single index would; each shard re-ranks its own ``k * rerank`` candidates, a superset of what one
index would re-rank, so recall is never lower than the unsharded index's.

Searches fan out over a thread pool of ``workers`` threads (FAISS releases the GIL); ``workers=1``
searches shards one after another (what the benchmark measures for single-query latency on one core).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Self, TypeVar

import numpy as np
import numpy.typing as npt

from search.ann.base import AnnIndex, FloatArray, IdArray, InvalidInputError, SearchResult

logger = logging.getLogger(__name__)

T = TypeVar("T")


def shard_name(i: int) -> str:
    return f"shard-{i:03d}"


def merge_topk(scores: list[FloatArray], ids: list[IdArray], k: int) -> SearchResult:
    """Merge per-shard ``(q, k)`` results into the global top ``k`` (padding -1/-inf sorts last)."""
    all_scores, all_ids = np.concatenate(scores, axis=1), np.concatenate(ids, axis=1)
    all_scores = np.where(all_ids < 0, -np.inf, all_scores).astype(np.float32)
    order = np.lexsort((all_ids, -all_scores), axis=1)[:, :k]
    return np.take_along_axis(all_scores, order, axis=1), np.take_along_axis(all_ids, order, axis=1)


class ShardedIndex(AnnIndex):
    """``shards`` indexes of backend ``inner`` (built with ``inner_params``), routed by ``id % shards``.

    ``workers``: threads for parallel add and search (None = one per shard).
    """

    backend = "sharded"

    def __init__(self, dim: int, metadata: Mapping[str, Any] | None = None, use_gpu: bool | None = None,
                 shards: int = 4, inner: str = "ivfpq", inner_params: Mapping[str, Any] | None = None,
                 workers: int | None = None) -> None:
        super().__init__(dim, metadata)
        from search.ann.factory import backend_class

        if not isinstance(shards, int) or shards < 1:
            raise InvalidInputError(f"sharded shards must be a positive integer, got {shards!r}")
        if workers is not None and (not isinstance(workers, int) or workers < 1):
            raise InvalidInputError(f"sharded workers must be a positive integer or None, got {workers!r}")
        if inner == self.backend:
            raise InvalidInputError("a sharded index cannot hold sharded shards")
        self.inner_class = backend_class(inner)
        self.n_shards, self.inner, self.workers = shards, inner, workers
        self.inner_params = dict(inner_params or {})
        self.use_gpu = use_gpu
        self.shards: list[AnnIndex] = [self._new_shard() for _ in range(shards)]
        self._fresh = True  # no add yet: the first add may train one quantiser for all shards

    def _new_shard(self) -> AnnIndex:
        extra: dict[str, Any] = {} if self.inner == "exact" else {"use_gpu": self.use_gpu}
        return self.inner_class(self.dim, **extra, **self.inner_params)

    def params(self) -> dict[str, Any]:
        return {"shards": self.n_shards, "inner": self.inner, "inner_params": self.inner_params,
                "workers": self.workers}

    @property
    def config(self) -> dict[str, Any]:
        return {**super().config, "state": {"shard_sizes": [len(s) for s in self.shards]}}

    def __len__(self) -> int:
        return sum(len(s) for s in self.shards)

    def ids(self) -> IdArray:
        return np.concatenate([s.ids() for s in self.shards])

    # ----------------------------------------------------------------- shared training
    def train(self, vectors: npt.ArrayLike) -> None:
        """Train one quantiser on ``vectors`` and give every shard a copy (inner backends with ``train``)."""
        template = self._new_shard()
        if not hasattr(template, "train"):
            raise InvalidInputError(f"inner backend {self.inner!r} has no separate training")
        template.train(vectors)
        self._adopt(template)

    def _adopt(self, template: Any) -> None:
        copies = [template.trained_copy() for _ in self.shards]
        for i, (old, new) in enumerate(zip(self.shards, copies, strict=True)):
            if len(old):
                new.add(old.vectors_for(old.ids()), old.ids())
            self.shards[i] = new
        self._fresh = False

    # ----------------------------------------------------------------- AnnIndex hooks
    def _route(self, ids: IdArray) -> list[npt.NDArray[np.bool_]]:
        owner = ids % self.n_shards
        return [owner == i for i in range(self.n_shards)]

    def _parallel(self, fn: Callable[[int], T]) -> list[T]:
        workers = self.workers or self.n_shards
        if workers == 1 or self.n_shards == 1:
            return [fn(i) for i in range(self.n_shards)]
        with ThreadPoolExecutor(max_workers=min(workers, self.n_shards)) as pool:
            return list(pool.map(fn, range(self.n_shards)))

    def _add(self, vectors: FloatArray, ids: IdArray) -> None:
        if self._fresh:
            self._fresh = False
            template: Any = self._new_shard()
            min_train = getattr(template, "min_train", None)
            if hasattr(template, "trained_copy") and min_train is not None and len(vectors) >= min_train:
                template.train(vectors)  # one quantiser for all shards, as one index would have
                self._adopt(template)
        masks = self._route(ids)
        self._parallel(lambda i: self.shards[i].add(vectors[masks[i]], ids[masks[i]]) if masks[i].any() else None)

    def _vectors_for(self, ids: IdArray) -> FloatArray:
        out = np.empty((len(ids), self.dim), dtype=np.float32)
        for shard, mask in zip(self.shards, self._route(ids), strict=True):
            if mask.any():
                out[mask] = shard.vectors_for(ids[mask])
        return out

    def _remove(self, ids: IdArray) -> None:
        for shard, mask in zip(self.shards, self._route(ids), strict=True):
            if mask.any():
                shard.remove(ids[mask])

    def _search(self, queries: FloatArray, k: int, allowed: IdArray | None) -> SearchResult:
        def one(i: int) -> SearchResult:
            part = None if allowed is None else allowed[allowed % self.n_shards == i]
            return self.shards[i].search(queries, k, part)

        results = self._parallel(one)
        return merge_topk([r[0] for r in results], [r[1] for r in results], k)

    def _write_components(self, directory: Path) -> None:
        for i, shard in enumerate(self.shards):
            shard.save(directory / shard_name(i))

    @classmethod
    def _read_components(cls, directory: Path, config: dict[str, Any], use_gpu: bool | None) -> Self:
        from search.ann.factory import load

        index = cls(config["dim"], config.get("metadata"), use_gpu=use_gpu, **config["params"])
        for i in range(index.n_shards):
            shard = load(directory / shard_name(i), use_gpu=use_gpu)
            if shard.backend != index.inner or shard.dim != index.dim:
                raise ValueError(f"{shard_name(i)} is a {shard.backend!r} index of dim {shard.dim}, expected "
                                 f"{index.inner!r} of dim {index.dim}")
            index.shards[i] = shard
        index._fresh = False
        return index
