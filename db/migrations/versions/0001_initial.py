"""Initial library schema: sources, clips, windows, descriptions, ingest_errors.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create every table and index of the first schema."""
    op.create_table(
        "sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("root", sa.Text(), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sources")),
        sa.UniqueConstraint("name", name=op.f("uq_sources_name")),
    )
    op.create_table(
        "clips",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("format", sa.String(length=50), nullable=False),
        sa.Column("rig", sa.String(length=100), nullable=True),
        sa.Column("orig_fps", sa.Float(), nullable=False),
        sa.Column("orig_frames", sa.Integer(), nullable=False),
        sa.Column("orig_offset", sa.Integer(), nullable=False),
        sa.Column("frames", sa.Integer(), nullable=False),
        sa.Column("duration", sa.Float(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("split", sa.JSON(), nullable=True),
        sa.Column("motion_key", sa.String(length=64), nullable=False),
        sa.Column("file_size", sa.BigInteger(), nullable=True),
        sa.Column("file_mtime_ns", sa.BigInteger(), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["source_id"], ["sources.id"], name=op.f("fk_clips_source_id_sources"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clips")),
        sa.UniqueConstraint("content_hash", name=op.f("uq_clips_content_hash")),
    )
    op.create_index(op.f("ix_clips_source_id"), "clips", ["source_id"], unique=False)
    op.create_table(
        "windows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clip_id", sa.Integer(), nullable=False),
        sa.Column("start", sa.Integer(), nullable=False),
        sa.Column("end", sa.Integer(), nullable=False),
        sa.Column("split", sa.String(length=50), nullable=True),
        sa.Column("embedding_id", sa.Integer(), nullable=True),
        sa.Column("model_version", sa.String(length=100), nullable=True),
        sa.Column("cluster_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["clip_id"], ["clips.id"], name=op.f("fk_windows_clip_id_clips"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_windows")),
    )
    op.create_index("ix_windows_clip_id_start", "windows", ["clip_id", "start"], unique=False)
    op.create_index(op.f("ix_windows_cluster_id"), "windows", ["cluster_id"], unique=False)
    op.create_index(op.f("ix_windows_split"), "windows", ["split"], unique=False)
    op.create_table(
        "descriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column("clip_id", sa.Integer(), nullable=True),
        sa.Column("window_id", sa.Integer(), nullable=True),
        sa.Column("cluster_id", sa.Integer(), nullable=True),
        sa.Column("model_version", sa.String(length=100), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["clip_id"], ["clips.id"], name=op.f("fk_descriptions_clip_id_clips"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["window_id"], ["windows.id"],
                                name=op.f("fk_descriptions_window_id_windows"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_descriptions")),
    )
    op.create_index(op.f("ix_descriptions_clip_id"), "descriptions", ["clip_id"], unique=False)
    op.create_index(op.f("ix_descriptions_kind"), "descriptions", ["kind"], unique=False)
    op.create_table(
        "ingest_errors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("run", sa.String(length=64), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("resolved", sa.Boolean(), nullable=False),
        sa.Column("resolved_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_errors")),
    )
    op.create_index(op.f("ix_ingest_errors_path"), "ingest_errors", ["path"], unique=False)


def downgrade() -> None:
    """Drop everything the upgrade created."""
    op.drop_index(op.f("ix_ingest_errors_path"), table_name="ingest_errors")
    op.drop_table("ingest_errors")
    op.drop_index(op.f("ix_descriptions_kind"), table_name="descriptions")
    op.drop_index(op.f("ix_descriptions_clip_id"), table_name="descriptions")
    op.drop_table("descriptions")
    op.drop_index(op.f("ix_windows_split"), table_name="windows")
    op.drop_index(op.f("ix_windows_cluster_id"), table_name="windows")
    op.drop_index("ix_windows_clip_id_start", table_name="windows")
    op.drop_table("windows")
    op.drop_index(op.f("ix_clips_source_id"), table_name="clips")
    op.drop_table("clips")
    op.drop_table("sources")
