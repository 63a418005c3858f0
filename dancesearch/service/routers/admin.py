"""Service endpoints: health and status (open), ingest and reindex (need the API key).

Ingested uploads are saved under ``DATA_DIR/uploads`` with names the server makes (a random id and
the recognised suffix); the client's file name is kept only as text in the ingest summary.
"""

from __future__ import annotations

import logging
import re
import uuid
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, HTTPException, Request, UploadFile, status

from dancesearch.service.deps import (
    EngineDep,
    RedactorDep,
    SettingsDep,
    WriteAccess,
    read_upload,
    upload_name,
)
from dancesearch.service.schemas import HealthModel, IngestResponse, OpenDict, SavedUpload

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/api", tags=["admin"])

MAX_INGEST_FILES = 200
# Suffixes kept on saved uploads so the readers can tell the format; anything else becomes ".bin".
_KNOWN_SUFFIX = re.compile(r"(\.(bvh|json|npz|csv))(\.gz)?$", re.IGNORECASE)


@router.get("/health", response_model=HealthModel)
def health(request: Request) -> HealthModel:
    """Liveness: the process answers; says whether the engine is loaded."""
    return HealthModel(engine_loaded=getattr(request.app.state, "engine", None) is not None)


@router.get("/status", response_model=OpenDict)
def engine_status(engine: EngineDep, redactor: RedactorDep) -> dict[str, Any]:
    """Model, library counts, index types and default settings (no server paths)."""
    status_: dict[str, Any] = redactor.scrub(engine.status())
    return status_


def server_name(client_name: str) -> str:
    """A fresh file name for an upload: random hex plus the recognised (lower-case) suffix."""
    match = _KNOWN_SUFFIX.search(client_name)
    suffix = match.group(0).lower() if match else ".bin"
    return f"{uuid.uuid4().hex}{suffix}"


@router.post("/ingest", response_model=IngestResponse, dependencies=[WriteAccess])
def ingest(engine: EngineDep, settings: SettingsDep, redactor: RedactorDep,
           files: Annotated[list[UploadFile], File(description="Motion files to add to the library.")],
           metadata: Annotated[UploadFile | None, File(description="Optional metadata file "
                                                                   "(CSV or JSON manifest).")] = None,
           ) -> IngestResponse:
    """Save uploads under the data directory with server-made names and ingest them. The library owns
    the saved files: if the ingest does not finish, those no clip took are removed. Errors name the
    client's file names, never where the server saved them."""
    if len(files) > MAX_INGEST_FILES:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"at most {MAX_INGEST_FILES} files per request, got {len(files)}")
    contents = [(upload_name(f), read_upload(f, settings)) for f in files]
    meta = (upload_name(metadata), read_upload(metadata, settings)) if metadata is not None else None
    batch = settings.uploads_dir() / uuid.uuid4().hex
    batch.mkdir(parents=True, exist_ok=False)
    paths = [_save(batch, name, data) for name, data in contents]
    meta_path = _save(batch, meta[0], meta[1]) if meta is not None else None
    names = {str(p): name for (name, _), p in zip(contents, paths, strict=True)}
    if meta is not None and meta_path is not None:
        names[str(meta_path)] = meta[0]
    logger.info("ingesting %d uploaded files from %s", len(paths), batch)
    try:
        summary = engine.ingest(paths, meta_path, owned=True)
    except Exception as exc:
        _rename_in_message(exc, names)
        if batch.is_dir() and not any(batch.iterdir()):
            batch.rmdir()
        raise
    saved = [SavedUpload(file=name, saved_as=p.name) for (name, _), p in zip(contents, paths, strict=True)]
    return IngestResponse(saved=saved, summary=redactor.scrub(_client_names(summary, names)))


def _client_names(value: Any, names: dict[str, str]) -> Any:
    """Saved upload paths in an engine report replaced by the client's file names."""
    if isinstance(value, str):
        for path, name in names.items():
            value = value.replace(path, name)
        return value
    if isinstance(value, dict):
        return {k: _client_names(v, names) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_client_names(v, names) for v in value]
    return value


def _rename_in_message(exc: Exception, names: dict[str, str]) -> None:
    """An error raised by the ingest names the client's files, not where they were saved."""
    if exc.args and isinstance(exc.args[0], str):
        exc.args = (_client_names(exc.args[0], names), *exc.args[1:])


def _save(folder: Path, client_name: str, data: bytes) -> Path:
    path = folder / server_name(client_name)
    path.write_bytes(data)
    logger.debug("saved upload %r as %s", client_name, path.name)
    return path


@router.post("/reindex", response_model=OpenDict, dependencies=[WriteAccess])
def reindex(engine: EngineDep, redactor: RedactorDep) -> dict[str, Any]:
    """Re-embed everything with the active model and rebuild the indexes."""
    report: dict[str, Any] = redactor.scrub(engine.reindex())
    return report

