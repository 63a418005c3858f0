"""Alembic environment of the library schema.

Used two ways: by :func:`db.library.migrate` (an open connection is passed in
``config.attributes["connection"]``) and from the ``alembic`` command line (the URL comes from
``-x db=URL``, else ``DANCESEARCH_DB``, else the default SQLite library). SQLite migrations run in
batch mode so later ALTERs work there too.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from db.config import LibraryLocation
from db.models import Base
from db.session import create_library_engine

target_metadata = Base.metadata


def _configure_and_run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run against the connection handed in, else one opened from the configured URL."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("db")
    engine = create_library_engine(url or LibraryLocation.resolve().db_url)
    try:
        with engine.begin() as conn:
            _configure_and_run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
run_migrations_online()
