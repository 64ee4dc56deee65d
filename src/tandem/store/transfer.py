"""Moving the whole state from one database to another (e.g. SQLite to PostgreSQL).

The copy streams every table in id order, in batches, so memory stays flat whatever the
size. Ids are kept: a dead letter or conflict a person noted down keeps its number. The
memos go too: the flow the store belongs to, what the connectors learned and the mark the
repair of old links works from (migration 0005); so do the saved schema descriptions, which
the next run's drift report compares against. Leases do not: a claim on the old store says
nothing about who syncs with the new one.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tandem.errors import StoreError
from tandem.store.engine import check_schema, create_engine, migrate, translated
from tandem.store.leases import server_now
from tandem.store.records import now_utc
from tandem.store.schema import lease, metadata

_ORDER = (
    "tandem_link",
    "tandem_synced",
    "tandem_cursor",
    "tandem_dead_letter",
    "tandem_conflict",
    "tandem_work",
    "tandem_audit",
    "tandem_schema_snapshot",
    "tandem_memo",
)


def copy_store(source_url: str, target_url: str, *, batch: int = 1000) -> dict[str, int]:
    """Copy every table of one state store into another, empty one.

    Stop the engine first: a source an engine holds a claim on (an unexpired lease) is
    refused, as rows it writes during the copy would be missed. The target is migrated
    first; the source must be at the newest schema.

    Args:
        source_url: the store to copy from, e.g. ``sqlite:///.tandem/state.db``.
        target_url: the store to copy to, e.g. ``postgresql+psycopg://tandem@db/tandem``.
        batch: rows per read and per insert.

    Returns:
        Table name -> rows copied.

    Raises:
        StoreError: the source is not migrated or an engine is working on it, the target
            already holds state, or a database error.
    """
    source = create_engine(source_url)
    target = create_engine(target_url)
    try:
        check_schema(source)
        migrate(target)
        copied: dict[str, int] = {}
        with translated("copy state"), source.connect() as src, target.begin() as dst:
            _refuse_running(src)
            for name in (*_ORDER, lease.name):
                table = metadata.tables[name]
                if dst.execute(sa.select(sa.func.count()).select_from(table)).scalar_one():
                    raise StoreError(f"target store already holds rows in {name}; use an empty one")
            for name in _ORDER:
                copied[name] = _copy_table(src, dst, metadata.tables[name], batch)
            if dst.dialect.name == "postgresql":
                _reset_sequences(dst)
        return copied
    finally:
        source.dispose()
        target.dispose()


def _refuse_running(src: sa.Connection) -> None:
    """Refuse a source that an engine holds a claim on: what it writes next would be lost."""
    now = server_now(src) or now_utc()  # leases are timed by the server's clock
    held = src.execute(
        sa.select(lease.c.name, lease.c.holder).where(lease.c.expires_at > now).limit(1)
    ).first()
    if held is not None:
        raise StoreError(
            f"the state store is in use: {held.holder} holds {held.name!r}; stop that engine"
            " (or wait for its claim to expire) before copying its state"
        )


def _copy_table(src: sa.Connection, dst: sa.Connection, table: sa.Table, batch: int) -> int:
    order = list(table.primary_key.columns)
    query = sa.select(table).order_by(*order)
    total = 0
    # Keyset pagination would need a per-table key; a streamed cursor does the same job.
    result = src.execution_options(stream_results=True, yield_per=batch).execute(query)
    for rows in result.partitions(batch):
        chunk: list[dict[str, Any]] = [dict(row._mapping) for row in rows]
        dst.execute(sa.insert(table), chunk)
        total += len(chunk)
    return total


def _reset_sequences(dst: sa.Connection) -> None:
    # Explicit ids do not move PostgreSQL's serial sequences; the next insert would clash.
    for name in _ORDER:
        table = metadata.tables[name]
        if "id" not in table.c:
            continue
        dst.execute(
            sa.text(
                f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                f"COALESCE((SELECT MAX(id) FROM {name}), 0) + 1, false)"
            )
        )


__all__ = ["copy_store"]
