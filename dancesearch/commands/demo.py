"""``dancesearch demo``: the bundled sample library, searchable in the browser in one command.

On a fresh machine it creates the embedded library (SQLite + FAISS in the data directory), ingests
``samples/`` with the labels of ``samples/manifest.json``, builds the indexes with the model
(``--model``, else ``DANCESEARCH_MODEL``, else the shipped ``models/default``) and serves the API and
the web page with uvicorn. A second run reuses everything: ingest skips unchanged files by path,
size and mtime, the indexes are only checked (not rebuilt) when they match the model and the
database, and the MiniLM text encoder is loaded in the background once the server is up, so the
page is served within seconds. ``--no-serve`` does everything but serving.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dancesearch.commands.search import CliInputError, ModelOpt, cli_errors
from dancesearch.options import DataDirOpt, DbOpt

if TYPE_CHECKING:
    import uvicorn

    from dancesearch.service.settings import ServiceSettings
    from search.engine import Engine

logger = logging.getLogger(__name__)

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def samples_dir() -> Path:
    """The sample library shipped with the repository: ``<repo root>/samples``."""
    import dancesearch

    return Path(dancesearch.__file__).resolve().parents[1] / "samples"


def prepare(engine: Engine, folder: Path) -> dict[str, Any]:
    """Ingest ``folder`` with its ``manifest.json`` (skipping what is there) and sync the indexes."""
    manifest = folder / "manifest.json"
    if not manifest.is_file():
        raise CliInputError(f"{manifest}: the sample manifest is missing (regenerate the samples with "
                            "`python scripts/make_samples.py`)")
    return engine.ingest([folder], manifest)


def report_line(summary: dict[str, Any], engine: Engine) -> str:
    """One line on what the ingest did and what the library now holds."""
    status = engine.status()
    sizes = ", ".join(f"{name} {info['size']} ({info['backend']})" for name, info in sorted(status["indexes"].items()))
    return (f"samples: added {summary['added']}, already there {summary['skipped']}, failed "
            f"{summary['failed']}; library {status['clips']} clips, {status['windows']} windows; "
            f"indexes: {sizes}; model {status['model']} ({status['model_version']})")


def warm_up(engine: Engine) -> None:
    """Load the text encoder with one throw-away query so the first real text search is fast."""
    from search.errors import SearchError

    try:
        engine.search_text("warm up", k=1, generate="never")
    except SearchError as exc:  # the demo still serves; the first real query will report the problem
        logger.warning("warm-up query failed: %s", exc)


def warm_up_when_started(server: uvicorn.Server, engine: Engine) -> None:
    """Wait until the server accepts connections (so start-up is not slowed down), then warm up."""
    while not server.started:
        if server.should_exit:
            return
        time.sleep(0.05)
    warm_up(engine)


def serve(engine: Engine, settings: ServiceSettings) -> None:
    """Serve the API and the web page over ``engine`` until interrupted (the app closes the engine)."""
    import uvicorn

    from dancesearch.service.app import create_app

    if settings.host not in LOCAL_HOSTS:
        logger.warning("serving on %s: read endpoints are open to anyone who can reach it", settings.host)
    if settings.api_key_value() is None:
        typer.echo("note: DANCESEARCH_API_KEY is not set, so uploads to the library (ingest, delete, "
                   "reindex) are disabled; searching works")
    app = create_app(settings, engine_factory=lambda _settings: engine)
    server = uvicorn.Server(uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning"))
    threading.Thread(target=warm_up_when_started, args=(server, engine), name="warm-up", daemon=True).start()
    typer.echo(f"dancesearch demo: http://{settings.host}:{settings.port}/  (API docs at /docs; Ctrl-C stops)")
    server.run()


def demo(
    host: Annotated[str, typer.Option("--host", help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8000,
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    model: ModelOpt = None,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Prepare the library and indexes, then exit.")] = False,
    samples: Annotated[Path | None, typer.Option(
        "--samples", help="Folder of motion files with a manifest.json (default: the bundled samples/).")] = None,
) -> None:
    """Ingest the bundled sample library, index it with the shipped model, and serve the web page."""
    from dancesearch.engine_factory import open_engine
    from dancesearch.service.settings import ServiceSettings

    t0 = time.perf_counter()
    with cli_errors():
        given: dict[str, Any] = {"data_dir": data_dir, "db": db, "model": model}
        settings = ServiceSettings(host=host, port=port, **{k: v for k, v in given.items() if v is not None})
        engine = open_engine(settings.model, settings.data_dir, settings.db, sync=False, progress=True)
        try:
            summary = prepare(engine, samples or samples_dir())
        except BaseException:
            engine.close()
            raise
    typer.echo(report_line(summary, engine))
    for item in summary["errors"][:10]:
        typer.echo(f"  failed: {item['file']}: {item['error']}", err=True)
    typer.echo(f"ready in {time.perf_counter() - t0:.1f} s")
    if no_serve:
        engine.close()
        return
    serve(engine, settings)


def register(app: typer.Typer) -> None:
    """Attach ``demo`` to the top-level app."""
    app.command("demo")(demo)
