"""MariaDB: a column whose name holds a backtick is read and written like any other.

Before the fix SQLAlchemy's MySQL reflection (which parses ``SHOW CREATE TABLE``) kept the
backtick doubled as the statement quotes it: a column ``a`b`` was reflected as ``a``b``, so a
binding naming ``a`b`` was refused ("not in the table") and one naming the reflected name
failed in the database ("Unknown column").
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlerp import collect
from sqltables import new_table

from tandem.connectors.base import EntityBinding, WriteOp
from tandem.connectors.sql import SqlConnector, SqlSettings

pytestmark = pytest.mark.mariadb


async def test_a_column_named_with_a_backtick_is_described_read_and_written(
    maria_engine: sa.Engine, mariadb_url: str
) -> None:
    table = new_table(
        mariadb_url,
        "`i``d` INT AUTO_INCREMENT PRIMARY KEY, `a``b` VARCHAR(10), `c````d` VARCHAR(10) UNIQUE",
        "bt",
        rows="(1, 'one', 'x1')",
    )
    binding = EntityBinding(
        name="odd", source=table, key="i`d", fields=("a`b",), external_id="c``d"
    )
    conn = SqlConnector(SqlSettings(url=mariadb_url))
    await conn.open()
    try:
        described = (await conn.describe(binding)).fields
        read = [c for batch in await collect(conn.read_all(binding, 10)) for c in batch]
        outcomes = await conn.write_batch(
            binding,
            [
                WriteOp(action="update", ref="u", key="1", values={"a`b": "uno"}),
                WriteOp(action="upsert", ref="n", match="x2", values={"a`b": "two"}),
            ],
        )
    finally:
        await conn.close()
    assert set(described) == {"i`d", "a`b", "c``d"}
    assert described["i`d"].type == "id" and described["c``d"].unique
    assert [(c.key, dict(c.fields)) for c in read] == [("1", {"a`b": "one", "c``d": "x1"})]
    assert all(o.ok for o in outcomes), outcomes
    with maria_engine.connect() as c:
        rows = c.exec_driver_sql(f"SELECT * FROM {table} ORDER BY 1").all()
    assert [tuple(r) for r in rows] == [(1, "uno", "x1"), (2, "two", "x2")]
