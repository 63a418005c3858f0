"""Typed FastAPI dependencies: the engine, the settings, write access, limits, filters and uploads.

Handlers declare what they need with the ``Annotated`` aliases below (``EngineDep``, ``SettingsDep``,
``FiltersDep``, ``PageDep``, ``WriteAccess``) so that checks live here, not in the handlers.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from pathlib import PurePath
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Query, Request, UploadFile, status

from dancesearch.service.errors import UploadTooLarge
from dancesearch.service.public import Redactor
from dancesearch.service.settings import ServiceSettings
from motion.data import Motion
from search.protocol import SearchEngine
from search.types import Filters

_READ_CHUNK = 1 << 20


def get_settings(request: Request) -> ServiceSettings:
    settings: ServiceSettings = request.app.state.settings
    return settings


def get_engine(request: Request) -> SearchEngine:
    """The engine loaded in the app's lifespan (tests override this dependency or the factory)."""
    engine: SearchEngine | None = getattr(request.app.state, "engine", None)
    if engine is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the search engine is not loaded")
    return engine


def get_redactor(request: Request) -> Redactor:
    """What cuts the server's private folders out of response text (:mod:`dancesearch.service.public`)."""
    redactor: Redactor = request.app.state.redactor
    return redactor


SettingsDep = Annotated[ServiceSettings, Depends(get_settings)]
EngineDep = Annotated[SearchEngine, Depends(get_engine)]
RedactorDep = Annotated[Redactor, Depends(get_redactor)]


def require_api_key(settings: SettingsDep,
                    x_api_key: Annotated[str | None, Header(description="The service's API key.")] = None,
                    ) -> None:
    """Allow write endpoints only with the configured key in ``X-API-Key``."""
    expected = settings.api_key_value()
    if expected is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            "write endpoints are disabled: set DANCESEARCH_API_KEY on the server "
                            "and send it in the X-API-Key header")
    if x_api_key is None or not hmac.compare_digest(x_api_key.encode(), expected.encode()):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or wrong X-API-Key header",
                            headers={"WWW-Authenticate": "X-API-Key"})


WriteAccess = Depends(require_api_key)


def check_query(text: str, settings: ServiceSettings) -> str:
    """A stripped text query within the length limit (422 otherwise)."""
    stripped = text.strip()
    if not stripped:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "query is empty")
    if len(stripped) > settings.max_query_chars:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"query is {len(stripped)} characters long; the limit is {settings.max_query_chars}")
    return stripped


def check_k(k: int, settings: ServiceSettings) -> int:
    if not 1 <= k <= settings.max_k:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"k must be between 1 and {settings.max_k}, got {k}")
    return k


@dataclass(frozen=True)
class Page:
    """How many results (k) after how many (offset)."""

    k: int
    offset: int


DEFAULT_K = 10


def resolve_k(k: int | None, settings: ServiceSettings) -> int:
    """`k` checked against the limit; None means the default (10, or max_k if that is smaller)."""
    return check_k(min(DEFAULT_K, settings.max_k) if k is None else k, settings)


def page_params(settings: SettingsDep,
                k: Annotated[int | None, Query(description="Results per page (default 10).")] = None,
                offset: Annotated[int, Query(ge=0)] = 0) -> Page:
    if offset > settings.max_offset:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"offset must be between 0 and {settings.max_offset}, got {offset}")
    return Page(resolve_k(k, settings), offset)


PageDep = Annotated[Page, Depends(page_params)]


def parse_labels(pairs: list[str]) -> dict[str, str]:
    """``["genre=waltz", "style=happy"]`` -> ``{"genre": "waltz", "style": "happy"}`` (422 if malformed)."""
    labels: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                f"label filter {pair!r} is not of the form key=value")
        labels[key.strip()] = value.strip()
    return labels


def filter_params(
    source: Annotated[str | None, Query(max_length=200, description="Only clips of this source.")] = None,
    label: Annotated[list[str] | None, Query(description="Label filter key=value; repeatable.")] = None,
    min_duration: Annotated[float | None, Query(ge=0)] = None,
    max_duration: Annotated[float | None, Query(ge=0)] = None,
) -> Filters:
    return Filters(source=source or None, labels=parse_labels(label or []),
                   min_duration=min_duration, max_duration=max_duration)


FiltersDep = Annotated[Filters, Depends(filter_params)]


def upload_name(upload: UploadFile) -> str:
    """The client's file name reduced to a bare name, used only to pick the format and in messages."""
    name = PurePath((upload.filename or "").replace("\\", "/")).name
    return name[:200] or "upload"


def read_upload(upload: UploadFile, settings: ServiceSettings) -> bytes:
    """The whole upload in memory, or UploadTooLarge (413) once it passes the size limit."""
    limit = settings.max_upload_bytes
    chunks: list[bytes] = []
    total = 0
    while chunk := upload.file.read(_READ_CHUNK):
        total += len(chunk)
        if total > limit:
            raise UploadTooLarge(f"{upload_name(upload)}: upload is larger than the "
                                 f"{settings.max_upload_mb:g} MiB limit (DANCESEARCH_MAX_UPLOAD_MB)")
        chunks.append(chunk)
    if total == 0:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"{upload_name(upload)}: the uploaded file is empty")
    return b"".join(chunks)


def parse_upload(upload: UploadFile, settings: ServiceSettings) -> Motion:
    """An uploaded motion file parsed in memory (MotionFileError -> 400 naming the file).

    Called from synchronous handlers, which FastAPI runs in its thread pool."""
    from motion.formats import load_motion_bytes

    data = read_upload(upload, settings)
    return load_motion_bytes(data, upload_name(upload), settings.max_upload_bytes)


@dataclass(frozen=True)
class TimeRange:
    start: float | None
    end: float | None


def time_range(start: Annotated[float | None, Query(ge=0, description="Seconds from the clip start.")] = None,
               end: Annotated[float | None, Query(ge=0, description="Seconds from the clip start.")] = None,
               ) -> TimeRange:
    if start is not None and end is not None and end <= start:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"end ({end}) must be after start ({start})")
    return TimeRange(start, end)


RangeDep = Annotated[TimeRange, Depends(time_range)]
