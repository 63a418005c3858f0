"""Clips record what was detected when they were read (rig, units, up axis, root, frame-rate source).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the nullable JSON column ``clips.details``."""
    with op.batch_alter_table("clips") as batch:
        batch.add_column(sa.Column("details", sa.JSON(), nullable=True))


def downgrade() -> None:
    """Drop ``clips.details``."""
    with op.batch_alter_table("clips") as batch:
        batch.drop_column("details")
