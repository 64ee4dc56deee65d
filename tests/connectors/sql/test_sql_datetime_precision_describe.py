"""A datetime column's fractional-second digits in the SQL connector's describe (as its scale)."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlerp import Erp

from tandem.connectors.base import EntityBinding
from tandem.connectors.sql import SqlConnector

DECLARED = {
    # column: (MariaDB, PostgreSQL), as each declares a datetime by default and with digits
    "plain": ("DATETIME", "timestamp"),
    "whole": ("DATETIME(0)", "timestamp(0)"),
    "millis": ("DATETIME(3)", "timestamp(3) with time zone"),
    "micros": ("DATETIME(6)", "timestamp(6)"),
    "stamp": ("TIMESTAMP NULL", "timestamptz"),
}
EXPECTED = {
    "mysql": {"plain": 0, "whole": 0, "millis": 3, "micros": 6, "stamp": 0},
    "postgresql": {"plain": 6, "whole": 0, "millis": 3, "micros": 6, "stamp": 6},
}


async def test_describe_gives_the_digits_a_datetime_column_keeps(
    erp: Erp, connector: SqlConnector
) -> None:
    name = f"visits_{uuid.uuid4().hex[:8]}"
    dialect = erp.engine.dialect.name
    column = 1 if dialect == "postgresql" else 0
    declared = ", ".join(f"{c} {types[column]}" for c, types in DECLARED.items())
    if dialect == "sqlite":
        declared = ", ".join(f"{c} DATETIME" for c in DECLARED)
    with erp.engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {name} (id INTEGER PRIMARY KEY, {declared}, n INT)"))
    try:
        binding = EntityBinding(name="visit", source=name, key="id", fields=(*DECLARED, "n"))
        schema = await connector.describe(binding)
    finally:
        with erp.engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE {name}"))
    digits = {field: schema.fields[field].scale for field in DECLARED}
    # SQLite keeps the text it is given: nothing known, nothing cut
    assert digits == EXPECTED.get(dialect, dict.fromkeys(DECLARED))
    assert {schema.fields[field].type for field in DECLARED} == {"datetime"}
    assert schema.fields["n"].scale is None and schema.fields["id"].scale is None
