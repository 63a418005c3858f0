"""Settings of the HTTP service, read from environment variables (pydantic-settings).

Every field can be set as ``DANCESEARCH_<FIELD>`` (e.g. ``DANCESEARCH_API_KEY``,
``DANCESEARCH_MAX_UPLOAD_MB``). The library location uses the same variables as the CLI
(``DANCESEARCH_HOME`` for the data directory, ``DANCESEARCH_DB`` for the database URL, see
:mod:`db.config`); ``DANCESEARCH_MODEL`` names the model directory.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from search.limits import DEFAULT_LIMITS, SearchLimits

UPLOADS_DIRNAME = "uploads"


class ServiceSettings(BaseSettings):
    """Limits, credentials and library location of one service instance.

    api_key: the key write endpoints require in the ``X-API-Key`` header; when unset, write endpoints
    are refused. Limits are enforced by the service before the engine is called.
    """

    model_config = SettingsConfigDict(env_prefix="DANCESEARCH_", extra="ignore", populate_by_name=True)

    api_key: SecretStr | None = None
    max_upload_mb: float = Field(default=20.0, gt=0, description="Largest accepted upload, per file, in MiB.")
    max_query_chars: int = Field(default=500, ge=1, description="Longest accepted text query.")
    max_k: int = Field(default=DEFAULT_LIMITS.max_k, ge=1, description="Most results one page may ask for.")
    max_offset: int = Field(default=DEFAULT_LIMITS.max_offset, ge=0, description="Deepest page offset.")
    max_generate_seconds: float = Field(default=20.0, gt=0, description="Longest motion /api/generate makes.")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    data_dir: Path | None = Field(
        default=None, validation_alias=AliasChoices("DANCESEARCH_HOME", "DANCESEARCH_DATA_DIR"),
        description="Library data directory (default: see db.config).")
    db: str | None = Field(default=None, validation_alias=AliasChoices("DANCESEARCH_DB"),
                           description="SQLAlchemy database URL (default: SQLite in the data directory).")
    model: Path | None = Field(default=None, description="Model directory (default: the engine's choice).")

    def limits(self) -> SearchLimits:
        """The engine's per-request bounds (search.limits), with this service's page limits."""
        return SearchLimits(**{**DEFAULT_LIMITS.__dict__, "max_k": self.max_k, "max_offset": self.max_offset})

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    def uploads_dir(self) -> Path:
        """Where ingested uploads are saved: ``DATA_DIR/uploads`` (resolved as the CLI does)."""
        from db.config import resolve_data_dir

        return resolve_data_dir(self.data_dir) / UPLOADS_DIRNAME

    def api_key_value(self) -> str | None:
        """The configured key, or None when unset or blank."""
        if self.api_key is None:
            return None
        value = self.api_key.get_secret_value().strip()
        return value or None
