"""Library commands: ``ingest`` (bulk ingest), ``errors`` (failed files), ``clips``, ``info``.

Heavy modules (SQLAlchemy, NumPy, the readers) are imported inside the commands so
``dancesearch --help`` stays instant. Bad input (missing paths, broken sidecars, an unreachable
database) ends with a one-line error and exit code 2 (1 for the database), never a traceback.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dancesearch.commands.search import ModelOpt
from dancesearch.options import DataDirOpt, DbOpt, JsonOpt

if TYPE_CHECKING:
    from db.library import Library

PathsArg = Annotated[list[Path], typer.Argument(help="Motion files, folders (searched recursively) and zip/tar archives (unpacked into DATA_DIR/archives).")]
MetadataOpt = Annotated[
    list[Path] | None,
    typer.Option("--metadata", help="Sidecar with labels/splits: a manifest.json or a CSV with a "
                                    "'file' column (repeatable)."),
]
WorkersOpt = Annotated[int | None, typer.Option(
    "--workers", min=0, help="Worker processes (default: one per CPU; 0 = read files in this process).")]
MaxMbOpt = Annotated[float, typer.Option("--max-file-mb", min=0.001,
                                         help="Skip (and record) files whose content is larger.")]
RigsOpt = Annotated[list[Path] | None, typer.Option("--rigs", help="Extra folder of rig mappings (*.toml).")]
RayOpt = Annotated[bool, typer.Option(
    "--ray", metavar="[ADDRESS]",
    help="Read files as Ray tasks: a local Ray runtime with --workers CPUs, or with an ADDRESS (--ray auto, "
         "--ray HOST:6379, --ray ray://HOST:10001; the same as --ray-address) that cluster (needs pip "
         "install 'dancesearch\\[ray]').")]
RayAddressOpt = Annotated[str | None, typer.Option(
    "--ray-address", metavar="ADDRESS",
    help="Join this Ray cluster (auto, HOST:6379 or ray://HOST:10001; implies --ray). Input files and "
         "--data-dir must be on storage every node mounts at the same path.")]
IndexOpt = Annotated[bool | None, typer.Option(
    "--index/--no-index", help="Then sync the search indexes, embedding the new windows (default: with --ray, "
                               "on Ray actors; without --ray, no: the first search or `dancesearch reindex` does).")]


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _open_library(data_dir: Path | None, db: str | None) -> Library:
    from sqlalchemy.exc import SQLAlchemyError

    from db.config import LibraryLocation
    from db.library import Library
    from db.migrate import SchemaError

    location = LibraryLocation.resolve(data_dir, db)
    try:
        return Library.open(location)
    except (SQLAlchemyError, SchemaError, OSError) as exc:
        from sqlalchemy.engine import make_url
        url = make_url(location.db_url).render_as_string(hide_password=True)
        raise _fail(f"cannot open the library at {url}: {str(exc).splitlines()[0]}", 1) from None


def _print_json(doc: Any) -> None:
    typer.echo(json.dumps(doc, ensure_ascii=False, default=str))


def ingest(paths: PathsArg, metadata: MetadataOpt = None, workers: WorkersOpt = None,
           max_file_mb: MaxMbOpt = 512.0, rigs: RigsOpt = None, ray: RayOpt = False,
           ray_address: RayAddressOpt = None, index: IndexOpt = None, model: ModelOpt = None,
           json_out: JsonOpt = False, data_dir: DataDirOpt = None, db: DbOpt = None) -> None:
    """Ingest motion files and folders into the library (skipping what is already there); with --ray
    (or --index) then sync the search indexes, embedding the new windows (on Ray actors with --ray).

    Exit status: 0 all motion files are in the library, 1 some failed (listed by `dancesearch errors`)
    or the index sync failed, 2 nothing could be ingested or bad usage; --json prints the summary in
    every case (with "indexed": the sync's reports, when the indexes were synced).
    """
    from contextlib import ExitStack

    from indexer.ingest import Ingester, IngestInputError, IngestOptions
    from indexer.metadata import MetadataError, load_metadata
    from indexer.ray_ingest import RAY_MISSING, RayIngestError, RayOptions, RayRuntime, ray_available

    ray_opts = None
    if ray or ray_address:
        if not ray_available():
            raise _fail(RAY_MISSING)
        # On a cluster --workers (when given) bounds the tasks in flight; locally it is the runtime's CPUs.
        ray_opts = RayOptions(address=ray_address or None, num_cpus=None if ray_address else (workers or None),
                              max_inflight=workers if ray_address and workers else None)
    sync_indexes = ray_opts is not None if index is None else index
    try:
        meta = load_metadata(metadata or [])
        for r in rigs or []:
            if not r.is_dir():
                raise IngestInputError(f"{r}: rig folder not found")
    except (MetadataError, IngestInputError) as exc:
        raise _fail(str(exc)) from None
    if sync_indexes:
        _check_model(model)
    opts = IngestOptions(workers=(os.cpu_count() or 1) if workers is None else workers,
                         max_file_mb=max_file_mb, metadata=meta,
                         rig_dirs=tuple(str(r) for r in rigs or []), progress=not json_out, ray=ray_opts)
    indexed: dict[str, Any] | None = None
    with ExitStack() as stack:
        try:
            # One Ray runtime for the ingest tasks and the embedding actors (the ingest joins it).
            rt = stack.enter_context(RayRuntime(ray_opts)) if ray_opts is not None and sync_indexes else None
        except RayIngestError as exc:
            raise _fail(str(exc)) from None
        with _open_library(data_dir, db) as lib:
            ingester = Ingester(lib, opts)
            try:
                summary = ingester.run([str(p) for p in paths])
            except (IngestInputError, RayIngestError) as exc:
                raise _fail(str(exc)) from None
            except KeyboardInterrupt:
                typer.echo(f"\ninterrupted after adding {ingester.summary.added} clips; run the same "
                           "command again to finish", err=True)
                raise typer.Exit(130) from None
        code = ingest_exit_code(summary.added, summary.skipped, summary.failed)
        if sync_indexes:
            try:
                indexed, failure = _sync_indexes(model, data_dir, db, rt, None if not ray_address else workers,
                                                 progress=not json_out)
            except KeyboardInterrupt:
                typer.echo("\ninterrupted while syncing the indexes; the clips are in the library, and the "
                           "next sync (`dancesearch reindex`, or the first search) finishes", err=True)
                raise typer.Exit(130) from None
            if failure is not None:
                typer.echo(f"error: the clips are in the library, but syncing the indexes failed: {failure}; "
                           "`dancesearch reindex` finishes it", err=True)
                code = max(code, 1)
    if json_out:
        _print_json(summary.to_json() | ({"indexed": indexed} if sync_indexes else {}))
        raise typer.Exit(code)
    fps = summary.frames / summary.seconds if summary.seconds > 0 else 0.0
    typer.echo(f"added {summary.added} clips ({summary.frames} frames, {summary.frames / 25 / 60:.1f} min), "
               f"skipped {summary.skipped}, failed {summary.failed}, ignored {summary.ignored} "
               f"in {summary.seconds:.1f} s ({fps:.0f} frames/s)")
    for path, reason in summary.errors[:10]:
        typer.echo(f"  failed: {path}: {reason}")
    if summary.failed:
        typer.echo(f"  ({summary.failed} failures recorded; list them with `dancesearch errors`)")
    if indexed is not None:
        typer.echo(index_line(indexed))
    raise typer.Exit(code)


def _check_model(model: Path | None) -> None:
    """Fail before ingesting when the indexes are to be synced and no model can be found."""
    from dancesearch.engine_factory import resolve_model_dir
    from search.errors import ModelMissing

    try:
        resolve_model_dir(model)
    except ModelMissing as exc:
        raise _fail(f"{exc} (--no-index ingests without syncing the indexes)") from None


def _sync_indexes(model: Path | None, data_dir: Path | None, db: str | None, rt: Any, actors: int | None,
                  progress: bool) -> tuple[dict[str, Any] | None, str | None]:
    """Sync the search indexes (on Ray actors when ``rt`` is a Ray runtime): (the reports, None) or
    (None, what failed)."""
    import time
    from contextlib import nullcontext

    from dancesearch.engine_factory import open_engine, ray_embedding
    from indexer.ray_ingest import RayIngestError
    from search.errors import SearchError
    from search.indexes import IndexBuildError

    t0 = time.perf_counter()
    try:
        with open_engine(model, data_dir, db, sync=False, progress=progress) as engine:
            with ray_embedding(engine, model, rt, actors) if rt is not None else nullcontext():
                reports = engine.sync()
    except (SearchError, RayIngestError, IndexBuildError) as exc:
        return None, str(exc)
    return {"seconds": round(time.perf_counter() - t0, 3), "indexes": reports}, None


def index_line(indexed: dict[str, Any]) -> str:
    """One line saying what the index sync did and where the windows were embedded."""
    windows = indexed["indexes"].get("windows", {})
    where = windows.get("embedded_on") or {}
    place = (f" on {where['actors']} Ray actors ({where['device']})" if where.get("on") == "ray"
             else " in this process" if where else "")
    sizes = ", ".join(f"{name} {r['size']}" for name, r in indexed["indexes"].items())
    return (f"indexed: {windows.get('embedded', 0)} windows embedded{place}; index sizes {sizes} "
            f"in {indexed['seconds']:.1f} s")


def ingest_exit_code(added: int, skipped: int, failed: int) -> int:
    """0: every motion file is in the library; 1: some files failed; 2: files failed and none is in
    the library (nothing added or already there), or bad usage (see ``_fail``)."""
    if not failed:
        return 0
    return 1 if added or skipped else 2


def errors(json_out: JsonOpt = False,
           all_: Annotated[bool, typer.Option("--all", help="Include errors of files that later ingested fine.")] = False,
           limit: Annotated[int | None, typer.Option("--limit", min=1)] = None,
           data_dir: DataDirOpt = None, db: DbOpt = None) -> None:
    """List files that failed to ingest, newest first, with the reason."""
    with _open_library(data_dir, db) as lib:
        errs = lib.list_errors(include_resolved=all_, limit=limit)
    if json_out:
        _print_json([e.to_json() for e in errs])
        return
    if not errs:
        typer.echo("no ingest errors")
    for e in errs:
        mark = " (resolved)" if e.resolved else ""
        typer.echo(f"{e.created_at:%Y-%m-%d %H:%M:%S}  {e.path}: {e.reason}{mark}")


def clips(json_out: JsonOpt = False,
          source: Annotated[str | None, typer.Option("--source", help="Only clips of this source.")] = None,
          split: Annotated[str | None, typer.Option("--split", help="Only clips with a part in this split.")] = None,
          limit: Annotated[int | None, typer.Option("--limit", min=1)] = None,
          data_dir: DataDirOpt = None, db: DbOpt = None) -> None:
    """List clips of the library."""
    with _open_library(data_dir, db) as lib:
        rows = lib.list_clips(source=source, split=split, limit=limit)
    if json_out:
        _print_json([c.to_json() for c in rows])
        return
    for c in rows:
        split_s = c.split if isinstance(c.split, str) or c.split is None else "+".join(c.split)
        label = c.description or ", ".join(f"{k}={v}" for k, v in c.labels.items())
        typer.echo(f"{c.id:6d}  {c.source:<10} {c.duration:7.1f}s  {split_s or '-':<10} {label[:60]:<60}  {c.path}")


def info(json_out: JsonOpt = False, data_dir: DataDirOpt = None, db: DbOpt = None) -> None:
    """Library statistics: clips, windows, hours, clips per source, windows per split, errors."""
    with _open_library(data_dir, db) as lib:
        st = lib.stats()
    if json_out:
        _print_json(st.to_json())
        return
    typer.echo(f"library: {st.db_url}  (data {st.data_dir})")
    typer.echo(f"clips {st.clips}, windows {st.windows}, {st.seconds / 3600:.2f} h, open errors {st.errors}")
    for name, n in sorted(st.sources.items()):
        typer.echo(f"  source {name:<12} {n:6d} clips")
    for name, n in sorted(st.window_splits.items()):
        typer.echo(f"  split  {name:<12} {n:6d} windows")


def register(app: typer.Typer) -> None:
    """Attach this module's commands to the top-level app."""
    app.command("ingest")(ingest)
    app.command("errors")(errors)
    app.command("clips")(clips)
    app.command("info")(info)
