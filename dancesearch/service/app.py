"""The FastAPI application factory.

``create_app(settings, engine_factory)`` builds the app: the engine is made once in ``lifespan`` (by
`engine_factory`, default :func:`default_engine_factory`) and handed to handlers through
:data:`dancesearch.service.deps.EngineDep`; routers are mounted under ``/api``; the web page is
served as static files at ``/``; OpenAPI docs are at ``/docs``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from dancesearch.service.errors import install_exception_handlers
from dancesearch.service.routers import admin, clips, describe, generate, search
from dancesearch.service.settings import ServiceSettings
from search.protocol import SearchEngine

logger = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
EngineFactory = Callable[[ServiceSettings], SearchEngine]
# Slack for multipart framing and form fields on top of the file size limit.
_FORM_OVERHEAD = 1 << 20


def default_engine_factory(settings: ServiceSettings) -> SearchEngine:
    """The real engine over the configured library and model directory (resolved and opened by
    :func:`dancesearch.engine_factory.open_engine`, imported lazily: torch is heavy). Raises
    ModelMissing when no usable model directory is found."""
    from dancesearch.engine_factory import open_engine

    return open_engine(settings.model, settings.data_dir, settings.db, progress=True, limits=settings.limits())


def _lifespan(engine_factory: EngineFactory) -> Callable[[FastAPI], AbstractAsyncContextManager]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings: ServiceSettings = app.state.settings
        app.state.engine = engine_factory(settings)
        logger.info("search engine loaded")
        try:
            yield
        finally:
            close = getattr(app.state.engine, "close", None)
            if callable(close):
                close()
            app.state.engine = None

    return lifespan


def _body_limit(settings: ServiceSettings) -> Callable[[Request, Callable[[Request], Awaitable[Response]]],
                                                        Awaitable[Response]]:
    """Refuse (413) a request whose declared body is larger than any accepted upload could be."""
    per_request = settings.max_upload_bytes * admin.MAX_INGEST_FILES + _FORM_OVERHEAD
    single = settings.max_upload_bytes + _FORM_OVERHEAD

    async def limit(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        declared = request.headers.get("content-length", "")
        allowed = per_request if request.url.path == "/api/ingest" else single
        if declared.isdigit() and int(declared) > allowed:
            return JSONResponse({"detail": f"request body of {int(declared)} bytes is larger than the "
                                           f"{settings.max_upload_mb:g} MiB upload limit "
                                           "(DANCESEARCH_MAX_UPLOAD_MB)"}, status_code=413)
        return await call_next(request)

    return limit


def create_app(settings: ServiceSettings | None = None, engine_factory: EngineFactory | None = None) -> FastAPI:
    """A ready-to-serve app; `settings` default to the environment, `engine_factory` to the real engine."""
    settings = settings or ServiceSettings()
    app = FastAPI(title="dancesearch", version="0.1.0",
                  summary="Search dance and motion-capture libraries by text, by example clip, and generate "
                          "motion.", lifespan=_lifespan(engine_factory or default_engine_factory))
    app.state.settings = settings
    app.state.engine = None
    install_exception_handlers(app)
    app.middleware("http")(_body_limit(settings))
    app.add_middleware(GZipMiddleware, minimum_size=2048)
    for module in (search, describe, generate, clips, admin):
        app.include_router(module.router)
    app.mount("/", StaticFiles(directory=WEB_DIR, html=True), name="web")
    return app
