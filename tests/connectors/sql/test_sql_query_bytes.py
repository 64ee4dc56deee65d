"""A query source's values that the driver gives as ``bytes`` (MariaDB, SQLite).

A query's result columns carry no SQLAlchemy type, and neither PyMySQL's type codes nor
SQLite tell a ``BLOB`` from a ``TEXT`` column: before the fix a query over a binary column (or
a MariaDB text expression of the binary character set, ``CAST(... AS BINARY)``) handed
``bytes`` to the pipeline, which the connector contract does not carry. Now a value that is
UTF-8 text is read as that text; any other bytes make the record unreadable
(:class:`UnreadableFields`): the value is left out of its fields, and the mapper refuses the
record with an error naming the entity, the record, the column and the start of the value, so
the pipeline dead-letters it. SQLite's dynamic typing lets any column of a table hold a blob:
its tables' values are looked at the same way.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlerp import changes_after, collect
from sqltables import new_table

from tandem.connectors.base import Change, EntityBinding, UnreadableFields
from tandem.connectors.sql import SqlConnector, SqlSettings
from tandem.connectors.sql.settings import create_engine
from tandem.errors import MappingError

GOOD = "Łódź".encode()
BAD = b"\x00\xff\xfe" + bytes(range(40))


@pytest.fixture(
    params=["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)],
)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """SQLite or MariaDB: the databases whose drivers give a query's bytes untold."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/erp.db"
    return str(request.getfixturevalue("mariadb_url"))


def _documents(url: str) -> str:
    """A table of documents: row 1 holds UTF-8 text in its binary column, row 2 other bytes."""
    return new_table(
        url,
        f"id INTEGER PRIMARY KEY, title VARCHAR(20), "
        f"data {'BLOB' if url.startswith('sqlite') else 'VARBINARY(64)'}, changed TIMESTAMP NULL",
        "qdocs",
        rows="(1, 'one', :good, '2026-01-01 10:00:00'), (2, 'two', :bad, '2026-01-01 11:00:00')",
        params={"good": GOOD, "bad": BAD},
    )


def _query(table: str, **options: str) -> EntityBinding:
    return EntityBinding(
        name="doc",
        source="docs_q",
        key="id",
        fields=("title", "data"),
        options={"query": f"SELECT id, title, data, changed FROM {table}", **options},
    )


def _no_bytes(changes: list[Change]) -> None:
    for change in changes:
        assert not any(isinstance(v, bytes | bytearray) for v in change.fields.values()), change


async def test_a_query_s_utf8_bytes_are_read_as_text_and_other_bytes_unreadable(
    url: str,
) -> None:
    table = _documents(url)
    binding = _query(table)
    conn = SqlConnector(SqlSettings(url=url))
    await conn.open()
    try:
        await conn.describe(binding)  # not refused: no type says the column is binary
        read = [c for batch in await collect(conn.read_all(binding, 10)) for c in batch]
        by_key = await conn.read_records(binding, ["1", "2"])
    finally:
        await conn.close()
    for changes in (read, [by_key["1"], by_key["2"]]):
        _no_bytes(changes)
        good, bad = changes
        assert dict(good.fields) == {"title": "one", "data": "Łódź"}
        assert not isinstance(good.fields, UnreadableFields)
        assert isinstance(bad.fields, UnreadableFields)
        assert dict(bad.fields) == {"title": "two"}  # the bytes are left out
        error = bad.fields.error(bad.key)
        assert isinstance(error, MappingError)
        assert (error.record, error.field) == ("2", "data")
        assert error.value == BAD[:16]
        message = str(error)
        assert "record 2, field data" in message
        assert "doc" in message and "'docs_q'" in message and "43 bytes" in message
        assert "not UTF-8 text" in message
        assert repr(BAD[:16]) in message and repr(BAD) not in message


async def test_changes_read_by_modified_column_carry_no_bytes(url: str) -> None:
    table = _documents(url)
    binding = _query(table, modified_column="changed")
    conn = SqlConnector(SqlSettings(url=url, capture="modified_column"))
    await conn.open()
    try:
        changes = await changes_after(conn, binding, None)
    finally:
        await conn.close()
    _no_bytes(changes)
    assert [c.key for c in changes] == ["1", "2"]
    assert changes[0].fields["data"] == "Łódź"
    assert isinstance(changes[1].fields, UnreadableFields)


@pytest.mark.mariadb
async def test_a_maria_text_expression_of_the_binary_charset_is_read_as_text(
    mariadb_url: str,
) -> None:
    """``CAST(title AS BINARY)`` (or a column of a ``_bin``-collated legacy schema read
    through a binary expression) comes back from PyMySQL as bytes."""
    table = _documents(mariadb_url)
    binding = EntityBinding(
        name="doc",
        source="docs_q",
        key="id",
        fields=("title",),
        options={"query": f"SELECT id, CAST(title AS BINARY) AS title FROM {table}"},
    )
    conn = SqlConnector(SqlSettings(url=mariadb_url))
    await conn.open()
    try:
        read = [c for batch in await collect(conn.read_all(binding, 10)) for c in batch]
    finally:
        await conn.close()
    assert [(c.key, dict(c.fields)) for c in read] == [
        ("1", {"title": "one"}),
        ("2", {"title": "two"}),
    ]


async def test_a_sqlite_text_column_holding_a_blob_is_looked_at_too(tmp_path: Path) -> None:
    """SQLite stores a blob in a ``TEXT`` column as it is given (no ``STRICT``)."""
    url = f"sqlite:///{tmp_path}/erp.db"
    table = _documents(url)
    engine = create_engine(SqlSettings(url=url))
    try:
        with engine.begin() as c:
            c.execute(sa.text(f"UPDATE {table} SET title = :b WHERE id = 2"), {"b": BAD})
            c.execute(sa.text(f"UPDATE {table} SET title = :b WHERE id = 1"), {"b": GOOD})
    finally:
        engine.dispose()
    binding = EntityBinding(name="doc", source=table, key="id", fields=("title",))
    conn = SqlConnector(SqlSettings(url=url))
    await conn.open()
    try:
        read = [c for batch in await collect(conn.read_all(binding, 10)) for c in batch]
    finally:
        await conn.close()
    _no_bytes(read)
    assert dict(read[0].fields) == {"title": "Łódź"}
    assert isinstance(read[1].fields, UnreadableFields) and dict(read[1].fields) == {}
    assert read[1].fields.error("2").field == "title"
