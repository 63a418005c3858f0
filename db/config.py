"""Where the library lives: the data directory and the database URL.

Resolution order, the same for every command: an explicit value (``--data-dir`` / ``--db``), then
the environment (``DANCESEARCH_HOME`` / ``DANCESEARCH_DB``), then the per-user default
(``$XDG_DATA_HOME/dancesearch`` or ``~/.local/share/dancesearch``) holding ``library.sqlite``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DB_FILENAME = "library.sqlite"


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "dancesearch"


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The data directory to use (not created here)."""
    if data_dir:
        return Path(data_dir).expanduser().resolve()
    env = os.environ.get("DANCESEARCH_HOME")
    if env:
        return Path(env).expanduser().resolve()
    return default_data_dir()


def resolve_db_url(db_url: str | None, data_dir: Path) -> str:
    """The SQLAlchemy URL: explicit, else ``DANCESEARCH_DB``, else SQLite inside ``data_dir``."""
    if db_url:
        return db_url
    env = os.environ.get("DANCESEARCH_DB")
    if env:
        return env
    return f"sqlite:///{data_dir / DB_FILENAME}"


def user_rig_dirs(data_dir: str | os.PathLike[str] | None = None, extra: tuple[str | os.PathLike[str], ...] = ()
                  ) -> list[Path]:
    """Rig-file folders a command reads: ``--rigs`` folders, then ``DATA_DIR/rigs`` (when it exists)."""
    dirs = [Path(d) for d in extra]
    user = resolve_data_dir(data_dir) / "rigs"
    if user.is_dir():
        dirs.append(user)
    return dirs


@dataclass(frozen=True)
class LibraryLocation:
    """A resolved library: its data directory (motion store, indexes) and its database URL."""

    data_dir: Path
    db_url: str

    @classmethod
    def resolve(cls, data_dir: str | os.PathLike[str] | None = None,
                db_url: str | None = None) -> LibraryLocation:
        d = resolve_data_dir(data_dir)
        return cls(d, resolve_db_url(db_url, d))
