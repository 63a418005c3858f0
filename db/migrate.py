"""Bring a library database to the newest schema with the Alembic migrations in ``db/migrations``.

Opening a library calls :func:`upgrade_to_head`. It is a no-op when the database is current, and it
is serialised between processes (a file lock next to a SQLite database, an advisory lock on
PostgreSQL) so two commands opening a fresh library at once do not both create the tables.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, text

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_PG_LOCK_KEY = 0x64616E6365  # arbitrary, constant: "dance"


class SchemaError(RuntimeError):
    """The database schema cannot be brought to this version of dancesearch."""


def alembic_config() -> Config:
    """An Alembic config pointing at the library migrations (no ini file needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head_revision() -> str | None:
    """The newest revision of the library schema."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(conn: Connection) -> str | None:
    """The revision a database is at (None for an empty database)."""
    return MigrationContext.configure(conn).get_current_revision()


@contextlib.contextmanager
def _sqlite_lock(engine: Engine) -> Iterator[None]:
    db = engine.url.database
    if not db or db == ":memory:":
        yield
        return
    lock_path = Path(db).expanduser().with_name(Path(db).name + ".migrate.lock")
    with open(lock_path, "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def upgrade_to_head(engine: Engine) -> None:
    """Run every pending migration on `engine`'s database; raises :class:`SchemaError`."""
    head = head_revision()
    with engine.connect() as conn:
        if current_revision(conn) == head:
            return
    lock = _sqlite_lock(engine) if engine.dialect.name == "sqlite" else contextlib.nullcontext()
    with lock, engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        if current_revision(conn) == head:
            return
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        log.info("migrating library database to schema %s", head)
        try:
            command.upgrade(cfg, "head")
        except CommandError as exc:
            raise SchemaError(
                f"cannot migrate the library database {engine.url.render_as_string()}: {exc} "
                "(was it created by a newer dancesearch?)") from exc
