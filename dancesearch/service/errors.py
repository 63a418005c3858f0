"""The one place where domain errors become HTTP responses.

Every error leaves the service as JSON ``{"detail": "<message for the user>"}``: search errors
(:mod:`search.errors`), unreadable motion files (:class:`motion.data.MotionError`, whose
``MotionFileError`` subclass names the file), request validation failures (summarised in one line,
with the full list under ``errors``) and, as a last resort, unexpected failures (logged, 500).
"""

from __future__ import annotations

import logging
from typing import cast

from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from motion.data import MotionError
from search.errors import InvalidQuery, ModelMissing, NotFound, SearchError

logger = logging.getLogger(__name__)

SEARCH_ERROR_STATUS: dict[type[SearchError], int] = {
    NotFound: status.HTTP_404_NOT_FOUND,
    InvalidQuery: status.HTTP_422_UNPROCESSABLE_CONTENT,
    ModelMissing: status.HTTP_503_SERVICE_UNAVAILABLE,
}


class UploadTooLarge(Exception):
    """An uploaded file over the configured size limit (413)."""


def _public(request: Request, message: str) -> str:
    """`message` without the server's private folders (data and model directories)."""
    redactor = getattr(request.app.state, "redactor", None)
    return message if redactor is None else str(redactor.text(message))


def _status_of(exc: Exception) -> int:
    for cls in type(exc).__mro__:
        if cls in SEARCH_ERROR_STATUS:
            return SEARCH_ERROR_STATUS[cls]
    return status.HTTP_400_BAD_REQUEST


async def _search_error(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": _public(request, str(exc))}, status_code=_status_of(exc))


async def _motion_error(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": _public(request, str(exc))}, status_code=status.HTTP_400_BAD_REQUEST)


async def _too_large(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": _public(request, str(exc))}, status_code=status.HTTP_413_CONTENT_TOO_LARGE)


def _location(loc: tuple[object, ...]) -> str:
    """``("query", "k")`` -> ``"k"``: the parameter, without the part of the request it came from."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or "request body"


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    errors = cast(RequestValidationError, exc).errors()
    summary = "; ".join(f"{_location(tuple(e.get('loc', ())))}: {e.get('msg', 'invalid')}" for e in errors)
    return JSONResponse({"detail": summary or "invalid request", "errors": jsonable_encoder(errors)},
                        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unexpected error on %s %s", request.method, request.url.path)
    return JSONResponse({"detail": f"internal error: {type(exc).__name__}"},
                        status_code=status.HTTP_500_INTERNAL_SERVER_ERROR)


def install_exception_handlers(app: FastAPI) -> None:
    """Register the error -> status mapping on `app`."""
    app.add_exception_handler(SearchError, _search_error)
    app.add_exception_handler(MotionError, _motion_error)
    app.add_exception_handler(UploadTooLarge, _too_large)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
