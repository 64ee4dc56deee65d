"""The state store's tables (SQLAlchemy Core). The migrations create exactly these.

Every table is prefixed ``tandem_`` so the store can live in a database shared with other
applications. On MariaDB/MySQL the tables use ``utf8mb4_bin``: record keys are compared
case-sensitively (Salesforce 15-character Ids differ only by case).
"""

from __future__ import annotations

import sqlalchemy as sa

from tandem.store.types import KEY_LENGTH, NAME_LENGTH, CodecJson, UtcDateTime

metadata = sa.MetaData()


def _name() -> sa.String:
    return sa.String(NAME_LENGTH)


def _key() -> sa.String:
    return sa.String(KEY_LENGTH)


link = sa.Table(
    "tandem_link",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("entity", _name(), nullable=False),
    sa.Column("erp_key", _key(), nullable=False),
    sa.Column("crm_key", _key(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.UniqueConstraint("entity", "erp_key", name="uq_tandem_link_erp"),
    sa.UniqueConstraint("entity", "crm_key", name="uq_tandem_link_crm"),
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_bin",
)

synced = sa.Table(
    "tandem_synced",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("entity", _name(), nullable=False),
    sa.Column("erp_key", _key(), nullable=True),
    sa.Column("crm_key", _key(), nullable=True),
    sa.Column("state", CodecJson(), nullable=False),
    sa.Column("erp_modified", UtcDateTime(), nullable=True),
    sa.Column("crm_modified", UtcDateTime(), nullable=True),
    sa.Column("deleted", sa.Boolean(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.UniqueConstraint("entity", "erp_key", name="uq_tandem_synced_erp"),
    sa.UniqueConstraint("entity", "crm_key", name="uq_tandem_synced_crm"),
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_bin",
)

cursor = sa.Table(
    "tandem_cursor",
    metadata,
    sa.Column("flow", _name(), primary_key=True),
    sa.Column("entity", _name(), primary_key=True),
    sa.Column("side", sa.String(3), primary_key=True),
    sa.Column("modified_at", UtcDateTime(), nullable=False),
    sa.Column("record_key", _key(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_bin",
)

dead_letter = sa.Table(
    "tandem_dead_letter",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("flow", _name(), nullable=False),
    sa.Column("entity", _name(), nullable=False),
    sa.Column("side", sa.String(3), nullable=False),
    sa.Column("record_key", _key(), nullable=False),
    sa.Column("field", sa.String(255), nullable=True),
    sa.Column("value", sa.String(1000), nullable=True),
    sa.Column("message", sa.Text(), nullable=False),
    sa.Column("code", sa.String(100), nullable=True),
    sa.Column("payload", CodecJson(), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Index("ix_tandem_dead_letter_record", "flow", "entity", "side", "record_key", "status"),
    sa.Index("ix_tandem_dead_letter_status", "status", "flow"),
    sa.Index("ix_tandem_dead_letter_updated", "updated_at"),
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_bin",
)

conflict = sa.Table(
    "tandem_conflict",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("flow", _name(), nullable=False),
    sa.Column("entity", _name(), nullable=False),
    sa.Column("erp_key", _key(), nullable=False),
    sa.Column("crm_key", _key(), nullable=True),
    sa.Column("field", sa.String(255), nullable=False),
    sa.Column("base_value", CodecJson(), nullable=True),
    sa.Column("erp_value", CodecJson(), nullable=True),
    sa.Column("crm_value", CodecJson(), nullable=True),
    sa.Column("erp_modified", UtcDateTime(), nullable=True),
    sa.Column("crm_modified", UtcDateTime(), nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("resolution", sa.String(8), nullable=True),
    sa.Column("resolved_value", CodecJson(), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("resolved_at", UtcDateTime(), nullable=True),
    sa.Index("ix_tandem_conflict_record", "flow", "entity", "erp_key", "field", "status"),
    sa.Index("ix_tandem_conflict_status", "status", "flow"),
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_bin",
)

work = sa.Table(
    "tandem_work",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("flow", _name(), nullable=False),
    sa.Column("entity", _name(), nullable=False),
    sa.Column("side", sa.String(3), nullable=False),
    sa.Column("record_key", _key(), nullable=False),
    sa.Column("reason", sa.String(255), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("not_before", UtcDateTime(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("lease_until", UtcDateTime(), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Index("ix_tandem_work_due", "flow", "status", "not_before"),
    sa.Index("ix_tandem_work_record", "flow", "entity", "side", "record_key", "status"),
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_bin",
)

audit = sa.Table(
    "tandem_audit",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("flow", _name(), nullable=False),
    sa.Column("entity", _name(), nullable=False),
    sa.Column("target", sa.String(3), nullable=False),
    sa.Column("record_key", _key(), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("before", CodecJson(), nullable=True),
    sa.Column("after", CodecJson(), nullable=True),
    sa.Column("cause", sa.String(1000), nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Index("ix_tandem_audit_record", "flow", "entity", "record_key"),
    sa.Index("ix_tandem_audit_flow_at", "flow", "at"),
    sa.Index("ix_tandem_audit_at", "at"),
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_bin",
)

schema_snapshot = sa.Table(
    "tandem_schema_snapshot",
    metadata,
    sa.Column("flow", _name(), primary_key=True),
    sa.Column("side", sa.String(3), primary_key=True),
    sa.Column("source", _name(), primary_key=True),
    sa.Column("fields", CodecJson(), nullable=False),
    sa.Column("captured_at", UtcDateTime(), nullable=False),
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_bin",
)

memo = sa.Table(
    "tandem_memo",
    metadata,
    sa.Column("flow", _name(), primary_key=True),
    sa.Column("name", _name(), primary_key=True),
    sa.Column("value", CodecJson(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_bin",
)

lease = sa.Table(
    "tandem_lease",
    metadata,
    sa.Column("name", _name(), primary_key=True),
    sa.Column("holder", sa.String(255), nullable=False),
    sa.Column("acquired_at", UtcDateTime(), nullable=False),
    sa.Column("expires_at", UtcDateTime(), nullable=False),
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_bin",
)

__all__ = [
    "audit",
    "conflict",
    "cursor",
    "dead_letter",
    "lease",
    "link",
    "memo",
    "metadata",
    "schema_snapshot",
    "synced",
    "work",
]
