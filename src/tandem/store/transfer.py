"""Moving the whole state from one database to another (e.g. SQLite to PostgreSQL).

The copy streams every table in id order, in batches, so memory stays flat whatever the
size. Ids are kept: a dead letter or conflict a person noted down keeps its number.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tandem.errors import StoreError
from tandem.store.engine import check_schema, create_engine, migrate, translated
from tandem.store.schema import metadata

_ORDER = (
    "tandem_link",
    "tandem_synced",
    "tandem_cursor",
    "tandem_dead_letter",
    "tandem_conflict",
    "tandem_work",
    "tandem_audit",
)


def copy_store(source_url: str, target_url: str, *, batch: int = 1000) -> dict[str, int]:
    """Copy every table of one state store into another, empty one.

    Stop the engine first: rows written to the source during the copy may be missed.
    The target is migrated first; the source must be at the newest schema.

    Args:
        source_url: the store to copy from, e.g. ``sqlite:///.tandem/state.db``.
        target_url: the store to copy to, e.g. ``postgresql+psycopg://tandem@db/tandem``.
        batch: rows per read and per insert.

    Returns:
        Table name -> rows copied.

    Raises:
        StoreError: the source is not migrated, the target already holds state, or a
            database error.
    """
    source = create_engine(source_url)
    target = create_engine(target_url)
    try:
        check_schema(source)
        migrate(target)
        copied: dict[str, int] = {}
        with translated("copy state"), source.connect() as src, target.begin() as dst:
            for name in _ORDER:
                table = metadata.tables[name]
                if dst.execute(sa.select(sa.func.count()).select_from(table)).scalar_one():
                    raise StoreError(f"target store already holds rows in {name}; use an empty one")
                copied[name] = _copy_table(src, dst, table, batch)
            if dst.dialect.name == "postgresql":
                _reset_sequences(dst)
        return copied
    finally:
        source.dispose()
        target.dispose()


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
