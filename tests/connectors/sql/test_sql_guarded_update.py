"""A guarded update is made only if its row still holds the values read (SQLite, PostgreSQL,
MariaDB): an edit landing between Tandem's read and its write is not overwritten."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlerp import Erp, customer

from tandem.connectors.base import Change, EntityBinding, WriteGuard, WriteOp
from tandem.connectors.sql import SqlConnector
from tandem.connectors.sql.writer import CHANGED

WIDE = ("name", "nip", "email", "country_code", "updated_at", "credit_limit", "vip")
"""The fields read and written: numbers and booleans too."""


async def _read(connector: SqlConnector, erp: Erp, key: int) -> Change:
    return (await connector.read_records(_binding(erp), [str(key)]))[str(key)]


def _binding(erp: Erp) -> EntityBinding:
    return dataclasses.replace(erp.binding(), fields=WIDE)


def _guarded(key: int, read: Change, names: tuple[str, ...], **values: Any) -> WriteOp:
    guard = WriteGuard({n: read.fields[n] for n in names}, read.modified_at)
    return WriteOp("update", f"crm-{key}", values, key=str(key), guard=guard)


async def test_a_row_still_as_read_is_updated(erp: Erp, connector: SqlConnector) -> None:
    (key,) = erp.insert(
        customer(
            "Acme",
            nip=None,
            credit_limit=Decimal("1200.50"),
            vip=True,
            updated_at=datetime(2026, 5, 1, 12, 0),
        )
    )
    read = await _read(connector, erp, key)
    names = ("email", "nip", "credit_limit", "vip", "updated_at")
    op = _guarded(key, read, names, email="new@acme.pl", nip="5250001009")
    (out,) = await connector.write_batch(_binding(erp), [op])
    assert out.ok and not out.changed, out.error
    row = erp.rows()[0]
    assert (row["email"], row["nip"]) == ("new@acme.pl", "5250001009")


async def test_a_row_edited_since_the_read_is_left_alone(erp: Erp, connector: SqlConnector) -> None:
    (key,) = erp.insert(customer("Acme"))
    read = await _read(connector, erp, key)
    erp.execute(
        sa.update(erp.customers).where(erp.customers.c.id == key).values(email="user@acme.pl")
    )
    op = _guarded(key, read, ("email",), email="tandem@acme.pl")
    (out,) = await connector.write_batch(_binding(erp), [op])
    assert not out.ok and out.changed
    assert out.error is not None and out.error.code == CHANGED and out.error.field == "email"
    assert erp.rows()[0]["email"] == "user@acme.pl"


async def test_null_read_then_set_is_a_change(erp: Erp, connector: SqlConnector) -> None:
    """``col = NULL`` is never true: a NULL read is compared with ``IS NULL``, both ways."""
    (key,) = erp.insert(customer("Acme", nip=None))
    read = await _read(connector, erp, key)
    op = _guarded(key, read, ("nip",), nip="5250001009")
    (first,) = await connector.write_batch(_binding(erp), [op])
    assert first.ok  # NULL read, NULL now: written
    (second,) = await connector.write_batch(_binding(erp), [op])
    assert second.changed  # NULL read, a value now: left alone
    assert erp.rows()[0]["nip"] == "5250001009"


async def test_a_row_gone_is_not_found_not_changed(erp: Erp, connector: SqlConnector) -> None:
    (key,) = erp.insert(customer("Acme"))
    read = await _read(connector, erp, key)
    erp.execute(sa.delete(erp.customers).where(erp.customers.c.id == key))
    (out,) = await connector.write_batch(_binding(erp), [_guarded(key, read, ("email",), name="X")])
    assert not out.ok and not out.changed
    assert out.error is not None and out.error.code == "NOT_FOUND"


async def test_guarded_and_plain_ops_in_one_batch_with_a_refused_record(
    erp: Erp, connector: SqlConnector
) -> None:
    """A refusal sends the batch through savepoints: the guard is checked again there."""
    a, b, c = erp.insert(customer("Alfa"), customer("Beta"), customer("Gamma"))
    read_a, read_b = await _read(connector, erp, a), await _read(connector, erp, b)
    erp.execute(
        sa.update(erp.customers).where(erp.customers.c.id == b).values(email="user@beta.pl")
    )
    ops = [
        _guarded(a, read_a, ("email",), email="tandem@alfa.pl"),
        _guarded(b, read_b, ("email",), email="tandem@beta.pl"),
        WriteOp("update", "crm-c", {"name": None}, key=str(c)),  # NOT NULL: refused
        WriteOp("update", "crm-c2", {"country_code": "DE"}, key=str(c)),
    ]
    outs = await connector.write_batch(_binding(erp), ops)
    expected = [(True, False), (False, True), (False, False), (True, False)]
    assert [(o.ok, o.changed) for o in outs] == expected
    emails = {r["id"]: r["email"] for r in erp.rows()}
    assert emails[a] == "tandem@alfa.pl" and emails[b] == "user@beta.pl"


async def test_a_stored_form_the_sql_comparison_misses_is_compared_as_read(
    erp: Erp, connector: SqlConnector
) -> None:
    """A date-time written by another program in another text form (SQLite keeps text) or a
    value the database holds in another type: compared as the reader gives it, it is the
    value read, and the update goes through."""
    (key,) = erp.insert(customer("Acme", updated_at=datetime(2026, 5, 1, 12, 0)))
    if erp.dialect == "sqlite":
        erp.execute(sa.text(f"UPDATE {erp.customers.name} SET updated_at = '2026-05-01 12:00:00'"))
    read = await _read(connector, erp, key)
    assert read.fields["updated_at"] == datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    (out,) = await connector.write_batch(
        _binding(erp), [_guarded(key, read, ("updated_at",), email="new@acme.pl")]
    )
    assert out.ok and not out.changed, out.error
    assert erp.rows()[0]["email"] == "new@acme.pl"
