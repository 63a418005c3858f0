"""Embedding library windows on Ray: a small pool of actors, each loading the model once.

Used when the search indexes are synced after ``dancesearch ingest --ray`` (and by ``dancesearch
reindex --ray``): :class:`RayWindowEmbedder` is a :class:`indexer.embedding.ClipWindowEmbedder`, so the
index manager (:class:`search.indexes.IndexManager`) hands it the same :class:`WindowWork` items it
would embed in its own process and gets the same vectors, window ids and clusters back, item by item,
in order; everything else of the sync (checks, index writes, DB marks) stays in the driver.

* **What travels.** An item is motion store keys, window start frames and window ids (a few kB for
  512 windows); the actors read the motions from the motion store (``DATA_DIR/motions``) themselves,
  so it must be on storage every node mounts at the same path, as for ingest (checked first:
  :func:`indexer.ray_ingest.check_nodes`). Results are float32 vectors and cluster ids.
* **Where.** ``model_factory(device)`` runs once in each actor (for the CLI:
  :func:`dancesearch.engine_factory.load_window_model` of the model directory, which every node must
  also see). When the cluster reports GPUs (``ray.cluster_resources()["GPU"]``) each actor asks for one
  GPU and runs the model on CUDA (one actor per GPU); otherwise one CPU each (one actor per CPU, at most
  :data:`MAX_ACTORS`). An actor given a GPU that torch cannot use falls back to the CPU and says so.
  Every actor reports its model version; they must all equal the driver's model version.
* **Backpressure.** At most ``per_actor`` items per actor (default 2) are submitted and not yet
  consumed; the next item is read from the (lazy) work sequence only when one is consumed, and results
  are consumed in submission order, so neither the object store nor the driver's memory grows with the
  archive, while each actor always has its next item queued.
* **Failures.** An item whose actor dies (killed, out of memory, node lost) is resubmitted to another
  actor, and the dead actor is replaced (at most as many replacements as actors); an item that has
  killed ``max_attempts`` actors, an actor that cannot load the model, or an error raised by the model
  stop the sync with a :class:`RayEmbedError` naming the problem. The index manager saves an index only
  after all of its items are in, so a failed sync leaves the saved index as it was (rows marked before
  the failure are re-embedded by the next sync: :mod:`search.indexes`).

Ray is an optional extra (``pip install 'dancesearch[ray]'``); this module imports it only inside its
functions and imports nothing of :mod:`search` or :mod:`embedders`.
"""

from __future__ import annotations

import logging
import os
import socket
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from db.store import MotionStore
from indexer.embedding import ClipsModel, EmbeddedWindows, WindowWork, embed_work
from indexer.ray_ingest import RayIngestError, RayRuntime, check_nodes

log = logging.getLogger(__name__)

MAX_ACTORS = 16
"""Default ceiling on CPU actors (each loads the model and torch: a few hundred MB)."""
BATCH_WINDOWS = 512
"""Windows per item (the local path's batch, search.indexes.MODEL_BATCH)."""


class RayEmbedError(RayIngestError):
    """Embedding on Ray failed: an actor cannot start or load the model, an item killed its actors too
    often, or the model raised; the sync that used it saved nothing."""


@dataclass(frozen=True)
class RayEmbedOptions:
    """How to embed on Ray.

    ``model_factory(device)`` builds the model in an actor (``device`` is ``"cuda"`` or ``"cpu"``; it must be
    picklable: a module-level function or a ``functools.partial`` of one). ``store_root``: the motion store
    folder (``Library.store.root``). ``actors``: pool size (default: the cluster's GPUs, else its CPUs up to
    :data:`MAX_ACTORS`; never more than the cluster can place). ``use_gpu``: None = when the cluster reports
    GPUs. ``per_actor``: items in flight per actor. ``max_attempts``: actors an item may kill before the
    sync fails. ``start_timeout_s``: how long the pool may take to start (placement and model loading).
    ``on_submit``: called with the number of items in flight after each submission (tests).
    """

    model_factory: Callable[[str], ClipsModel]
    store_root: str
    actors: int | None = None
    use_gpu: bool | None = None
    per_actor: int = 2
    batch_windows: int = BATCH_WINDOWS
    max_attempts: int = 3
    start_timeout_s: float = 300.0
    on_submit: Callable[[int], None] | None = None


def plan_pool(resources: Mapping[str, float], options: RayEmbedOptions) -> tuple[int, bool]:
    """(actors, whether each asks for a GPU) for a cluster with ``resources`` (``ray.cluster_resources()``)."""
    gpus, cpus = int(resources.get("GPU", 0)), max(1, int(resources.get("CPU", 1)))
    use_gpu = gpus > 0 if options.use_gpu is None else options.use_gpu
    if use_gpu and gpus < 1:
        raise RayEmbedError("GPU embedding actors were asked for, but the Ray cluster reports no GPU")
    room = gpus if use_gpu else cpus
    wanted = options.actors if options.actors else min(room, MAX_ACTORS)
    if wanted > room:
        log.warning("ray embed: %d actors asked for, the cluster has room for %d", wanted, room)
    return max(1, min(wanted, room)), use_gpu


def actor_device(want_gpu: bool) -> str:
    """``"cuda"`` when a GPU was asked for and torch can use one (Ray exposes the actor's GPU as cuda:0),
    else ``"cpu"``."""
    if not want_gpu:
        return "cpu"
    try:
        import torch
    except ImportError:
        return "cpu"
    if torch.cuda.is_available():
        return "cuda"
    log.warning("ray embed actor on %s: a GPU was assigned but torch cannot use CUDA; embedding on the CPU",
                socket.gethostname())
    return "cpu"


class _EmbedActor:
    """The actor: the model loaded once, items embedded with the local path's :func:`embed_work`."""

    def __init__(self, factory: Callable[[str], ClipsModel], store_root: str, want_gpu: bool) -> None:
        self.device = actor_device(want_gpu)
        self.model = factory(self.device)
        self.store = MotionStore(store_root)

    def info(self) -> dict[str, Any]:
        return {"version": self.model.version, "device": self.device, "host": socket.gethostname(),
                "pid": os.getpid()}

    def embed(self, work: WindowWork) -> EmbeddedWindows:
        return embed_work(self.model, self.store, work)


@dataclass(eq=False)
class _Actor:
    handle: Any
    in_flight: int = 0
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(eq=False)
class _Item:
    work: WindowWork
    actor: _Actor | None = None
    ref: Any = None
    attempts: int = 0


def _died_types(ray: Any) -> tuple[type[BaseException], ...]:
    ex = ray.exceptions
    return tuple(getattr(ex, n) for n in ("RayActorError", "ActorUnavailableError", "WorkerCrashedError",
                                          "OutOfMemoryError", "NodeDiedError", "ObjectLostError",
                                          "OwnerDiedError") if hasattr(ex, n))


class RayWindowEmbedder:
    """A :class:`indexer.embedding.ClipWindowEmbedder` running on a pool of Ray actors (see the module
    docstring). The pool starts on the first :meth:`embed` (a sync with nothing to embed starts nothing)
    and stops on :meth:`close` (or leaving the ``with`` block); ``rt`` must stay entered meanwhile."""

    def __init__(self, rt: RayRuntime, options: RayEmbedOptions) -> None:
        self.rt, self.options = rt, options
        self.batch_windows = options.batch_windows
        self.actors: list[_Actor] = []
        self.use_gpu = False
        self.size = 0
        self.replacements = 0
        self.stats = {"batches": 0, "windows": 0, "retried": 0, "actors_lost": 0, "peak_in_flight": 0}
        self._remote: Any = None
        self._started = False

    def __enter__(self) -> RayWindowEmbedder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def max_in_flight(self) -> int:
        return max(1, self.size * self.options.per_actor)

    # ---- pool -----------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the actors and wait until each has loaded the model (idempotent)."""
        if self._started:
            return
        ray = self.rt.ray
        check_nodes(self.rt, self.options.store_root, [])
        self.size, self.use_gpu = plan_pool(ray.cluster_resources(), self.options)
        self._remote = ray.remote(_EmbedActor).options(
            num_cpus=1, num_gpus=1 if self.use_gpu else 0, max_restarts=0, max_task_retries=0)
        self.actors = [self._spawn() for _ in range(self.size)]
        self._started = True
        try:
            infos = ray.get([a.handle.info.remote() for a in self.actors], timeout=self.options.start_timeout_s)
        except ray.exceptions.GetTimeoutError:
            self.close()
            raise RayEmbedError(
                f"the {self.size} Ray embedding actors ({'1 GPU' if self.use_gpu else '1 CPU'} each) did not start "
                f"within {self.options.start_timeout_s:.0f} s; free resources: {ray.available_resources()}") from None
        except ray.exceptions.RayError as exc:
            self.close()
            raise RayEmbedError(f"a Ray embedding actor cannot load the model: {_actor_failure(exc)}") from None
        for actor, info in zip(self.actors, infos, strict=True):
            actor.info = info
        versions = {i["version"] for i in infos}
        if len(versions) > 1:
            where = ", ".join(f"{i['host']}: {i['version']}" for i in infos)
            self.close()
            raise RayEmbedError(f"the Ray embedding actors loaded different models ({where}): every node must "
                                "see the same model directory")
        log.info("ray embed: %d actors on %s, %d windows per batch, at most %d batches in flight",
                 self.size, self.device(), self.batch_windows, self.max_in_flight)

    def _spawn(self) -> _Actor:
        return _Actor(self._remote.remote(self.options.model_factory, self.options.store_root, self.use_gpu))

    def close(self) -> None:
        """Stop every actor of the pool."""
        ray = self.rt.ray
        for actor in self.actors:
            try:
                ray.kill(actor.handle)
            except Exception:  # noqa: BLE001 - already dead, or the cluster is gone
                log.debug("cannot kill a Ray embedding actor", exc_info=True)
        self.actors = []
        self._started = False

    def device(self) -> str:
        """Where the actors run the model: "cpu", "cuda", or "mixed" (some fell back to the CPU)."""
        devices = {str(a.info["device"]) for a in self.actors if a.info}
        if not devices:
            return "cuda" if self.use_gpu else "cpu"
        return devices.pop() if len(devices) == 1 else "mixed"

    def describe(self) -> dict[str, Any]:
        return {"on": "ray", "actors": self.size, "device": self.device(), "gpus_per_actor": int(self.use_gpu),
                "batch_windows": self.batch_windows, "max_in_flight": self.max_in_flight, **self.stats}

    def _lost(self, actor: _Actor, exc: BaseException) -> None:
        """``actor`` died: drop it and start a replacement while the budget lasts."""
        if actor not in self.actors:
            return  # already handled (several of its items failed)
        self.actors.remove(actor)
        self.stats["actors_lost"] += 1
        log.warning("a Ray embedding actor died (%s); %s", _actor_failure(exc),
                    "starting another" if self.replacements < self.size else "no replacement left")
        try:
            self.rt.ray.kill(actor.handle)
        except Exception:  # noqa: BLE001 - it is dead already
            log.debug("cannot kill a dead Ray embedding actor", exc_info=True)
        if self.replacements < self.size:
            self.replacements += 1
            self.actors.append(self._spawn())

    # ---- embedding ----------------------------------------------------------------------------

    def _submit(self, item: _Item) -> None:
        if not self.actors:
            raise RayEmbedError(f"every Ray embedding actor died ({self.stats['actors_lost']} lost, "
                                f"{self.replacements} replaced): killed, out of memory or nodes lost")
        actor = min(self.actors, key=lambda a: a.in_flight)
        actor.in_flight += 1
        item.actor, item.attempts = actor, item.attempts + 1
        item.ref = actor.handle.embed.remote(item.work)

    def embed(self, work: Iterable[WindowWork]) -> Iterator[tuple[WindowWork, EmbeddedWindows]]:
        """Each item with its result, in order (see the module docstring for the bound and retries)."""
        self.start()
        ray = self.rt.ray
        died = _died_types(ray)
        source = iter(work)
        queue: deque[_Item] = deque()
        exhausted = False
        try:
            while True:
                while not exhausted and len(queue) < self.max_in_flight:
                    nxt = next(source, None)
                    if nxt is None:
                        exhausted = True
                        break
                    item = _Item(nxt)
                    self._submit(item)
                    queue.append(item)
                    self.stats["peak_in_flight"] = max(self.stats["peak_in_flight"], len(queue))
                    if self.options.on_submit is not None:
                        self.options.on_submit(len(queue))
                if not queue:
                    return
                head = queue[0]
                try:
                    result: EmbeddedWindows = ray.get(head.ref)
                except died as exc:
                    assert head.actor is not None
                    self._lost(head.actor, exc)
                    if head.attempts >= self.options.max_attempts:
                        clips = [c.clip_id for c in head.work.clips]
                        raise RayEmbedError(
                            f"the Ray actors embedding the windows of clips {clips[0]}-{clips[-1]} died "
                            f"{head.attempts} times (killed, out of memory or node lost; last: {_actor_failure(exc)}); "
                            "the index was not saved: run the sync again") from None
                    self.stats["retried"] += 1
                    self._submit(head)
                    continue
                except ray.exceptions.RayTaskError as exc:
                    cause = exc.cause if getattr(exc, "cause", None) is not None else exc
                    text = str(cause).strip()
                    raise RayEmbedError(f"embedding failed on a Ray actor: {type(cause).__name__}: "
                                        f"{text.splitlines()[0] if text else ''}") from None
                queue.popleft()
                assert head.actor is not None
                head.actor.in_flight -= 1
                self.stats["batches"] += 1
                self.stats["windows"] += head.work.size
                yield head.work, result
        finally:
            for item in queue:  # stopped early: what is still queued on the actors is dropped
                if item.actor is not None:
                    item.actor.in_flight -= 1


def _actor_failure(exc: BaseException) -> str:
    """The useful line of an actor's failure: for a constructor that raised, its exception (the last line
    of Ray's message, after the traceback); else Ray's first line and its last (why the actor died)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    if getattr(exc, "_actor_init_failed", False) or len(lines) == 1:
        return lines[-1]
    return f"{lines[0]} {lines[-1]}"
