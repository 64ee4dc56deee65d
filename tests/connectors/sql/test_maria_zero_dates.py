"""MariaDB zero dates (``0000-00-00``) and dates with a zero month or day (``2026-00-00``).

A server without ``NO_ZERO_DATE`` / ``NO_ZERO_IN_DATE`` in its ``sql_mode`` (MariaDB's
default) stores them, and PyMySQL returns them as text. Before the fix a zero modified-at
value crashed every read of the entity (``ValueError: year 0 is out of range`` in
``datetime.fromisoformat``), in ``modified_column`` capture and in reads of an entity with
the ``modified_column`` option, so nothing of it was synced again; and a zero date field came
through as the text ``'0000-00-00'`` in a ``date`` field. A zero date means no date: its field
is ``None``, and a row whose modified-at is one is left out of ``modified_column`` capture as
one whose modified-at is NULL (read by the change log, or its ``modified_at`` is the epoch).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import pytest
from sqlerp import changes_after

from tandem.connectors.base import EPOCH, EntityBinding
from tandem.connectors.sql import SqlConnector, SqlSettings, install_capture
from tandem.connectors.sql.settings import create_engine

pytestmark = pytest.mark.mariadb


@pytest.fixture
async def zeroes(mariadb_url: str) -> AsyncIterator[tuple[str, str, str]]:
    """A table with zero dates in it, captured; its name, the change log's, the URL."""
    table, cl = f"dates_{uuid.uuid4().hex[:8]}", f"cl_{uuid.uuid4().hex[:8]}"
    engine = create_engine(SqlSettings(url=mariadb_url))
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("SET SESSION sql_mode = ''")  # as an old ERP's session
            conn.exec_driver_sql(
                f"CREATE TABLE {table} (id INT PRIMARY KEY, d DATE, m DATETIME(6))"
            )
            conn.exec_driver_sql(
                f"INSERT INTO {table} VALUES (1, '0000-00-00', '0000-00-00 00:00:00'), "
                "(2, '2026-00-00', '2026-05-00 10:00:00'), "
                "(3, '2026-05-04', '2026-05-04 10:00:00.5')"
            )
        install_capture(engine, [(table, "id")], changelog_table=cl)
    finally:
        engine.dispose()
    yield table, cl, mariadb_url


def _binding(table: str, **options: str) -> EntityBinding:
    return EntityBinding(name="dates", source=table, key="id", fields=("d", "m"), options=options)


async def test_modified_column_capture_leaves_zero_modified_at_out(
    zeroes: tuple[str, str, str],
) -> None:
    table, _, url = zeroes
    conn = SqlConnector(SqlSettings(url=url, capture="modified_column"))
    await conn.open()
    try:
        changes = await changes_after(conn, _binding(table, modified_column="m"), None, 1)
    finally:
        await conn.close()
    assert [c.key for c in changes] == ["3"]
    assert changes[0].fields == {
        "d": date(2026, 5, 4),
        "m": datetime(2026, 5, 4, 10, 0, 0, 500000, tzinfo=UTC),
    }


async def test_a_zero_date_field_reads_as_none(zeroes: tuple[str, str, str]) -> None:
    table, cl, url = zeroes
    conn = SqlConnector(SqlSettings(url=url, changelog_table=cl))
    await conn.open()
    try:
        changes = await changes_after(conn, _binding(table), None)
        stamped = await changes_after(conn, _binding(table, modified_column="m"), None)
        records = await conn.read_records(_binding(table, modified_column="m"), ["1", "2"])
    finally:
        await conn.close()
    fields = {c.key: c.fields for c in changes}
    assert fields["1"] == {"d": None, "m": None} and fields["2"] == {"d": None, "m": None}
    assert fields["3"]["d"] == date(2026, 5, 4)
    assert sorted(c.key for c in stamped) == ["1", "2", "3"]  # by the log: every row
    assert {k: c.modified_at for k, c in records.items()} == {"1": EPOCH, "2": EPOCH}
