"""A fixed-point column's decimal places in the SQL connector's describe, on every dialect."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlerp import Erp

from tandem.connectors.base import EntityBinding
from tandem.connectors.sql import SqlConnector


async def test_describe_gives_the_scale_of_fixed_point_columns_only(
    erp: Erp, connector: SqlConnector
) -> None:
    name = f"prices_{uuid.uuid4().hex[:8]}"
    md = sa.MetaData()
    table = sa.Table(
        name,
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("price", sa.Numeric(12, 3)),
        sa.Column("whole", sa.Numeric(10, 0)),
        sa.Column("ratio", sa.Float),
        sa.Column("qty", sa.Integer),
        sa.Column("label", sa.String(20)),
    )
    md.create_all(erp.engine)
    try:
        binding = EntityBinding(
            name="price",
            source=name,
            key="id",
            fields=("price", "whole", "ratio", "qty", "label"),
        )
        schema = await connector.describe(binding)
    finally:
        table.drop(erp.engine)
    scales = {field: info.scale for field, info in schema.fields.items()}
    assert scales == {
        "id": None,
        "price": 3,
        "whole": 0,
        "ratio": None,  # floating point: no fixed places to round to
        "qty": None,
        "label": None,
    }
    assert schema.fields["price"].type == "number"
