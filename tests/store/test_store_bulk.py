"""Bulk writes that bypass SQLAlchemy's per-row binding store exactly what it would store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import oracle

from tandem.errors import StoreError
from tandem.store import AuditEntry, StateStore, SyncedState
from tandem.store.engine import create_engine
from tandem.store.schema import audit, link, synced
from tandem.store.types import CodecJson, UtcDateTime, binds

from .conftest import FakeClock

WARSAW = timezone(timedelta(hours=2))

INSTANTS = [
    None,
    datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC),
    datetime(2024, 5, 1, 12, 0, tzinfo=WARSAW),  # no microseconds, another zone
    datetime(2024, 5, 1, 0, 30, 0, 1, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
    datetime(2024, 5, 1, 10, 0, 0, 7),  # naive: taken to be UTC
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
]

VALUES: list[Any] = [
    None,
    {},
    {"name": "Zażółć gęślą jaźń ✓ 🚀", "n": 7, "none": None, "yes": True, "ratio": 0.25},
    {"limit": Decimal("1000.50"), "tiny": Decimal("-0.001"), "big": Decimal("1E+3")},
    {"since": date(2020, 1, 2), "at": datetime(2024, 5, 1, 12, tzinfo=WARSAW), "raw": b"\x00"},
    {"nested": {"a": [1, Decimal("2.0"), {"$dec": "x"}]}, "$map": 1, "tuple": (1, "2")},
    {"huge": 2**70, "quote": 'say "hi"\n\\', "tab\tkey": "\x01"},
]

DIALECTS = [
    "sqlite://",
    "postgresql+psycopg://u@h/db",
    "mariadb+pymysql://u@h/db",
    "mysql+pymysql://u@h/db",
]


@pytest.mark.parametrize("url", DIALECTS)
def test_binds_give_what_sqlalchemy_gives_the_driver(url: str) -> None:
    dialect = sa.create_engine(url).dialect
    bind = binds(dialect)
    instant = UtcDateTime().dialect_impl(dialect).bind_processor(dialect)
    json = CodecJson().dialect_impl(dialect).bind_processor(dialect)
    flag = sa.Boolean().dialect_impl(dialect).bind_processor(dialect)
    assert instant is not None and json is not None and flag is not None
    for value in INSTANTS:
        assert repr(bind.instant(value)) == repr(instant(value)), value
    for data in VALUES:
        assert bind.json(data) == json(data)
    for truth in (True, False, None):
        assert repr(bind.flag(truth)) == repr(flag(truth))


def test_binds_refuse_a_backend_the_store_does_not_support() -> None:
    with pytest.raises(StoreError, match="oracle"):
        binds(oracle.dialect())


def _states(name: str, count: int) -> list[SyncedState]:
    return [
        SyncedState(
            name,
            f"E{i}",
            f"C{i}" if i % 5 else None,
            VALUES[i % len(VALUES)] or {"i": i},
            INSTANTS[(i // 3) % len(INSTANTS)],  # runs of one instant object, as a read gives
            INSTANTS[(i + 3) % len(INSTANTS)],
            deleted=i % 4 == 0,
        )
        for i in range(count)
    ]


def _entries(name: str, count: int) -> list[AuditEntry]:
    return [
        AuditEntry(
            name,
            name,
            "crm" if i % 2 else "erp",
            f"K{i}",
            "update",
            VALUES[i % len(VALUES)],
            VALUES[(i + 1) % len(VALUES)],
            f"erp:customer:{i}@2024-05-01T10:00:00+00:00" + "x" * (1200 if i == 3 else 0),
            INSTANTS[1 + i % (len(INSTANTS) - 1)] or datetime.now(UTC),
        )
        for i in range(count)
    ]


@pytest.fixture
def engine(store: StateStore, store_url: str) -> Iterator[sa.Engine]:
    """A second engine on the store's database, for SQLAlchemy's own typed writes."""
    engine = create_engine(store_url)
    yield engine
    engine.dispose()


def _raw(engine: sa.Engine, table: sa.Table, column: str, value: str) -> list[tuple[Any, ...]]:
    """The rows as the driver returns them: no SQLAlchemy type on the way out."""
    names = [c.name for c in table.columns if c.name not in ("id", column)]
    quote = engine.dialect.identifier_preparer.quote
    sql = sa.text(
        f"SELECT {', '.join(quote(n) for n in names)} FROM {table.name} "
        f"WHERE {column} = :value ORDER BY id"
    )
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(sql, {"value": value})]


def test_rows_are_stored_as_sqlalchemys_typed_insert_stores_them(
    store: StateStore, engine: sa.Engine, clock: FakeClock, name: str
) -> None:
    fast, typed = f"{name}f", f"{name}t"
    count = 1100  # several SQLite statements of each table's rows
    pairs = [(f"E{i}", f"C{i}") for i in range(count)]
    with store.transaction():
        store.link_many(fast, pairs)
        store.save_synced(_states(fast, count))
        store.audit(_entries(fast, count))
    with engine.begin() as conn:
        conn.execute(
            sa.insert(link),
            [
                {"entity": typed, "erp_key": e, "crm_key": c, "created_at": clock.now}
                for e, c in pairs
            ],
        )
        conn.execute(
            sa.insert(synced),
            [
                {
                    "entity": typed,
                    "erp_key": s.erp_key,
                    "crm_key": s.crm_key,
                    "state": s.values,
                    "erp_modified": s.erp_modified,
                    "crm_modified": s.crm_modified,
                    "deleted": s.deleted,
                    "updated_at": clock.now,
                }
                for s in _states(typed, count)
            ],
        )
        conn.execute(
            sa.insert(audit),
            [
                {**vars(e), "flow": typed, "entity": typed, "cause": e.cause[:1000]}
                for e in _entries(typed, count)
            ],
        )
    assert _raw(engine, link, "entity", fast) == _raw(engine, link, "entity", typed)
    assert _raw(engine, synced, "entity", fast) == _raw(engine, synced, "entity", typed)
    fast_log, typed_log = _raw(engine, audit, "flow", fast), _raw(engine, audit, "flow", typed)
    assert [row[1:] for row in fast_log] == [row[1:] for row in typed_log]  # all but entity
    assert len(fast_log) == count


def same(a: Any, b: Any) -> bool:
    """Equal, and of the same type all the way down (Decimal exponent, UTC zone included)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Decimal):
        return bool(a.as_tuple() == b.as_tuple())
    if isinstance(a, datetime):
        return bool(a == b and a.tzinfo == b.tzinfo == UTC)
    return bool(a == b)


def _expected(value: Any) -> Any:
    """What the store gives back: UTC instants, lists for tuples."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, dict):
        return {k: _expected(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_expected(v) for v in value]
    return value


def test_values_come_back_exactly(store: StateStore, name: str) -> None:
    states = _states(name, 40)
    entries = _entries(name, 14)
    with store.transaction():
        store.link_many(name, [(f"E{i}", f"C{i}") for i in range(40)])
        store.save_synced(states)
        store.audit(entries)
    found = store.synced(name, "erp", [s.erp_key or "" for s in states])
    for state in states:
        got = found[state.erp_key or ""]
        assert (got.erp_key, got.crm_key, got.deleted) == (
            state.erp_key,
            state.crm_key,
            state.deleted,
        )
        assert same(got.values, _expected(state.values)), state.values
        assert same(got.erp_modified, _expected(state.erp_modified))
        assert same(got.crm_modified, _expected(state.crm_modified))
    log = store.audit_log(flow=name, limit=100)
    assert len(log) == len(entries)
    for entry in entries:
        (got,) = [e for e in log if e.record_key == entry.record_key]
        assert same(got.before, _expected(entry.before))
        assert same(got.after, _expected(entry.after))
        assert same(got.at, _expected(entry.at))
        assert got.cause == entry.cause[:1000]
    assert store.partners(name, "crm", ["C0", "C39", "C40"]) == {"C0": "E0", "C39": "E39"}


def test_a_batch_of_new_records_beyond_one_statement(store: StateStore, name: str) -> None:
    count = 1100  # more than one look-up chunk and many SQLite insert statements
    states = [
        SyncedState(name, str(i), f"001{i:015d}", {"i": i, "p": Decimal(i) / 100}, None, None)
        for i in range(count)
    ]
    with store.transaction():
        assert store.link_many(name, [(s.erp_key or "", s.crm_key or "") for s in states]) == count
        store.save_synced(states)
    assert store.count_links(name) == count
    assert sum(len(batch) for batch in store.iter_synced(name, batch=500)) == count
    got = store.synced(name, "crm", [f"001{1099:015d}"])[f"001{1099:015d}"]
    assert got.erp_key == "1099" and same(got.values, {"i": 1099, "p": Decimal("10.99")})
    # Saved again, the same records are updated in place, not duplicated.
    store.save_synced([SyncedState(name, s.erp_key, None, {"v": 2}, None, None) for s in states])
    assert sum(len(batch) for batch in store.iter_synced(name, batch=500)) == count
    assert store.synced(name, "erp", ["7"])["7"].crm_key == f"001{7:015d}"


def test_an_unstorable_audit_value_writes_nothing(store: StateStore, name: str) -> None:
    bad = AuditEntry(name, name, "crm", "1", "create", None, {"at": datetime(2024, 5, 1)}, "x")
    with pytest.raises(StoreError, match="naive"):
        store.audit([_entries(name, 1)[0], bad])
    assert store.audit_log(flow=name) == []
