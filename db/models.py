"""SQLAlchemy 2 ORM models of the motion library.

Tables: ``sources`` (archives), ``clips`` (one per distinct motion content), ``windows`` (fixed-size
pieces of a clip in canonical 25 fps frames, with slots for embeddings and clusters filled by later
stages), ``descriptions`` (texts: captions, cluster descriptions, user notes), ``clip_texts`` (the
metadata text of each clip as the hybrid search embedded it) and ``ingest_errors``
(files that could not be ingested, kept until the file ingests fine).

The schema is owned by the Alembic migrations in ``db/migrations``; these models must stay
autogenerate-consistent with them (``tests/test_db_library.py`` checks it). Constraint names follow
one naming convention so migrations are portable between SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Window split of a window that straddles a boundary between two frame-range splits.
STRADDLING_SPLIT = "none"


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (the default of every timestamp column)."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base carrying the shared metadata and naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Source(Base):
    """An archive or data set clips come from (``name`` unique, ``root`` the folder it was read from)."""

    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    root: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    clips: Mapped[list[Clip]] = relationship(back_populates="source")


class Clip(Base):
    """One distinct motion: identified by the sha256 of its uncompressed file content.

    ``orig_fps``/``orig_frames`` describe the file as published, ``orig_offset`` is the number of
    leading original frames dropped by the canonicaliser (a T-pose); ``frames`` counts canonical 25 fps
    frames of the stored motion (``motion_key`` in :class:`db.store.MotionStore`). ``split`` is a
    split name or a dict ``{split: [start, end]}`` of frame ranges in original frames.
    """

    __tablename__ = "clips"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    format: Mapped[str] = mapped_column(String(50))
    rig: Mapped[str | None] = mapped_column(String(100))
    orig_fps: Mapped[float] = mapped_column(Float)
    orig_frames: Mapped[int] = mapped_column(Integer)
    orig_offset: Mapped[int] = mapped_column(Integer, default=0)
    frames: Mapped[int] = mapped_column(Integer)
    duration: Mapped[float] = mapped_column(Float)
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    description: Mapped[str | None] = mapped_column(Text)
    split: Mapped[Any] = mapped_column(JSON, nullable=True)
    motion_key: Mapped[str] = mapped_column(String(64))
    file_size: Mapped[int | None] = mapped_column(BigInteger)
    file_mtime_ns: Mapped[int | None] = mapped_column(BigInteger)
    # What the reader and canonicaliser detected: rig, units, up axis, root handling, interpolated
    # joints, frame-rate source (sidecar or file), plausibility measures (see motion.canonical.Decision).
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    source: Mapped[Source] = relationship(back_populates="clips")
    windows: Mapped[list[Window]] = relationship(
        back_populates="clip", cascade="all, delete-orphan", passive_deletes=True)


class Window(Base):
    """A window [start, end) of a clip in canonical frames, with its split and later-stage slots."""

    __tablename__ = "windows"
    __table_args__ = (Index("ix_windows_clip_id_start", "clip_id", "start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clip_id: Mapped[int] = mapped_column(ForeignKey("clips.id", ondelete="CASCADE"))
    start: Mapped[int] = mapped_column(Integer)
    end: Mapped[int] = mapped_column(Integer)
    split: Mapped[str | None] = mapped_column(String(50), index=True)
    embedding_id: Mapped[int | None] = mapped_column(Integer)
    model_version: Mapped[str | None] = mapped_column(String(100))
    cluster_id: Mapped[int | None] = mapped_column(Integer, index=True)

    clip: Mapped[Clip] = relationship(back_populates="windows")


class Description(Base):
    """A text about motion: a caption of a clip/window, a cluster's description, a user note."""

    __tablename__ = "descriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(50), index=True)
    clip_id: Mapped[int | None] = mapped_column(ForeignKey("clips.id", ondelete="CASCADE"), index=True)
    window_id: Mapped[int | None] = mapped_column(ForeignKey("windows.id", ondelete="CASCADE"))
    cluster_id: Mapped[int | None] = mapped_column(Integer)
    model_version: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ClipText(Base):
    """The metadata text of a clip (file and folder words, labels, description) as the search layer
    indexed it: ``model_version`` is the model whose text encoder embedded ``text`` into the
    ``metadata`` index (None when the text is empty, i.e. uninformative, and nothing is embedded)."""

    __tablename__ = "clip_texts"

    clip_id: Mapped[int] = mapped_column(ForeignKey("clips.id", ondelete="CASCADE"), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    model_version: Mapped[str | None] = mapped_column(String(100))


class IngestError(Base):
    """A file that failed to ingest: its path, the reason, when, and in which ingest run.

    ``resolved_at`` is set when the same path later ingests fine (or is found already present).
    """

    __tablename__ = "ingest_errors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(Text, index=True)
    reason: Mapped[str] = mapped_column(Text)
    run: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    resolved: Mapped[bool] = mapped_column(Boolean, default=False)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
