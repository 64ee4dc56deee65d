"""Memo: what a connector learned about its system (e.g. a Bulk job's time per row).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tandem.store.types import LONG_TEXT, NAME_LENGTH, TIMESTAMP

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the memo table."""
    op.create_table(
        "tandem_memo",
        sa.Column("flow", sa.String(NAME_LENGTH), primary_key=True),
        sa.Column("name", sa.String(NAME_LENGTH), primary_key=True),
        sa.Column("value", LONG_TEXT, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )


def downgrade() -> None:
    """Drop the memo table."""
    op.drop_table("tandem_memo")
