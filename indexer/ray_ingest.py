"""Bulk ingest on Ray: the per-file work of :mod:`indexer.ingest_worker` as Ray CPU tasks.

``dancesearch ingest PATH... --ray`` starts a local Ray runtime (``--workers`` CPUs); ``--ray-address
ADDRESS`` (``auto``, ``HOST:6379`` or ``ray://HOST:10001``) joins an existing cluster. Everything but
the per-file work stays in the driver and is shared with the local process pool
(:class:`indexer.ingest.Ingester`): discovery, skipping unchanged files, sidecar labels, and the
database writes (one writer, clips committed with their windows in small transactions), so a Ray run
gives the same clips, windows, content hashes and recorded errors as a local one and is resumable the
same way. The tasks call the local path's :func:`indexer.ingest_worker.process_file` on a few files
each and write the canonical motions to the motion store themselves, so

* the input files and the motion store (``DATA_DIR/motions``) must be on storage every node mounts at
  the same path (checked on every node before the run: :func:`check_nodes`);
* only small results (hashes, frame counts, the store key) travel back to the driver.

Backpressure: at most ``max_inflight`` tasks (default twice the cluster's CPUs) are submitted at any
time and the driver waits (``ray.wait``) for one to finish before submitting the next, so neither the
object store nor the task queue grows with the archive. A task whose worker dies (killed, out of
memory, node lost) is split into one task per file, each retried once by Ray; a file that still kills
its worker is recorded as failed, exactly like the local pool does.

Embedding is not part of these tasks: it happens when the search indexes are synced, from the library
and the store (not the original files). ``dancesearch ingest --ray`` syncs them right after the ingest
(``--no-index`` skips that), in the same Ray runtime, with the windows embedded by a pool of Ray actors
that load the model once each (GPU actors where the cluster has GPUs): :mod:`indexer.ray_embed`.
``dancesearch reindex --ray`` does the same for a rebuild. Without ``--ray``, ingest syncs nothing unless
``--index`` is given (then the windows are embedded in the driver, as ``Engine.open`` does).

Ray is an optional extra (``pip install 'dancesearch[ray]'``); this module imports it only inside
its functions.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from indexer.ingest_worker import FileResult, WorkerConfig, init_worker, process_file

log = logging.getLogger(__name__)

RAY_MISSING = "--ray needs Ray, which is not installed: pip install 'dancesearch[ray]'"
CRASH_REASON = "the Ray worker reading it crashed (killed or out of memory)"
MAX_FILES_PER_TASK = 8


class RayIngestError(RuntimeError):
    """Ray is missing, the cluster cannot be reached, or a node cannot see the shared storage."""


@dataclass(frozen=True)
class RayOptions:
    """How to run ingest on Ray.

    ``address`` None joins the cluster of ``RAY_ADDRESS`` (Ray's convention) when that is set, else
    starts a local runtime with ``num_cpus`` CPUs (Ray's default: all); otherwise it is passed to
    ``ray.init`` (``"auto"``, ``"host:6379"``, ``"ray://host:10001"``). A process already connected
    to Ray (``ray.init`` called before) uses that connection and leaves it open.
    ``max_inflight``: tasks submitted at once (default: twice the cluster's CPUs).
    ``files_per_task``: files one task reads (default: up to 8, fewer for small runs).
    ``task_fn``: the per-file function run in the workers (default ``process_file``; tests inject
    faults through it).
    """

    address: str | None = None
    num_cpus: int | None = None
    max_inflight: int | None = None
    files_per_task: int | None = None
    task_fn: Callable[[str], FileResult] | None = None


def ray_available() -> bool:
    """Whether Ray can be imported (without importing it)."""
    import importlib.util

    return importlib.util.find_spec("ray") is not None


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RayIngestError(RAY_MISSING) from None
    return ray


class RayRuntime:
    """A connection to Ray for one ingest run: started (or joined) on enter, shut down on exit if
    this object started it."""

    def __init__(self, options: RayOptions) -> None:
        self.options = options
        self.ray = _import_ray()
        self._owned = False

    def __enter__(self) -> RayRuntime:
        ray = self.ray
        address = self.options.address or os.environ.get("RAY_ADDRESS") or "local"
        _check_reachable(address)
        if ray.is_initialized():
            return self
        common: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": True}
        try:
            if address == "local":  # a new runtime, even if a `ray start` cluster runs on this machine
                ray.init(address="local", num_cpus=self.options.num_cpus, include_dashboard=False, **common)
            else:
                ray.init(address=address, **common)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if address == "local":
                raise RayIngestError(f"cannot start a local Ray runtime: {msg}") from None
            raise RayIngestError(
                f"cannot join the Ray cluster at {address}: {msg} (is it running? A cluster started with "
                "token authentication, Ray's default, also needs RAY_AUTH_MODE=token and its token in "
                "~/.ray/auth_token or RAY_AUTH_TOKEN here)") from None
        self._owned = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._owned:
            self.ray.shutdown()

    def cpus(self) -> int:
        """CPUs of the cluster (at least 1)."""
        return max(1, int(self.ray.cluster_resources().get("CPU", 1)))


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast when nothing listens at a ``host:port`` or ``ray://host:port`` address (``ray.init``
    itself keeps retrying for minutes)."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not host or not port.isdigit():
        return  # "local", "auto" or a form Ray resolves itself
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise RayIngestError(f"cannot join the Ray cluster at {address}: nothing answers at "
                             f"{host}:{port} ({exc.strerror or exc})") from None


_worker_token: str | None = None


def _run_files(token: str, cfg_box: list[Any], paths: list[str],
               task_fn: Callable[[str], FileResult] | None) -> list[FileResult]:
    """The Ray task: set this worker's ingest state once per run, then process `paths` one by one.

    ``cfg_box`` holds the ObjectRef of the run's :class:`WorkerConfig` (boxed so Ray does not fetch
    it for every task; it is fetched once per worker process).
    """
    global _worker_token
    if _worker_token != token:
        import ray

        cfg: WorkerConfig = ray.get(cfg_box[0])
        init_worker(cfg, ignore_sigint=False)  # Ray owns worker lifetimes: no PDEATHSIG here
        _worker_token = token
    fn = task_fn or process_file
    return [fn(p) for p in paths]


def _probe_node(probe: str, expected: str, sample: list[str]) -> tuple[str, str | None]:
    """Run on one node: can it see the driver's motion store and the input files?"""
    host = socket.gethostname()
    try:
        if Path(probe).read_text() != expected:
            return host, f"the motion store {Path(probe).parent} is a different folder there"
    except OSError:
        return host, f"cannot read the motion store {Path(probe).parent}"
    if not os.access(Path(probe).parent, os.W_OK):
        return host, f"cannot write to the motion store {Path(probe).parent}"
    for p in sample:
        if not os.access(p, os.R_OK):
            return host, f"cannot read the input file {p}"
    return host, None


def check_nodes(rt: RayRuntime, store_root: str, paths: Sequence[str]) -> None:
    """Make sure every alive node with CPUs sees the motion store (same folder, writable) and the
    first input file; raises :class:`RayIngestError` naming the node and what it cannot see."""
    ray = rt.ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    root = Path(store_root)
    root.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex
    probe = root / f".ray-probe-{token}"
    probe.write_text(token)
    try:
        nodes = [n for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) > 0]
        task = ray.remote(_probe_node)
        refs = [task.options(num_cpus=0, max_retries=0, scheduling_strategy=NodeAffinitySchedulingStrategy(
            n["NodeID"], soft=False)).remote(str(probe), token, list(paths[:1])) for n in nodes]
        for (host, problem), node in zip(ray.get(refs, timeout=120), nodes, strict=True):
            if problem:
                raise RayIngestError(
                    f"Ray node {host} ({node.get('NodeManagerAddress')}) {problem}: the input files and "
                    "the data directory must be on storage every node mounts at the same path")
    finally:
        probe.unlink(missing_ok=True)


def _crash_types(ray: Any) -> tuple[type[BaseException], ...]:
    ex = ray.exceptions
    return tuple(getattr(ex, n) for n in ("WorkerCrashedError", "OutOfMemoryError", "NodeDiedError",
                                          "ObjectLostError", "OwnerDiedError") if hasattr(ex, n))


def run_ray(paths: Sequence[str], cfg: WorkerConfig, handle: Callable[[FileResult], None],
            rt: RayRuntime) -> None:
    """Process `paths` as Ray tasks, calling `handle` in this process for every result.

    Results arrive in completion order. Bounded: at most ``max_inflight`` tasks are out at a time.
    """
    if not paths:
        return
    ray = rt.ray
    opts = rt.options
    check_nodes(rt, cfg.store_root, paths)
    cpus = rt.cpus()
    max_inflight = opts.max_inflight or 2 * cpus
    per_task = opts.files_per_task or max(1, min(MAX_FILES_PER_TASK, len(paths) // (max_inflight * 4)))
    queue = [list(paths[i:i + per_task]) for i in range(0, len(paths), per_task)]
    queue.reverse()
    singles: list[str] = []  # files of a task whose worker died, retried one per task
    token = uuid.uuid4().hex
    cfg_box = [ray.put(cfg)]
    task = ray.remote(_run_files)
    batch_task = task.options(num_cpus=1, max_retries=0)
    single_task = task.options(num_cpus=1, max_retries=1)
    crashes = _crash_types(ray)
    inflight: dict[Any, list[str]] = {}
    log.info("ray ingest: %d files, %d per task, %d CPUs, at most %d tasks in flight",
             len(paths), per_task, cpus, max_inflight)
    try:
        while queue or singles or inflight:
            while (queue or singles) and len(inflight) < max_inflight:
                if singles:
                    batch = [singles.pop()]
                    inflight[single_task.remote(token, cfg_box, batch, opts.task_fn)] = batch
                else:
                    batch = queue.pop()
                    inflight[batch_task.remote(token, cfg_box, batch, opts.task_fn)] = batch
            done, _ = ray.wait(list(inflight), num_returns=1)
            for ref in done:
                batch = inflight.pop(ref)
                try:
                    results = ray.get(ref)
                except crashes as exc:
                    _crashed(batch, singles, handle, exc)
                    continue
                except ray.exceptions.RayTaskError as exc:  # process_file never raises; this is Ray's
                    _crashed(batch, singles, handle, exc, f"the Ray task reading it failed: "
                                                          f"{type(exc.cause).__name__}: {exc.cause}")
                    continue
                for res in results:
                    handle(res)
    finally:  # interrupted or failed: stop what is still running (its files are simply not committed)
        for ref in inflight:
            try:
                ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 - the cluster may already be gone
                log.debug("cannot cancel a Ray task", exc_info=True)


def _crashed(batch: list[str], singles: list[str], handle: Callable[[FileResult], None],
             exc: BaseException, reason: str = CRASH_REASON) -> None:
    if len(batch) > 1:
        log.warning("a Ray task of %d files failed (%s); retrying them one per task",
                    len(batch), type(exc).__name__)
        singles.extend(reversed(batch))
    else:
        log.warning("%s: %s", batch[0], reason)
        handle(FileResult(batch[0], "failed", reason=reason))
