"""Schema snapshots: each system's describe of every bound object, for drift reports.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tandem.store.types import LONG_TEXT, NAME_LENGTH, TIMESTAMP

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the snapshot table."""
    op.create_table(
        "tandem_schema_snapshot",
        sa.Column("flow", sa.String(NAME_LENGTH), primary_key=True),
        sa.Column("side", sa.String(3), primary_key=True),
        sa.Column("source", sa.String(NAME_LENGTH), primary_key=True),
        sa.Column("fields", LONG_TEXT, nullable=False),
        sa.Column("captured_at", TIMESTAMP, nullable=False),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )


def downgrade() -> None:
    """Drop the snapshot table."""
    op.drop_table("tandem_schema_snapshot")
