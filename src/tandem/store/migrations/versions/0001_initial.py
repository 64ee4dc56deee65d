"""The first state store schema: links, synced state, cursors, dead letters, conflicts, work, audit.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tandem.store.types import KEY_LENGTH, LONG_TEXT, NAME_LENGTH, TIMESTAMP

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.Integer, primary_key=True, autoincrement=True)


def _name(column: str, primary_key: bool = False) -> sa.Column[str]:
    return sa.Column(column, sa.String(NAME_LENGTH), nullable=False, primary_key=primary_key)


def _key(column: str, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(column, sa.String(KEY_LENGTH), nullable=nullable)


def _at(column: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(column, TIMESTAMP, nullable=nullable)


def upgrade() -> None:
    """Create every table and index."""
    op.create_table(
        "tandem_link",
        _id(),
        _name("entity"),
        _key("erp_key"),
        _key("crm_key"),
        _at("created_at"),
        sa.UniqueConstraint("entity", "erp_key", name="uq_tandem_link_erp"),
        sa.UniqueConstraint("entity", "crm_key", name="uq_tandem_link_crm"),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    op.create_table(
        "tandem_synced",
        _id(),
        _name("entity"),
        _key("erp_key", nullable=True),
        _key("crm_key", nullable=True),
        sa.Column("state", LONG_TEXT, nullable=False),
        _at("erp_modified", nullable=True),
        _at("crm_modified", nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        _at("updated_at"),
        sa.UniqueConstraint("entity", "erp_key", name="uq_tandem_synced_erp"),
        sa.UniqueConstraint("entity", "crm_key", name="uq_tandem_synced_crm"),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    op.create_table(
        "tandem_cursor",
        _name("flow", primary_key=True),
        _name("entity", primary_key=True),
        sa.Column("side", sa.String(3), primary_key=True),
        _at("modified_at"),
        _key("record_key"),
        _at("updated_at"),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    op.create_table(
        "tandem_dead_letter",
        _id(),
        _name("flow"),
        _name("entity"),
        sa.Column("side", sa.String(3), nullable=False),
        _key("record_key"),
        sa.Column("field", sa.String(255), nullable=True),
        sa.Column("value", sa.String(1000), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("code", sa.String(100), nullable=True),
        sa.Column("payload", LONG_TEXT, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _at("created_at"),
        _at("updated_at"),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    op.create_index(
        "ix_tandem_dead_letter_record",
        "tandem_dead_letter",
        ["flow", "entity", "side", "record_key", "status"],
    )
    op.create_index("ix_tandem_dead_letter_status", "tandem_dead_letter", ["status", "flow"])
    op.create_index("ix_tandem_dead_letter_updated", "tandem_dead_letter", ["updated_at"])
    op.create_table(
        "tandem_conflict",
        _id(),
        _name("flow"),
        _name("entity"),
        _key("erp_key"),
        _key("crm_key", nullable=True),
        sa.Column("field", sa.String(255), nullable=False),
        sa.Column("base_value", LONG_TEXT, nullable=True),
        sa.Column("erp_value", LONG_TEXT, nullable=True),
        sa.Column("crm_value", LONG_TEXT, nullable=True),
        _at("erp_modified", nullable=True),
        _at("crm_modified", nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("resolution", sa.String(8), nullable=True),
        sa.Column("resolved_value", LONG_TEXT, nullable=True),
        _at("created_at"),
        _at("resolved_at", nullable=True),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    op.create_index(
        "ix_tandem_conflict_record",
        "tandem_conflict",
        ["flow", "entity", "erp_key", "field", "status"],
    )
    op.create_index("ix_tandem_conflict_status", "tandem_conflict", ["status", "flow"])
    op.create_table(
        "tandem_work",
        _id(),
        _name("flow"),
        _name("entity"),
        sa.Column("side", sa.String(3), nullable=False),
        _key("record_key"),
        sa.Column("reason", sa.String(255), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        _at("not_before"),
        sa.Column("status", sa.String(16), nullable=False),
        _at("lease_until", nullable=True),
        _at("created_at"),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    op.create_index("ix_tandem_work_due", "tandem_work", ["flow", "status", "not_before"])
    op.create_index(
        "ix_tandem_work_record",
        "tandem_work",
        ["flow", "entity", "side", "record_key", "status"],
    )
    op.create_table(
        "tandem_audit",
        _id(),
        _name("flow"),
        _name("entity"),
        sa.Column("target", sa.String(3), nullable=False),
        _key("record_key"),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("before", LONG_TEXT, nullable=True),
        sa.Column("after", LONG_TEXT, nullable=True),
        sa.Column("cause", sa.String(1000), nullable=False),
        _at("at"),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    op.create_index("ix_tandem_audit_record", "tandem_audit", ["flow", "entity", "record_key"])
    op.create_index("ix_tandem_audit_flow_at", "tandem_audit", ["flow", "at"])
    op.create_index("ix_tandem_audit_at", "tandem_audit", ["at"])


def downgrade() -> None:
    """Drop every table (the state is lost)."""
    for table in (
        "tandem_audit",
        "tandem_work",
        "tandem_conflict",
        "tandem_dead_letter",
        "tandem_cursor",
        "tandem_synced",
        "tandem_link",
    ):
        op.drop_table(table)
