"""The ``time_zone`` setting: date-times the ERP stores without a zone are local times."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlerp import Erp, changes_after, customer

from tandem.connectors.base import Cursor, EntityBinding, WriteOp
from tandem.connectors.sql import SqlConnector, SqlSettings
from tandem.connectors.sql.settings import settings_from
from tandem.connectors.sql.source import from_local, to_local
from tandem.errors import ConfigError

ZONES = ["America/New_York", "Europe/Warsaw"]  # behind and ahead of UTC

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)  # winter in both zones
T1 = T0 + timedelta(minutes=30)  # "later", but less than either zone's offset
SUMMER = datetime(2026, 7, 1, 12, 0, 0, tzinfo=UTC)  # daylight-saving time in both zones


def wall(instant: datetime, zone: str) -> datetime:
    """The naive wall time an ERP in ``zone`` stores for ``instant``."""
    return instant.astimezone(ZoneInfo(zone)).replace(tzinfo=None)


@pytest.mark.parametrize("zone", ZONES)
async def test_modified_column_in_local_time_finds_later_changes(erp: Erp, zone: str) -> None:
    binding = erp.binding(modified_column="updated_at")
    (a,) = erp.insert(customer("Acme", updated_at=wall(T0, zone)))
    conn = SqlConnector(erp.settings(capture="modified_column", time_zone=zone))
    await conn.open()
    try:
        first = await changes_after(conn, binding, None)
        assert [(ch.key, ch.modified_at) for ch in first] == [(str(a), T0)]
        assert first[0].fields["updated_at"] == T0

        (b,) = erp.insert(customer("Bolt", updated_at=wall(T1, zone)))
        (c,) = erp.insert(customer("Cork", updated_at=wall(SUMMER, zone)))
        later = await changes_after(conn, binding, first[-1].cursor)
        assert [(ch.key, ch.modified_at) for ch in later] == [(str(b), T1), (str(c), SUMMER)]
        assert all(ch.modified_at.tzinfo is UTC for ch in later)
        assert await changes_after(conn, binding, later[-1].cursor) == []  # strictly after
        # A cursor on a tie resumes after its key (the local value compares equal).
        tie = await changes_after(conn, binding, Cursor(T1, str(b)))
        assert [ch.key for ch in tie] == [str(c)]
        (record,) = (await conn.read_records(binding, [str(a)])).values()
        assert record.modified_at == T0
    finally:
        await conn.close()

    # The same ERP read as UTC (the default): wrong instants, and the resumed read goes wrong.
    naive = SqlConnector(erp.settings(capture="modified_column"))
    await naive.open()
    try:
        as_utc = await changes_after(naive, binding, None)
        offset = ZoneInfo(zone).utcoffset(T0.replace(tzinfo=None))
        assert offset is not None
        assert as_utc[0].modified_at == T0 + offset != T0
        resumed = await changes_after(naive, binding, first[-1].cursor)
        assert [ch.key for ch in resumed] != [str(b), str(c)]
        if offset < timedelta(0):  # behind UTC: the change 30 minutes later is skipped
            assert str(b) not in [ch.key for ch in resumed]
    finally:
        await naive.close()


@pytest.mark.parametrize("zone", ZONES)
async def test_datetime_fields_round_trip_as_local_wall_time(erp: Erp, zone: str) -> None:
    erp.install()
    binding = erp.binding()
    conn = SqlConnector(erp.settings(time_zone=zone))
    await conn.open()
    try:
        (key,) = erp.insert(customer("Acme", updated_at=wall(T0, zone)))
        (read,) = (await conn.read_records(binding, [str(key)])).values()
        assert read.fields["updated_at"] == T0
        (change,) = await changes_after(conn, binding, None)
        assert change.fields["updated_at"] == T0

        ops = [
            WriteOp(action="update", ref="u", key=str(key), values={"updated_at": SUMMER}),
            WriteOp(
                action="upsert", ref="n", match="001N", values={"name": "New", "updated_at": T1}
            ),
        ]
        outcomes = await conn.write_batch(binding, ops)
        assert [o.ok for o in outcomes] == [True, True]
        stored = {r["id"]: r["updated_at"] for r in erp.rows()}
        assert stored[key] == wall(SUMMER, zone)
        new_key = outcomes[1].key
        assert new_key is not None
        assert stored[int(new_key)] == wall(T1, zone)
        back = await conn.read_records(binding, [str(key), new_key])
        assert back[str(key)].fields["updated_at"] == SUMMER
        assert back[new_key].fields["updated_at"] == T1
    finally:
        await conn.close()


@pytest.fixture
def instants(erp: Erp) -> Iterator[sa.Table]:
    """A table with a wall-time column and a column holding an instant (not on SQLite)."""
    kind = sa.DateTime(timezone=True) if erp.dialect == "postgresql" else mysql.TIMESTAMP()
    table = sa.Table(
        f"stamps_{uuid.uuid4().hex[:8]}",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("local_at", sa.DateTime),
        sa.Column("instant_at", kind, nullable=True),
    )
    table.create(erp.engine)
    try:
        yield table
    finally:
        table.drop(erp.engine)


# SQLite has no column type holding an instant: the servers only.
@pytest.mark.parametrize("db_url", ["postgresql", "mariadb"], indirect=True)
async def test_columns_holding_an_instant_stay_utc(erp: Erp, instants: sa.Table) -> None:
    zone = "Europe/Warsaw"
    name = instants.name
    conn = SqlConnector(erp.settings(capture="modified_column", time_zone=zone))
    table = EntityBinding(
        name="stamp",
        source=name,
        key="id",
        fields=("local_at", "instant_at"),
        options={"modified_column": "instant_at"},
    )
    query = EntityBinding(
        name="stamp",
        source="q",
        key="id",
        fields=("local_at", "instant_at"),
        options={"query": f"SELECT id, local_at, instant_at FROM {name}", "write_table": name},
    )
    await conn.open()
    try:
        values = {"local_at": T0, "instant_at": T0}
        erp.execute(sa.insert(instants).values(id=1, local_at=None, instant_at=None))
        (out,) = await conn.write_batch(
            table, [WriteOp(action="update", ref="x", key="1", values=values)]
        )
        assert out.ok
        with erp.engine.connect() as db:  # a UTC session
            local_at, instant_at = db.execute(
                sa.select(instants.c.local_at, instants.c.instant_at)
            ).one()
        assert local_at == wall(T0, zone)
        assert instant_at in (T0, T0.replace(tzinfo=None))  # aware (PostgreSQL) or UTC naive
        for binding in (table, query):
            (record,) = (await conn.read_records(binding, ["1"])).values()
            assert record.fields == {"local_at": T0, "instant_at": T0}
        (change,) = await changes_after(conn, table, Cursor(T0 - timedelta(seconds=1)))
        assert change.modified_at == T0
        assert await changes_after(conn, table, change.cursor) == []
        query_modified = EntityBinding(
            name="stamp",
            source="q",
            key="id",
            fields=("local_at",),
            options={**query.options, "modified_column": "instant_at"},
        )
        (by_query,) = await changes_after(conn, query_modified, Cursor(T0 - timedelta(seconds=1)))
        assert by_query.modified_at == T0
        assert await changes_after(conn, query_modified, by_query.cursor) == []
    finally:
        await conn.close()


def test_daylight_saving_ambiguous_and_missing_times_take_fold_0() -> None:
    ny = ZoneInfo("America/New_York")
    # 01:30 happens twice on 2026-11-01: the first (EDT, UTC-4) is taken.
    assert from_local(datetime(2026, 11, 1, 1, 30), ny) == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    # 02:30 never happens on 2026-03-08: read with the offset before the change (EST, UTC-5).
    assert from_local(datetime(2026, 3, 8, 2, 30), ny) == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)
    assert to_local(datetime(2026, 11, 1, 5, 30, tzinfo=UTC), ny) == datetime(2026, 11, 1, 1, 30)
    aware = datetime(2026, 1, 1, 9, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert from_local(aware, ny) == datetime(2026, 1, 1, 0, 0, tzinfo=UTC)  # aware: zone unused


@pytest.mark.parametrize("bad", ["Mars/Olympus", "America", "../etc/passwd", "utc", ""])
def test_unknown_time_zone_is_a_clear_config_error(bad: str) -> None:
    with pytest.raises(ConfigError) as info:
        settings_from({"url": "sqlite://", "time_zone": bad})
    assert info.value.field == "time_zone"
    assert f"unknown time zone {bad!r}" in str(info.value)
    with pytest.raises(ConfigError, match="time_zone"):
        SqlConnector({"url": "sqlite://", "time_zone": bad})


def test_time_zone_defaults_to_utc() -> None:
    assert SqlSettings(url="sqlite://").zone is UTC
    assert SqlSettings(url="sqlite://", time_zone="Europe/Warsaw").zone == ZoneInfo("Europe/Warsaw")
