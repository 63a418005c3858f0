"""The ``serve`` command: run the HTTP API and the web page with uvicorn.

Binds 127.0.0.1 by default: read endpoints are open, so exposing the service on other interfaces is
an explicit choice (``--host 0.0.0.0``). Write endpoints need ``DANCESEARCH_API_KEY``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer

from dancesearch.options import DataDirOpt, DbOpt

logger = logging.getLogger(__name__)

ModelOpt = Annotated[
    Path | None,
    typer.Option("--model", help="Model directory (env DANCESEARCH_MODEL; default: the engine's choice)."),
]


def serve(
    host: Annotated[str | None, typer.Option("--host", help="Interface to bind (env DANCESEARCH_HOST; "
                                                          "default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option("--port", min=1, max=65535,
                                             help="TCP port (env DANCESEARCH_PORT; default 8000).")] = None,
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    model: ModelOpt = None,
) -> None:
    """Serve the search API (/api, docs at /docs) and the web page (/)."""
    import uvicorn

    from dancesearch.service.app import create_app, default_engine_factory
    from dancesearch.service.settings import ServiceSettings
    from search.errors import SearchError

    overrides: dict[str, Any] = {name: value for name, value in
                                 (("host", host), ("port", port), ("data_dir", data_dir), ("db", db),
                                  ("model", model)) if value is not None}
    settings = ServiceSettings(**overrides)
    if settings.host not in ("127.0.0.1", "localhost", "::1"):
        logger.warning("serving on %s: read endpoints are open to anyone who can reach it", settings.host)
    if settings.api_key_value() is None:
        logger.warning("DANCESEARCH_API_KEY is not set: ingest, delete and reindex are disabled")
    try:   # loaded before the server starts so that a missing model is one clear line, not a traceback
        engine = default_engine_factory(settings)
    except SearchError as exc:
        typer.echo(f"dancesearch serve: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"dancesearch: http://{settings.host}:{settings.port}/  (API docs at /docs)")
    app = create_app(settings, engine_factory=lambda _settings: engine)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")


def register(app: typer.Typer) -> None:
    """Attach ``serve`` to the top-level app."""
    app.command("serve")(serve)
