"""Reading changes and records, on every dialect."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlerp import FIELDS, Erp, at, changes_after, collect, customer, past

from tandem.connectors.base import Cursor, EntityBinding, WriteOp
from tandem.connectors.sql import SqlConnector
from tandem.connectors.sql.source import _may_hold_datetime, read_value
from tandem.errors import Fatal


async def test_insert_update_delete_arrive_in_order_with_hard_deletes(
    erp: Erp, connector: SqlConnector
) -> None:
    binding = erp.binding()
    a, b, c = erp.insert(customer("Acme"), customer("Bolt"), customer("Cork"))
    first = await changes_after(connector, binding, None)
    assert [ch.key for ch in first] == [str(a), str(b), str(c)]
    assert first[0].fields["name"] == "Acme"
    assert set(first[0].fields) == {*FIELDS, "crm_id"}
    assert not any(ch.deleted for ch in first)

    t = erp.customers
    erp.execute(sa.update(t).where(t.c.id == a).values(name="Acme SA"))
    erp.execute(sa.delete(t).where(t.c.id == b))
    second = past(await changes_after(connector, binding, first[-1].cursor), first[-1].cursor)
    assert [(ch.key, ch.deleted) for ch in second] == [(str(a), False), (str(b), True)]
    assert second[0].fields["name"] == "Acme SA"
    assert second[1].fields == {}
    assert first[-1].cursor < second[0].cursor < second[1].cursor

    last = second[-1].cursor
    assert past(await changes_after(connector, binding, last), last) == []  # strictly after


async def test_several_entries_of_one_row_collapse_to_its_current_state(
    erp: Erp, connector: SqlConnector
) -> None:
    binding = erp.binding()
    (key,) = erp.insert(customer("Acme"))
    t = erp.customers
    for n in range(3):
        erp.execute(sa.update(t).where(t.c.id == key).values(nip=f"52500000{n}"))
    changes = await changes_after(connector, binding, None)
    assert len(changes) == 1
    assert changes[0].fields["nip"] == "525000002"
    (other,) = erp.insert(customer("Bolt"))
    erp.execute(sa.delete(t).where(t.c.id == key))
    later = await changes_after(connector, binding, changes[0].cursor)
    assert [(ch.key, ch.deleted) for ch in later] == [(str(other), False), (str(key), True)]


async def test_ties_and_small_batches_lose_nothing_and_repeat_nothing(
    erp: Erp, connector: SqlConnector
) -> None:
    binding = erp.binding()
    with erp.engine.begin() as conn:  # one statement: equal timestamps on MariaDB and SQLite
        conn.execute(sa.insert(erp.customers), [customer(f"C{n:02d}") for n in range(25)])
    batches = await collect(connector.read_changes(binding, None, 4))
    assert all(len(b) <= 4 for b in batches)
    keys = [ch.key for b in batches for ch in b]
    assert sorted(keys, key=int) == [str(r["id"]) for r in erp.rows()]
    assert len(keys) == len(set(keys)) == 25
    cursors = [ch.cursor for b in batches for ch in b]
    assert cursors == sorted(cursors)
    # resume from the middle of a tie: exactly the rest
    middle = batches[2][-1].cursor
    rest = past(await changes_after(connector, binding, middle, 3), middle)
    assert [ch.key for ch in rest] == keys[12:]


async def test_overlap_re_read_is_harmless(erp: Erp, connector: SqlConnector) -> None:
    binding = erp.binding()
    erp.insert(customer("Acme"), customer("Bolt"))
    first = await changes_after(connector, binding, None)
    again = await changes_after(connector, binding, first[-1].cursor.minus(3600))
    assert again == first  # same records, same values, same positions
    last = first[-1].cursor
    assert past(await changes_after(connector, binding, last), last) == []


async def test_read_changes_without_capture_installed_is_fatal(erp: Erp) -> None:
    conn = SqlConnector(erp.settings())
    await conn.open()
    try:
        with pytest.raises(Fatal, match="install-capture"):
            await changes_after(conn, erp.binding(), None)
    finally:
        await conn.close()


async def test_modified_column_fallback_with_ties(erp: Erp) -> None:
    conn = SqlConnector(erp.settings(capture="modified_column"))
    await conn.open()
    binding = erp.binding(modified_column="updated_at")
    try:
        same = datetime(2026, 3, 1, 12, 0, 0, 250000)
        keys = erp.insert(*(customer(f"T{n}", updated_at=same) for n in range(5)))
        erp.insert(customer("Undated"))  # no modified-at: invisible in this mode
        batches = await collect(conn.read_changes(binding, None, 2))
        got = [ch.key for b in batches for ch in b]
        assert got == [str(k) for k in keys]
        stored = erp.rows()[0]["updated_at"]  # MariaDB DATETIME keeps whole seconds
        assert batches[0][0].modified_at == stored.replace(tzinfo=UTC)
        resumed = await changes_after(conn, binding, batches[0][-1].cursor, 2)
        assert [ch.key for ch in resumed] == got[2:]

        t = erp.customers
        later = datetime(2026, 3, 1, 12, 0, 1)
        erp.execute(sa.update(t).where(t.c.id == keys[0]).values(name="T0 new", updated_at=later))
        erp.execute(sa.update(t).where(t.c.id == keys[1]).values(deleted=True, updated_at=later))
        soft = erp.binding(modified_column="updated_at", soft_delete_column="deleted")
        last = await changes_after(conn, soft, resumed[-1].cursor)
        assert [(ch.key, ch.deleted) for ch in last] == [
            (str(keys[0]), False),
            (str(keys[1]), True),
        ]
        assert last[0].fields["name"] == "T0 new"
        assert await changes_after(conn, soft, last[-1].cursor) == []
        again = await changes_after(conn, soft, Cursor(later.replace(tzinfo=UTC)))
        assert [ch.key for ch in again] == [str(keys[0]), str(keys[1])]
    finally:
        await conn.close()


async def test_read_all_paginates_in_key_order_and_skips_soft_deleted(
    erp: Erp, connector: SqlConnector
) -> None:
    keys = erp.insert(*(customer(f"R{n}") for n in range(23)))
    t = erp.customers
    erp.execute(sa.update(t).where(t.c.id == keys[5]).values(deleted=True))
    binding = erp.binding(soft_delete_column="deleted")
    batches = await collect(connector.read_all(binding, 10))
    assert [len(b) for b in batches] == [10, 10, 3] or [len(b) for b in batches] == [9, 10, 3]
    got = [ch.key for b in batches for ch in b]
    assert got == [str(k) for k in keys if k != keys[5]]
    assert all(ch.modified_at.tzinfo is UTC for b in batches for ch in b)
    assert batches[0][0].modified_at.year >= 2026  # from the change log


async def test_read_records_leaves_out_absent_and_deleted(
    erp: Erp, connector: SqlConnector
) -> None:
    a, b = erp.insert(customer("Acme"), customer("Bolt", deleted=True))
    binding = erp.binding(soft_delete_column="deleted")
    found = await connector.read_records(binding, [str(a), str(b), "999999", "not-a-key"])
    assert list(found) == [str(a)]
    assert found[str(a)].fields["email"] == "acme@example.com"


async def test_soft_delete_flag_reads_as_delete(erp: Erp, connector: SqlConnector) -> None:
    (key,) = erp.insert(customer("Acme"))
    binding = erp.binding(soft_delete_column="deleted")
    first = await changes_after(connector, binding, None)
    t = erp.customers
    erp.execute(sa.update(t).where(t.c.id == key).values(deleted=True))
    second = await changes_after(connector, binding, first[-1].cursor)
    assert [(ch.key, ch.deleted) for ch in second] == [(str(key), True)]


async def test_view_and_query_as_read_sources(erp: Erp, connector: SqlConnector) -> None:
    view = f"v_{erp.customers.name}"
    erp.execute(
        sa.text(
            f"CREATE VIEW {view} AS SELECT id, name, nip, email, country_code, updated_at, "
            f"crm_id FROM {erp.customers.name} WHERE country_code = 'PL'"
        )
    )
    pl, de = erp.insert(customer("Polska"), customer("Deutsch", country_code="DE"))
    by_view = EntityBinding(
        name="customer",
        source=view,
        key="id",
        fields=FIELDS,
        external_id="crm_id",
        options={"capture_table": erp.customers.name},
    )
    changes = await changes_after(connector, by_view, None)
    assert [(ch.key, ch.deleted) for ch in changes] == [(str(pl), False), (str(de), True)]
    assert [ch.key for b in await collect(connector.read_all(by_view, 10)) for ch in b] == [str(pl)]
    refused = await connector.write_batch(
        by_view,
        [WriteOp(action="upsert", ref="x", values={"name": "N"}, match="X1")],
    )
    assert not refused[0].ok and refused[0].error is not None
    assert refused[0].error.code == "READ_ONLY"
    view_schema = await connector.describe(by_view)
    assert view_schema.fields["name"].type == "string" and not view_schema.fields["name"].createable

    by_query = EntityBinding(
        name="customer",
        source="pl_customers",
        key="id",
        fields=("name", "country_code"),
        options={
            "query": f"SELECT id, name, country_code FROM {erp.customers.name} "
            "WHERE country_code = 'DE'",
            "write_table": erp.customers.name,
        },
    )
    got = await connector.read_records(by_query, [str(pl), str(de)])
    assert list(got) == [str(de)]
    schema = await connector.describe(by_query)
    assert schema.fields["name"].length == 80 and schema.fields["name"].createable
    (written,) = await connector.write_batch(
        by_query, [WriteOp(action="update", ref="q", key=str(de), values={"name": "Deutsch AG"})]
    )
    assert written.ok
    assert (await connector.read_records(by_query, [str(de)]))[str(de)].fields[
        "name"
    ] == "Deutsch AG"


# SQLite has a single writer: a lower entry cannot commit after a higher one there.
@pytest.mark.parametrize("db_url", ["postgresql", "mariadb"], indirect=True)
async def test_a_late_commit_is_returned_behind_the_cursor(
    erp: Erp, connector: SqlConnector
) -> None:
    """Held open while a later change is read, a change arrives once committed, behind the
    cursor: on SQLite the second writer waits instead; elsewhere the read after the cursor
    returns it (tandem.connectors.sql.late), and so does the overlap re-read."""
    binding = erp.binding()
    slow = erp.engine.connect()
    try:
        tx = slow.begin()
        slow.execute(sa.insert(erp.customers).values(customer("Slow")))  # logged first...
        if erp.dialect == "sqlite":
            tx.commit()  # one writer at a time: the other cannot commit before this one
        (fast,) = erp.insert(customer("Fast"))  # ...but this one commits first
        seen = await changes_after(connector, binding, None)
        if erp.dialect != "sqlite":
            assert [ch.key for ch in seen] == [str(fast)]
            tx.commit()
    finally:
        slow.close()
    slow_key = next(r["id"] for r in erp.rows() if r["name"] == "Slow")
    after = seen[-1].cursor
    late = await changes_after(connector, binding, after)
    if erp.dialect == "sqlite":
        assert [ch.key for ch in seen] == [str(slow_key), str(fast)] and late == []
    else:
        assert late[0].key == str(slow_key) and late[0].cursor < after  # behind the cursor
        assert all(ch.cursor <= after for ch in late)  # MariaDB: Fast again, as it is now
    overlap = await changes_after(connector, binding, after.minus(60))
    assert [ch.key for ch in overlap] == [str(slow_key), str(fast)]  # ...and by the overlap


async def test_rows_read_by_position_carry_the_contract_types(
    erp: Erp, connector: SqlConnector
) -> None:
    # Only columns that may hold instants or booleans are converted; the others pass as read.
    fields = ("name", "updated_at", "credit_limit", "since", "vip", "deleted")
    (key,) = erp.insert(
        customer(
            "Acme",
            updated_at=at("2024-05-01T10:00:00"),  # MariaDB keeps no fraction here
            credit_limit=Decimal("10.50"),
            since=date(2020, 1, 2),
            vip=True,
        )
    )
    typed = EntityBinding(name="customer", source=erp.customers.name, key="id", fields=fields)
    (change,) = await changes_after(connector, typed, None)
    assert change.fields == {
        "name": "Acme",
        "updated_at": datetime(2024, 5, 1, 10, tzinfo=UTC),
        "credit_limit": Decimal("10.50"),
        "since": date(2020, 1, 2),
        "vip": True,
        "deleted": False,
    }
    assert [type(v) for v in change.fields.values()] == [str, datetime, Decimal, date, bool, bool]
    assert change.modified_at.tzinfo is UTC
    # A query's columns have no type: each value is looked at as it comes.
    query = EntityBinding(
        name="customer",
        source="q",
        key="id",
        fields=("name", "updated_at"),
        options={
            "query": f"SELECT id, name, updated_at FROM {erp.customers.name}",
            "capture_table": erp.customers.name,
        },
    )
    (by_query,) = await changes_after(connector, query, None)
    with erp.engine.connect() as conn:
        raw = conn.execute(
            sa.text(f"SELECT name, updated_at FROM {erp.customers.name} WHERE id = {key}")
        ).one()
    assert by_query.fields == {"name": raw[0], "updated_at": read_value(raw[1])}


def test_only_columns_that_may_hold_instants_are_looked_at() -> None:
    assert not _may_hold_datetime(sa.column("x", sa.String(10)))
    assert not _may_hold_datetime(sa.column("x", sa.Numeric(12, 2)))
    assert not _may_hold_datetime(sa.column("x", sa.Integer))
    assert _may_hold_datetime(sa.column("x", sa.DateTime))
    assert _may_hold_datetime(sa.column("x", sa.Date))  # not converted, but looked at
    assert _may_hold_datetime(sa.column("x"))  # untyped (a query's column)
    assert _may_hold_datetime(sa.column("x", sa.JSON))
