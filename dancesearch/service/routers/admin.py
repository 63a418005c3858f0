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

from dancesearch.service.deps import EngineDep, SettingsDep, WriteAccess, read_upload, upload_name
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
def engine_status(engine: EngineDep) -> dict[str, Any]:
    """Model, library counts, index types and default settings."""
    return engine.status()


def server_name(client_name: str) -> str:
    """A fresh file name for an upload: random hex plus the recognised (lower-case) suffix."""
    match = _KNOWN_SUFFIX.search(client_name)
    suffix = match.group(0).lower() if match else ".bin"
    return f"{uuid.uuid4().hex}{suffix}"


@router.post("/ingest", response_model=IngestResponse, dependencies=[WriteAccess])
def ingest(engine: EngineDep, settings: SettingsDep,
           files: Annotated[list[UploadFile], File(description="Motion files to add to the library.")],
           metadata: Annotated[UploadFile | None, File(description="Optional metadata file "
                                                                   "(CSV or JSON manifest).")] = None,
           ) -> IngestResponse:
    """Save uploads under the data directory with server-made names and ingest them."""
    if len(files) > MAX_INGEST_FILES:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"at most {MAX_INGEST_FILES} files per request, got {len(files)}")
    contents = [(upload_name(f), read_upload(f, settings)) for f in files]
    meta = (upload_name(metadata), read_upload(metadata, settings)) if metadata is not None else None
    batch = settings.uploads_dir() / uuid.uuid4().hex
    batch.mkdir(parents=True, exist_ok=False)
    paths = [_save(batch, name, data) for name, data in contents]
    meta_path = _save(batch, meta[0], meta[1]) if meta is not None else None
    logger.info("ingesting %d uploaded files from %s", len(paths), batch)
    summary = engine.ingest(paths, meta_path)
    saved = [SavedUpload(file=name, saved_as=p.name) for (name, _), p in zip(contents, paths, strict=True)]
    return IngestResponse(saved=saved, summary=summary)


def _save(folder: Path, client_name: str, data: bytes) -> Path:
    path = folder / server_name(client_name)
    path.write_bytes(data)
    logger.debug("saved upload %r as %s", client_name, path.name)
    return path


@router.post("/reindex", response_model=OpenDict, dependencies=[WriteAccess])
def reindex(engine: EngineDep) -> dict[str, Any]:
    """Re-embed everything with the active model and rebuild the indexes."""
    return engine.reindex()

