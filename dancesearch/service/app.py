"""The FastAPI application factory.

``create_app(settings, engine_factory)`` builds the app: the engine is made once in ``lifespan`` (by
`engine_factory`, default :func:`default_engine_factory`) and handed to handlers through
:data:`dancesearch.service.deps.EngineDep`; routers are mounted under ``/api``; the web page is
served as static files at ``/``; OpenAPI docs are at ``/docs``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dancesearch.service.errors import install_exception_handlers
from dancesearch.service.public import Redactor
from dancesearch.service.routers import admin, capabilities, clips, describe, generate, search
from dancesearch.service.schemas import ERROR_RESPONSES
from dancesearch.service.settings import ServiceSettings
from db.config import resolve_data_dir
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


class _BodyTooLarge(Exception):
    """Raised inside the app's ``receive`` once a request body passes its limit (never leaves the middleware)."""


class BodyLimit:
    """Pure ASGI middleware: a request body larger than any accepted upload could be gets a 413.

    A declared ``Content-Length`` over the limit is refused before the body is read; a body without one
    (``Transfer-Encoding: chunked``) is counted while it streams in and cut off as soon as it passes the
    limit, so at most the limit is ever read (and spooled by the form parser), never the whole body. The
    app's own answer to a cut-off request is discarded and replaced by the 413.
    """

    def __init__(self, app: ASGIApp, settings: ServiceSettings) -> None:
        self.app = app
        self.settings = settings
        self.single = settings.max_upload_bytes + _FORM_OVERHEAD
        self.per_request = settings.max_upload_bytes * admin.MAX_INGEST_FILES + _FORM_OVERHEAD

    def allowed(self, path: str) -> int:
        return self.per_request if path == "/api/ingest" else self.single

    async def _refuse(self, send: Send, size: str) -> None:
        body = json.dumps({"detail": f"request body {size} is larger than the {self.settings.max_upload_mb:g} MiB "
                                     "upload limit (DANCESEARCH_MAX_UPLOAD_MB)"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        allowed = self.allowed(scope.get("path", ""))
        declared = dict(scope.get("headers") or []).get(b"content-length", b"").decode("latin-1")
        if declared.isdigit() and int(declared) > allowed:
            await self._refuse(send, f"of {int(declared)} bytes")
            return
        received = 0
        cut = False

        async def limited_receive() -> Message:
            nonlocal received, cut
            if cut:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > allowed:
                    cut = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            if not cut:
                await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not cut:
                raise
        if cut:
            logger.info("cut off a streamed request body to %s after %d bytes", scope.get("path"), received)
            await self._refuse(send, f"(streamed, cut off after {received} bytes)")


def create_app(settings: ServiceSettings | None = None, engine_factory: EngineFactory | None = None) -> FastAPI:
    """A ready-to-serve app; `settings` default to the environment, `engine_factory` to the real engine."""
    settings = settings or ServiceSettings()
    app = FastAPI(title="dancesearch", version="0.1.0",
                  summary="Search dance and motion-capture libraries by text, by example clip, and generate "
                          "motion.", lifespan=_lifespan(engine_factory or default_engine_factory),
                  responses=ERROR_RESPONSES)
    app.state.settings = settings
    app.state.engine = None
    app.state.redactor = Redactor([resolve_data_dir(settings.data_dir), settings.model])
    install_exception_handlers(app)
    app.add_middleware(BodyLimit, settings=settings)
    app.add_middleware(GZipMiddleware, minimum_size=2048)
    for module in (search, describe, generate, clips, admin, capabilities):
        app.include_router(module.router)
    app.mount("/", StaticFiles(directory=WEB_DIR, html=True), name="web")
    return app
