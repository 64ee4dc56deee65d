"""Writing: idempotent upserts, updates, deletes, per-record failures; and describe."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlerp import Erp, customer

from tandem.connectors.base import WriteOp
from tandem.connectors.sql import SqlConnector


def _upsert(ref: str, match: str, **values: object) -> WriteOp:
    return WriteOp(action="upsert", ref=ref, values=values, match=match)


async def test_upsert_by_external_id_creates_then_updates_without_duplicates(
    erp: Erp, connector: SqlConnector
) -> None:
    binding = erp.binding()
    op = _upsert("001A", "001A", name="Acme", email="a@acme.pl", country_code="PL")
    (created,) = await connector.write_batch(binding, [op])
    assert created.ok and created.created and created.key is not None
    (again,) = await connector.write_batch(binding, [op])  # the same op sent twice
    assert again.ok and not again.created and again.key == created.key
    (changed,) = await connector.write_batch(binding, [_upsert("001A", "001A", name="Acme SA")])
    assert changed.key == created.key and not changed.created
    rows = erp.rows()
    assert len(rows) == 1
    assert (rows[0]["id"], rows[0]["name"], rows[0]["crm_id"]) == (
        int(created.key),
        "Acme SA",
        "001A",
    )


async def test_upsert_links_a_known_row_by_key_when_no_row_holds_the_id(
    erp: Erp, connector: SqlConnector
) -> None:
    (key,) = erp.insert(customer("Acme"))
    op = WriteOp(
        action="upsert", ref="001B", values={"nip": "5250001009"}, match="001B", key=str(key)
    )
    (out,) = await connector.write_batch(erp.binding(), [op])
    assert out.ok and out.key == str(key) and not out.created
    assert erp.rows()[0]["crm_id"] == "001B"


async def test_values_of_every_kind_are_stored(erp: Erp, connector: SqlConnector) -> None:
    warsaw = timezone(timedelta(hours=2))
    op = _upsert(
        "r1",
        "001C",
        name="Typed",
        credit_limit=Decimal("1234.50"),
        since=date(2020, 2, 29),
        vip=True,
        updated_at=datetime(2026, 5, 1, 14, 0, tzinfo=warsaw),
        nip=None,
    )
    (out,) = await connector.write_batch(erp.binding(), [op])
    assert out.ok, out.error
    row = erp.rows()[0]
    assert row["credit_limit"] == Decimal("1234.50")
    assert row["since"] == date(2020, 2, 29)
    assert bool(row["vip"]) is True
    assert row["updated_at"] == datetime(2026, 5, 1, 12, 0)  # naive column: UTC
    narrow = dataclasses.replace(erp.binding(), fields=("updated_at", "vip", "credit_limit"))
    assert out.key is not None
    fields = (await connector.read_records(narrow, [out.key]))[out.key].fields
    assert fields["updated_at"] == datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    assert fields["vip"] is True


async def test_update_and_delete_by_key(erp: Erp, connector: SqlConnector) -> None:
    a, b = erp.insert(customer("Acme"), customer("Bolt"))
    binding = erp.binding()
    outcomes = await connector.write_batch(
        binding,
        [
            WriteOp(action="update", ref="x", key=str(a), values={"name": "Acme SA"}),
            WriteOp(action="update", ref="y", key=str(a), values={"name": "Acme SA"}),  # no-op
            WriteOp(action="delete", ref="z", key=str(b)),
            WriteOp(action="delete", ref="w", key=str(b)),  # already gone: fine
            WriteOp(action="update", ref="v", key="999999", values={"name": "Ghost"}),
        ],
    )
    assert [o.ok for o in outcomes] == [True, True, True, True, False]
    assert outcomes[4].error is not None and outcomes[4].error.code == "NOT_FOUND"
    assert [(r["id"], r["name"]) for r in erp.rows()] == [(a, "Acme SA")]


async def test_soft_delete_flags_the_row(erp: Erp, connector: SqlConnector) -> None:
    (a,) = erp.insert(customer("Acme"))
    binding = erp.binding(soft_delete_column="deleted")
    (out,) = await connector.write_batch(binding, [WriteOp(action="delete", ref="x", key=str(a))])
    assert out.ok
    assert bool(erp.rows()[0]["deleted"]) is True


async def test_bad_records_are_rejected_while_the_rest_commits(
    erp: Erp, connector: SqlConnector
) -> None:
    binding = erp.binding()
    ops = [
        _upsert("good-1", "G1", name="Good one"),
        _upsert("null-name", "N1", name=None, email="n@x.pl"),
        _upsert("good-2", "G2", name="Good two"),
        _upsert("bad-col", "B1", name="X", colour="red"),
    ]
    if erp.dialect != "sqlite":  # SQLite does not enforce VARCHAR lengths
        ops.append(_upsert("too-long", "L1", name="Long", country_code="POL"))
    outcomes = await connector.write_batch(binding, ops)
    by_ref = {o.ref: o for o in outcomes}
    assert [o.ref for o in outcomes] == [op.ref for op in ops]
    assert by_ref["good-1"].ok and by_ref["good-2"].ok
    null = by_ref["null-name"].error
    assert null is not None and null.system == "erp" and null.record == "null-name"
    assert null.field == "name" and null.value is None
    assert "null" in str(null).lower()
    assert by_ref["bad-col"].error is not None and by_ref["bad-col"].error.field == "colour"
    if erp.dialect != "sqlite":
        long = by_ref["too-long"].error
        assert long is not None and long.field == "country_code" and long.value == "POL"
    assert sorted(r["crm_id"] for r in erp.rows()) == ["G1", "G2"]


async def test_foreign_key_violation_is_a_record_rejection(
    erp: Erp, connector: SqlConnector
) -> None:
    (acme,) = erp.insert(customer("Acme"))
    binding = erp.contact_binding()
    outcomes = await connector.write_batch(
        binding,
        [
            _upsert("c1", "003A", customer_id=acme, first_name="Anna"),
            _upsert("c2", "003B", customer_id=999999, first_name="Ghost"),
        ],
    )
    assert outcomes[0].ok
    error = outcomes[1].error
    assert error is not None and error.field == "customer_id" and error.value == 999999
    assert [r["crm_id"] for r in erp.rows(erp.contacts)] == ["003A"]


async def test_duplicate_unique_value_is_a_record_rejection(
    erp: Erp, connector: SqlConnector
) -> None:
    erp.insert(customer("Acme", crm_id="001X"))
    (b,) = erp.insert(customer("Bolt"))
    (out,) = await connector.write_batch(
        erp.binding(), [WriteOp(action="update", ref="b", key=str(b), values={"crm_id": "001X"})]
    )
    assert not out.ok and out.error is not None
    assert out.error.field == "crm_id" and out.error.value == "001X"
    erp.insert(customer("Taxed", nip="5250001009"))
    (dup,) = await connector.write_batch(
        erp.binding(), [WriteOp(action="update", ref="b", key=str(b), values={"nip": "5250001009"})]
    )
    assert dup.error is not None and dup.error.field == "nip"  # a named constraint
    assert "record b, field nip, value '5250001009'" in str(dup.error)


async def test_describe_reflects_the_table(erp: Erp, connector: SqlConnector) -> None:
    schema = await connector.describe(erp.binding())
    f = schema.fields
    assert f["id"].type == "id" and not f["id"].createable and not f["id"].updateable
    assert f["name"].type == "string" and f["name"].length == 80 and not f["name"].nillable
    assert f["name"].required_on_create
    assert f["email"].nillable and not f["email"].required_on_create
    assert f["crm_id"].unique and f["crm_id"].external_id
    assert f["updated_at"].type == "datetime"
    assert f["since"].type == "date"
    assert f["credit_limit"].type == "number"
    assert f["vip"].type == "boolean"
    contacts = await connector.describe(erp.contact_binding())
    assert contacts.fields["customer_id"].type == "reference"
    assert contacts.fields["customer_id"].reference_to == (erp.customers.name,)


@pytest.mark.parametrize("action", ["update", "delete"])
async def test_bad_key_is_rejected_not_raised(
    erp: Erp, connector: SqlConnector, action: str
) -> None:
    op = WriteOp(action=action, ref="k", key="abc", values={"name": "X"})  # type: ignore[arg-type]
    (out,) = await connector.write_batch(erp.binding(), [op])
    assert not out.ok and out.error is not None and out.error.field == "id"
