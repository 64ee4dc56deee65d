"""A query's key column that the driver gives as ``bytes`` (MariaDB ``VARBINARY``, SQLite
``BLOB``): UTF-8 bytes are the key as text, which finds the row again; other bytes (a binary
UUID) stop the read with an error saying to select the key as text, instead of keying records
by ``"b'...'"``, a text no lookup finds (each re-read would then see the record as gone)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlerp import collect
from sqltables import new_table

from tandem.connectors.base import EntityBinding
from tandem.connectors.sql import SqlConnector, SqlSettings
from tandem.errors import Fatal


@pytest.fixture(params=["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/erp.db"
    return str(request.getfixturevalue("mariadb_url"))


def _table(url: str, key: bytes) -> str:
    binary = "BLOB" if url.startswith("sqlite") else "VARBINARY(32)"
    return new_table(
        url,
        f"code {binary} NOT NULL PRIMARY KEY, title VARCHAR(20)",
        "qkeys",
        rows="(:key, 'one')",
        params={"key": key},
    )


def _binding(table: str) -> EntityBinding:
    return EntityBinding(
        name="doc",
        source="docs_q",
        key="code",
        fields=("title",),
        options={"query": f"SELECT code, title FROM {table}"},
    )


async def test_a_utf8_binary_key_is_its_text_and_finds_its_row_again(url: str) -> None:
    binding = _binding(_table(url, "PL-Łódź-7".encode()))
    conn = SqlConnector(SqlSettings(url=url))
    await conn.open()
    try:
        read = [c for batch in await collect(conn.read_all(binding, 10)) for c in batch]
        again = await conn.read_records(binding, [c.key for c in read])
    finally:
        await conn.close()
    assert [c.key for c in read] == ["PL-Łódź-7"]
    assert list(again) == ["PL-Łódź-7"]
    assert dict(again["PL-Łódź-7"].fields) == {"title": "one"}


async def test_a_binary_key_that_is_not_text_stops_the_read_saying_what_to_do(url: str) -> None:
    raw = bytes.fromhex("9f3c2a11e0b54c7e8a6f00ff12345678")  # a binary UUID
    binding = _binding(_table(url, raw))
    conn = SqlConnector(SqlSettings(url=url))
    await conn.open()
    try:
        with pytest.raises(Fatal) as caught:
            await collect(conn.read_all(binding, 10))
    finally:
        await conn.close()
    message = str(caught.value)
    assert "not UTF-8 text" in message and repr(raw) in message
    assert "HEX" in message
