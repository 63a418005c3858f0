"""The motion library: SQL metadata (SQLAlchemy + Alembic) and the content-addressed motion store.

SQLite in a data directory is the embedded default; PostgreSQL is selected with a URL. Nothing here
knows about file formats or models: clips arrive as canonical position arrays plus metadata.
"""
