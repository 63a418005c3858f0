"""Hybrid search: the metadata text of each clip and the model version that embedded it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``clip_texts`` (one row per clip, deleted with it)."""
    op.create_table(
        "clip_texts",
        sa.Column("clip_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("model_version", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(["clip_id"], ["clips.id"], name=op.f("fk_clip_texts_clip_id_clips"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("clip_id", name=op.f("pk_clip_texts")),
    )


def downgrade() -> None:
    """Drop ``clip_texts``."""
    op.drop_table("clip_texts")
