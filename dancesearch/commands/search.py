"""Query commands: ``search text``, ``search clip``, ``describe``, ``generate`` and ``reindex``.

Every command opens the Engine through :func:`dancesearch.engine_factory.open_engine` (``--model``,
``--data-dir``, ``--db``), answers, and closes it. With ``--json`` a command prints exactly one JSON
document (``search text --batch`` prints one per input line); otherwise a readable table. Domain
errors (missing or unreadable file, no model, invalid query, unknown clip) end with one line
``error: ...`` on stderr and exit code 2 (1 for database errors), never a traceback. Heavy modules
(torch, the engine, SQLAlchemy) are imported inside the commands so ``dancesearch --help`` is instant.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dancesearch.options import DataDirOpt, DbOpt, JsonOpt

if TYPE_CHECKING:
    from motion.data import Motion
    from search.engine import Engine
    from search.types import DescribeResponse, Filters, SearchResponse

HIT_KEYS = ("clip_id", "source_path", "start", "end", "score", "labels", "description", "cluster", "generated")
WHY_KEYS = ("motion_score", "keyword_score", "matched_terms", "metadata_similarity")
"""Text search hits also say why they matched (the signals hybrid search fuses)."""
DESCRIPTION_KEYS = ("text", "score", "cluster")


class GenerateMode(StrEnum):
    """When text search adds a generated motion: below the calibrated threshold, always, or never."""

    auto = "auto"
    always = "always"
    never = "never"


class MatchMode(StrEnum):
    """What search by example puts first: movement that means the same, or the same movement (another rig,
    body or dancer); see :mod:`search.by_example`."""

    similar = "similar"
    same = "same"


class SearchMode(StrEnum):
    """What text search ranks by: motion fused with the clips' metadata, the motion alone, or the metadata words."""

    hybrid = "hybrid"
    motion = "motion"
    keyword = "keyword"


ModelOpt = Annotated[Path | None, typer.Option(
    "--model", help="Model directory (env DANCESEARCH_MODEL; default: models/default of the repository).")]
KOpt = Annotated[int, typer.Option("-k", "--k", help="Number of results.")]
OffsetOpt = Annotated[int, typer.Option("--offset", help="Skip this many results (paging).")]
StartOpt = Annotated[float | None, typer.Option("--start", help="Start of the query range, seconds.")]
EndOpt = Annotated[float | None, typer.Option("--end", help="End of the query range, seconds.")]
ClipIdOpt = Annotated[int | None, typer.Option("--clip-id", help="Query with a library clip instead of a file.")]
FileArg = Annotated[Path | None, typer.Argument(help="Motion file (.bvh, .npz, skeletons .json; optionally .gz).")]
LabelFilterOpt = Annotated[list[str] | None, typer.Option(
    "--filter", help="Label filter key=value, e.g. genre=waltz (repeatable).")]
SourceOpt = Annotated[str | None, typer.Option("--source", help="Only clips of this source.")]
MinDurOpt = Annotated[float | None, typer.Option("--min-duration", help="Only clips at least this long (s).")]
MaxDurOpt = Annotated[float | None, typer.Option("--max-duration", help="Only clips at most this long (s).")]
ClusterOpt = Annotated[bool | None, typer.Option(
    "--cluster-filter/--no-cluster-filter", help="Keep only results in the query's semantic cluster "
                                                 "(default: the model's calibrated choice).")]


class CliInputError(ValueError):
    """Bad command-line input found before the engine is asked (conflicting or malformed options)."""


@contextmanager
def cli_errors() -> Iterator[None]:
    """Turn domain errors into one ``error: ...`` line on stderr and a non-zero exit (never a traceback)."""
    from sqlalchemy.exc import SQLAlchemyError

    from db.library import LibraryError
    from db.migrate import SchemaError
    from motion.data import MotionError
    from search.errors import SearchError

    try:
        yield
    except (CliInputError, SearchError, MotionError) as exc:
        raise fail(str(exc), 2) from None
    except (LibraryError, SchemaError, SQLAlchemyError) as exc:
        raise fail(f"library: {str(exc).splitlines()[0]}", 1) from None
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        raise fail(f"{where}{exc.strerror or exc}", 1) from None


def fail(message: str, code: int) -> typer.Exit:
    """Print ``error: message`` on stderr; the Exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def check_library_exists(data_dir: Path | None, db: str | None) -> None:
    """A search asks an existing library: an embedded (SQLite) library that is not there is an error, not a
    new empty library at a mistyped ``--data-dir`` answered by generated motion."""
    from sqlalchemy.engine import make_url

    from db.config import LibraryLocation

    location = LibraryLocation.resolve(data_dir, db)
    url = make_url(location.db_url)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        raise CliInputError(f"{location.data_dir}: no library here ({Path(url.database).name} does not exist); "
                            f"add motion files first: dancesearch ingest FOLDER --data-dir {location.data_dir}")


@contextmanager
def engine_for(model: Path | None, data_dir: Path | None, db: str | None, progress: bool = True) -> Iterator[Engine]:
    """The Engine for one command (indexes checked on the first query), closed afterwards."""
    from dancesearch.engine_factory import open_engine

    engine = open_engine(model, data_dir, db, sync=False, progress=progress)
    try:
        yield engine
    finally:
        engine.close()


def make_filters(labels: list[str] | None, source: str | None, min_duration: float | None,
                 max_duration: float | None) -> Filters:
    """Filters from the options; ``--filter`` pairs must be ``key=value``."""
    from search.types import Filters

    parsed: dict[str, str] = {}
    for pair in labels or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise CliInputError(f"--filter {pair!r} is not of the form key=value")
        parsed[key.strip()] = value.strip()
    return Filters(source=source or None, labels=parsed, min_duration=min_duration, max_duration=max_duration)


def hits_json(response: SearchResponse, explain: bool = False) -> dict[str, Any]:
    """The ``--json`` document of a search: ``{"results": [{HIT_KEYS...}]}``; with ``explain`` (text
    search) each hit has the WHY_KEYS too and the document says the ``mode``."""
    keys = HIT_KEYS + WHY_KEYS if explain else HIT_KEYS
    doc: dict[str, Any] = {"results": [{key: getattr(hit, key) for key in keys} for hit in response.results]}
    if explain:
        doc["mode"] = response.mode
    return doc


def descriptions_json(response: DescribeResponse) -> dict[str, Any]:
    """The ``--json`` document of describe: ``{"results": [{"text", "score", "cluster"}]}``."""
    return {"results": [{key: getattr(d, key) for key in DESCRIPTION_KEYS} for d in response.results]}


def print_json(doc: Any) -> None:
    typer.echo(json.dumps(doc, ensure_ascii=False))


def why(hit: Any) -> str:
    """Why a text search hit matched, in a few words: motion score, matched words, metadata similarity."""
    parts = [] if hit.motion_score is None else [f"motion {hit.motion_score:.3f}"]
    if hit.matched_terms:
        parts.append(f"words {'/'.join(hit.matched_terms)} ({hit.keyword_score or 0:.2f})")
    if hit.metadata_similarity is not None:
        parts.append(f"metadata {hit.metadata_similarity:.2f}")
    return ", ".join(parts)


def print_hits(response: SearchResponse, explain: bool = False) -> None:
    """A readable table of hits (rank, score, clip, time span, what it is, where it comes from); with
    ``explain`` each line ends with why the hit matched."""
    if not response.results:
        typer.echo("no matching clips")
    for rank, hit in enumerate(response.results, start=response.offset + 1):
        if hit.generated:
            typer.echo(f"{rank:3d}. {hit.score:6.3f}  generated {hit.end - hit.start:5.1f}s motion for "
                       f"{hit.description!r} (save it with `dancesearch generate`)")
            continue
        what = hit.description or ", ".join(f"{k}={v}" for k, v in hit.labels.items() if k != "dance")
        span = f"{hit.start:.2f}-{hit.end:.2f}s"
        reason = f"  ({why(hit)})" if explain and why(hit) else ""
        typer.echo(f"{rank:3d}. {hit.score:6.3f}  clip {hit.clip_id:<5} {span:<15} "
                   f"cluster {'-' if hit.cluster is None else hit.cluster:<3} {what[:50]:<50}  {hit.source_path}"
                   f"{reason}")


def print_descriptions(response: DescribeResponse) -> None:
    if not response.results:
        typer.echo("no descriptions")
    for rank, d in enumerate(response.results, start=1):
        typer.echo(f"{rank:3d}. {d.score:6.3f}  cluster {'-' if d.cluster is None else d.cluster:<3} {d.text}")


def batch_queries(path: Path) -> list[str]:
    """Non-blank lines of a batch file (``-`` reads standard input)."""
    if str(path) == "-":
        text = sys.stdin.read()
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise CliInputError(f"{path}: cannot read the batch file ({reason})") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


def _text_batch(engine: Engine, queries: list[str], **kwargs: Any) -> int:
    """Answer each query, printing one JSON line each (an ``error`` line for a bad one); the failures."""
    from search.errors import SearchError

    failures = 0
    for query in queries:
        try:
            doc: dict[str, Any] = {"query": query, **hits_json(engine.search_text(query, **kwargs), explain=True)}
        except SearchError as exc:
            failures += 1
            typer.echo(f"error: query {query[:60]!r}: {exc}", err=True)
            doc = {"query": query, "error": str(exc)}
        print_json(doc)
    return failures


def search_text(
    query: Annotated[str | None, typer.Argument(help="What to look for, e.g. \"a slow waltz turn\".")] = None,
    batch: Annotated[Path | None, typer.Option(
        "--batch", help="File with one query per line ('-' = stdin); prints one JSON line per query.")] = None,
    k: KOpt = 10, offset: OffsetOpt = 0, label: LabelFilterOpt = None, source: SourceOpt = None,
    min_duration: MinDurOpt = None, max_duration: MaxDurOpt = None, cluster_filter: ClusterOpt = None,
    generate: Annotated[GenerateMode, typer.Option(
        "--generate", help="Add a generated motion: auto (when nothing matches well), always, never.")
    ] = GenerateMode.auto,
    mode: Annotated[SearchMode, typer.Option(
        "--mode", help="hybrid: motion fused with what file names, labels and descriptions say; motion: "
                       "the motion alone (regardless of names); keyword: metadata words only.")
    ] = SearchMode.hybrid,
    json_out: JsonOpt = False, model: ModelOpt = None, data_dir: DataDirOpt = None, db: DbOpt = None,
) -> None:
    """Text -> motion: the library moments that best match a description (each hit says why)."""
    with cli_errors():
        if (query is None) == (batch is None):
            raise CliInputError("give either a QUERY or --batch FILE")
        filters = make_filters(label, source, min_duration, max_duration)
        queries = batch_queries(batch) if batch is not None else []
        kwargs: dict[str, Any] = {"k": k, "offset": offset, "filters": filters, "cluster_filter": cluster_filter,
                                  "generate": generate.value, "mode": mode.value}
        check_library_exists(data_dir, db)
        with engine_for(model, data_dir, db) as engine:
            if batch is not None:
                failures = _text_batch(engine, queries, **kwargs)
                if failures:
                    raise fail(f"{failures} of {len(queries)} queries failed", 2)
                return
            response = engine.search_text(query or "", **kwargs)
    if json_out:
        print_json(hits_json(response, explain=True))
    else:
        print_hits(response, explain=True)


def _query_source(file: Path | None, clip_id: int | None) -> None:
    if (file is None) == (clip_id is None):
        raise CliInputError("give either a motion FILE or --clip-id ID")


@contextmanager
def _naming(file: Path | None) -> Iterator[None]:
    """A query motion the engine cannot map onto the canonical skeleton: the error names its file."""
    from search.errors import UnmappableMotion

    try:
        yield
    except UnmappableMotion as exc:
        if file is None:
            raise
        raise CliInputError(f"{file}: {exc}") from None


def _load(file: Path | None) -> Motion | None:
    """The motion file of a query (read before the model loads, so a bad file fails fast)."""
    if file is None:
        return None
    from motion.formats import load_motion

    return load_motion(file)


def search_clip(
    file: FileArg = None, clip_id: ClipIdOpt = None, start: StartOpt = None, end: EndOpt = None,
    k: KOpt = 10, offset: OffsetOpt = 0, label: LabelFilterOpt = None, source: SourceOpt = None,
    min_duration: MinDurOpt = None, max_duration: MaxDurOpt = None, cluster_filter: ClusterOpt = None,
    match: Annotated[MatchMode, typer.Option(
        "--match", help="similar: movement that means the same (the learned space); same: the same movement "
                        "first, exported on another rig or danced by another body (poses re-rank).")
    ] = MatchMode.similar,
    json_out: JsonOpt = False, model: ModelOpt = None, data_dir: DataDirOpt = None, db: DbOpt = None,
) -> None:
    """Motion -> motion: library moments like a motion file or a library clip (excluded from its results)."""
    with cli_errors():
        _query_source(file, clip_id)
        filters = make_filters(label, source, min_duration, max_duration)
        kwargs: dict[str, Any] = {"start": start, "end": end, "k": k, "offset": offset, "filters": filters,
                                  "cluster_filter": cluster_filter, "match": match.value}
        motion = _load(file)
        check_library_exists(data_dir, db)
        with engine_for(model, data_dir, db) as engine:
            if motion is None:
                response = engine.search_clip(clip_id or 0, **kwargs)
            else:
                with _naming(file):
                    response = engine.search_motion(motion, **kwargs)
    if json_out:
        print_json(hits_json(response))
    else:
        print_hits(response)


def describe(
    file: FileArg = None, clip_id: ClipIdOpt = None, start: StartOpt = None, end: EndOpt = None,
    k: KOpt = 5, cluster_filter: ClusterOpt = None, json_out: JsonOpt = False, model: ModelOpt = None,
    data_dir: DataDirOpt = None, db: DbOpt = None,
) -> None:
    """Motion -> text: the descriptions that best fit a motion file or a library clip."""
    with cli_errors():
        _query_source(file, clip_id)
        motion = _load(file)
        with engine_for(model, data_dir, db) as engine:
            if motion is None:
                response = engine.describe_clip(clip_id or 0, start, end, k, cluster_filter)
            else:
                with _naming(file):
                    response = engine.describe(motion, start, end, k, cluster_filter)
    if json_out:
        print_json(descriptions_json(response))
    else:
        print_descriptions(response)


def generate(
    query: Annotated[str, typer.Argument(help="The motion to make, e.g. \"a person jumps twice\".")],
    out: Annotated[Path, typer.Option("--out", help="Where to write: FILE.bvh (canonical skeleton) or "
                                                    "FILE.json (joint positions).")],
    seconds: Annotated[float, typer.Option("--seconds", help="Length of the motion.")] = 4.0,
    seed: Annotated[int, typer.Option("--seed", min=0, max=2**31 - 1,
                                      help="Another seed draws another motion for the same text.")] = 0,
    rig: Annotated[str | None, typer.Option(
        "--rig", help="BVH on this rig: a convention (mixamo, smpl, unreal, ...) or a BVH file of your rig.")] = None,
    json_out: JsonOpt = False, model: ModelOpt = None, data_dir: DataDirOpt = None, db: DbOpt = None,
) -> None:
    """Text -> new motion: synthesize a motion for a description (bone lengths fixed, feet planted; ``<NAME>``
    concepts allowed) and save it as BVH (canonical skeleton or ``--rig``) or JSON."""
    from search.export import motion_to_bvh, motion_to_json

    with cli_errors():
        suffix = out.suffix.lower()
        if suffix not in (".bvh", ".json"):
            raise CliInputError(f"{out}: --out must end in .bvh or .json")
        if not out.parent.is_dir():
            raise CliInputError(f"{out}: folder {out.parent} does not exist")
        with engine_for(model, data_dir, db) as engine:
            generated_id, motion = engine.generate(query, seconds, seed)
        if rig is not None and suffix == ".bvh":
            from explore.export import bvh_text

            text = bvh_text(motion.positions, rig, data_dir)
        else:
            text = motion_to_bvh(motion) if suffix == ".bvh" else json.dumps(motion_to_json(motion))
        out.write_text(text, encoding="utf-8")
    if json_out:
        print_json({"out": str(out), "generated_id": generated_id, "frames": motion.n_frames,
                    "seconds": motion.duration})
    else:
        typer.echo(f"wrote {motion.duration:.1f} s of motion ({motion.n_frames} frames) to {out}")


RayEmbedOpt = Annotated[bool, typer.Option(
    "--ray", metavar="[ADDRESS]",
    help="Embed the windows on Ray actors: a local Ray runtime with --workers CPUs, or with an ADDRESS (--ray "
         "auto, --ray HOST:6379, --ray ray://HOST:10001; the same as --ray-address) that cluster (needs pip "
         "install 'dancesearch\\[ray]').")]
RayEmbedAddressOpt = Annotated[str | None, typer.Option(
    "--ray-address", metavar="ADDRESS",
    help="Embed on this Ray cluster (auto, HOST:6379 or ray://HOST:10001; implies --ray). --data-dir and the "
         "model directory must be on storage every node mounts at the same path.")]
RayWorkersOpt = Annotated[int | None, typer.Option(
    "--workers", min=1, help="With --ray: CPUs of the local Ray runtime (default: all); with --ray-address: "
                             "embedding actors (default: one per GPU, else per CPU).")]


def reindex(re_embed: Annotated[bool, typer.Option(
                "--re-embed", help="Embed every window again even where the stored vectors are the active "
                                   "model's (default: reuse them, re-embedding only the rest).")] = False,
            ray: RayEmbedOpt = False, ray_address: RayEmbedAddressOpt = None, workers: RayWorkersOpt = None,
            json_out: JsonOpt = False, model: ModelOpt = None, data_dir: DataDirOpt = None,
            db: DbOpt = None) -> None:
    """Rebuild every index from the library with the model: vectors the active model already made are
    reused, the rest (all of them after a model change, or with --re-embed) are embedded (on Ray actors
    with --ray)."""
    from contextlib import ExitStack

    from search.indexes import IndexBuildError

    with cli_errors(), ExitStack() as stack:
        if ray or ray_address:
            from dancesearch.engine_factory import ray_embedding
            from indexer.ray_ingest import RAY_MISSING, RayIngestError, RayOptions, RayRuntime, ray_available

            if not ray_available():
                raise CliInputError(RAY_MISSING)
            engine = stack.enter_context(engine_for(model, data_dir, db, progress=True))
            try:
                rt = stack.enter_context(RayRuntime(RayOptions(address=ray_address or None,
                                                               num_cpus=None if ray_address else workers)))
                stack.enter_context(ray_embedding(engine, model, rt, workers if ray_address else None))
                report = engine.reindex(re_embed=re_embed)
            except (RayIngestError, IndexBuildError) as exc:
                raise fail(str(exc), 2) from None
        else:
            engine = stack.enter_context(engine_for(model, data_dir, db, progress=True))
            report = engine.reindex(re_embed=re_embed)
    if json_out:
        print_json(report)
        return
    sizes = ", ".join(f"{name} {r['size']} ({r['backend']})" for name, r in report["indexes"].items())
    where = report["indexes"].get("windows", {}).get("embedded_on") or {}
    embedded = (f"; {report['indexes']['windows']['embedded']} windows embedded on {where['actors']} Ray actors "
                f"({where['device']})" if where.get("on") == "ray" else "")
    typer.echo(f"rebuilt the indexes with model {report['model_version']} in {report['seconds']:.1f} s: "
               f"{sizes}{embedded}")


def register(app: typer.Typer) -> None:
    """Attach ``search text|clip``, ``describe``, ``generate`` and ``reindex`` to the top-level app."""
    group = typer.Typer(help="Search the library by text or by an example motion.", no_args_is_help=True)
    group.command("text")(search_text)
    group.command("clip")(search_clip)
    app.add_typer(group, name="search")
    app.command("describe")(describe)
    app.command("generate")(generate)
    app.command("reindex")(reindex)
