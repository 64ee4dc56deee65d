"""The synced state's fast paths store and read exactly what the plain ones do.

* ``load`` reads the driver's rows and converts them itself (:func:`tandem.store.types.reads`);
  the plain way is SQLAlchemy's typed select.
* On SQLite, ``save`` updates the rows that keep their keys through their ids; the plain way
  upserts them on their keys, as it still does for every row on PostgreSQL and MariaDB.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects import oracle

from tandem.errors import StoreError
from tandem.store import StateStore, SyncedState, types
from tandem.store import synced as synced_module
from tandem.store.engine import create_engine
from tandem.store.schema import synced
from tandem.store.types import CodecJson, UtcDateTime, reads

from .test_store_bulk import DIALECTS, INSTANTS, VALUES, _expected, _states, same

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
WARSAW = ZoneInfo("Europe/Warsaw")


def plain_load(
    engine: sa.Engine, entity: str, side: str, keys: Sequence[str]
) -> dict[str, SyncedState]:
    """``load`` by its definition: SQLAlchemy's typed select, its result processing."""
    column = synced.c.erp_key if side == "erp" else synced.c.crm_key
    found: dict[str, SyncedState] = {}
    query = sa.select(synced).where(synced.c.entity == entity, column.in_(sorted(set(keys))))
    with engine.connect() as conn:
        for row in conn.execute(query):
            state = SyncedState(
                row.entity,
                row.erp_key,
                row.crm_key,
                row.state,
                row.erp_modified,
                row.crm_modified,
                bool(row.deleted),
            )
            key = state.erp_key if side == "erp" else state.crm_key
            assert key is not None
            found[key] = state
    return found


def same_states(got: dict[str, SyncedState], want: dict[str, SyncedState]) -> None:
    assert got.keys() == want.keys()
    for key, state in want.items():
        other = got[key]
        assert (other.entity, other.erp_key, other.crm_key) == (
            state.entity,
            state.erp_key,
            state.crm_key,
        )
        assert other.deleted is state.deleted
        assert same(other.values, state.values), (other.values, state.values)
        assert same(other.erp_modified, state.erp_modified)
        assert same(other.crm_modified, state.crm_modified)


@pytest.fixture
def engine(store: StateStore, store_url: str) -> Iterator[sa.Engine]:
    """A second engine on the store's database, for the plain reads."""
    engine = create_engine(store_url)
    yield engine
    engine.dispose()


# -- load ------------------------------------------------------------------------------------


def test_load_reads_what_a_typed_select_reads(
    store: StateStore, engine: sa.Engine, name: str
) -> None:
    states = _states(name, 1100)  # more than one chunk of keys
    states += [
        SyncedState(name, None, "CRM-only", {"v": Decimal("1.0")}, None, INSTANTS[2]),
        SyncedState(name, "erp-only", None, {}, INSTANTS[3], None, deleted=True),
    ]
    store.save_synced(states)
    for side in ("erp", "crm"):
        keys = [getattr(s, f"{side}_key") or "unknown" for s in states]
        keys += [*keys[:40], "nope", ""]  # repeats and unknown keys
        got = store.synced(name, side, keys)  # type: ignore[arg-type]
        same_states(got, plain_load(engine, name, side, keys))
        assert len(got) == len({k for k in keys if k not in ("unknown", "nope", "")})
    assert store.synced(name, "erp", []) == {}


def test_load_gives_each_state_as_saved(store: StateStore, name: str) -> None:
    states = _states(name, 60)
    store.save_synced(states)
    found = store.synced(name, "erp", [s.erp_key or "" for s in states])
    for state in states:
        got = found[state.erp_key or ""]
        assert same(got.values, _expected(state.values))
        assert same(got.erp_modified, _expected(state.erp_modified))
        assert same(got.crm_modified, _expected(state.crm_modified))
        assert got.deleted is state.deleted


# -- reads -----------------------------------------------------------------------------------

DRIVER_INSTANTS: dict[str, list[Any]] = {
    # What each driver hands over for a UtcDateTime column.
    "sqlite": [
        "2024-05-01 10:00:00.123456",
        "2024-05-01 10:00:00.000000",
        "2024-05-01 10:00:00",
        "0001-01-01 00:00:00.000000",
        "9999-12-31 23:59:59.999999",
    ],
    "postgresql": [
        datetime(2024, 5, 1, 10, 0, 0, 7, tzinfo=UTC),
        datetime(2024, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=2))),
        datetime(2024, 10, 27, 2, 30, tzinfo=WARSAW),
        datetime(2024, 10, 27, 2, 30, fold=1, tzinfo=WARSAW),  # equal to the one before
    ],
    "mysql": [datetime(2024, 5, 1, 10, 0, 0, 7), datetime(1, 1, 1), datetime(9999, 12, 31)],
}


@pytest.mark.parametrize("url", DIALECTS)
def test_reads_give_what_sqlalchemy_gives_back(url: str) -> None:
    dialect = sa.create_engine(url).dialect
    read = reads(dialect)
    instant = UtcDateTime().dialect_impl(dialect).result_processor(dialect, None)
    json = CodecJson().dialect_impl(dialect).result_processor(dialect, None)
    assert instant is not None and json is not None
    family = "mysql" if dialect.name == "mariadb" else dialect.name
    for value in [None, *DRIVER_INSTANTS[family], *DRIVER_INSTANTS[family]]:
        got, want = read.instant(value), instant(value)
        assert repr(got) == repr(want), value
        assert got is None or got.utcoffset() == timedelta(0)
    for data in VALUES:
        text = types.binds(dialect).json(data)
        assert same(read.json(text), json(text))


def test_reads_parse_each_text_once_and_forget_when_full(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dialect = sa.create_engine("sqlite://").dialect
    read = reads(dialect)
    first = read.instant("2024-05-01 10:00:00.000000")
    assert read.instant("2024-05-01 10:00:00.000000") is first
    assert reads(dialect).instant("2024-05-01 10:00:00.000000") is not first  # its own memory
    monkeypatch.setattr(types, "READ_MEMORY", 3)
    read = reads(dialect)
    texts = [f"2024-05-0{day} 10:00:00.000000" for day in range(1, 8)]
    for _ in range(2):
        for day, text in enumerate(texts, start=1):
            assert read.instant(text) == datetime(2024, 5, day, 10, tzinfo=UTC)


def test_reads_refuse_a_backend_the_store_does_not_support() -> None:
    with pytest.raises(StoreError, match="oracle"):
        reads(oracle.dialect())


# -- save ------------------------------------------------------------------------------------


@contextmanager
def plain_path() -> Iterator[None]:
    """Within the block, ``save`` upserts every row on its keys (no update in place)."""
    bind = synced_module._bind

    def plain(*args: Any) -> Any:
        return bind(*args[:-1], False)

    with mock.patch.object(synced_module, "_bind", plain):
        yield


def stored(engine: sa.Engine, entity: str) -> list[tuple[Any, ...]]:
    """An entity's rows as the driver returns them, ids included, in id order."""
    with engine.connect() as conn:
        sql = sa.text(
            "SELECT id, erp_key, crm_key, state, erp_modified, crm_modified, deleted, updated_at "
            "FROM tandem_synced WHERE entity = :entity ORDER BY id"
        )
        return [tuple(row) for row in conn.execute(sql, {"entity": entity})]


def outcome(call: Callable[[], None]) -> tuple[str, str]:
    try:
        call()
    except StoreError as exc:
        return "refused", str(exc)
    return "ok", ""


class Pair:
    """Two SQLite stores given the same calls: one as it is, one along the plain path."""

    def __init__(self, root: Path) -> None:
        self.urls = [f"sqlite:///{root}/fast.db", f"sqlite:///{root}/plain.db"]
        self.stores = [StateStore(url, clock=lambda: NOW) for url in self.urls]
        for store in self.stores:
            store.migrate()
        self.engines = [create_engine(url) for url in self.urls]

    def save(self, states: Sequence[SyncedState]) -> str:
        """Save in both; both answer alike and hold the same rows (ids included) after."""
        fast, plain = self.stores
        got = outcome(lambda: fast.save_synced(states))
        with plain_path():
            want = outcome(lambda: plain.save_synced(states))
        assert got == want
        for entity in {s.entity for s in states}:
            assert stored(self.engines[0], entity) == stored(self.engines[1], entity)
        return got[0]

    def close(self) -> None:
        for store in self.stores:
            store.close()
        for engine in self.engines:
            engine.dispose()


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    both = Pair(tmp_path)
    yield both
    both.close()


def state(entity: str, erp: str | None, crm: str | None, v: Any = 0, **rest: Any) -> SyncedState:
    return SyncedState(entity, erp, crm, {"v": v}, rest.get("erp_at"), rest.get("crm_at"))


def test_known_records_are_updated_in_place_on_sqlite(pair: Pair, name: str) -> None:
    pair.save([state(name, str(i), f"C{i}", i) for i in range(1200)])
    seen: list[int] = []
    bind = synced_module._bind

    def spy(*args: Any) -> Any:
        writes = bind(*args)
        seen.append(len(writes.in_place))
        return writes

    with mock.patch.object(synced_module, "_bind", spy):
        update = [state(name, str(i), None if i % 2 else f"C{i}", -i) for i in range(1200)]
        update.append(state(name, "new", "C-new"))
        pair.save(update)
    assert seen == [1200 * 9, 0]  # the fast store in place; the plain one (patched) not
    got = pair.stores[0].synced(name, "erp", ["7", "8", "new"])
    assert [(s.crm_key, s.values) for s in got.values()] == [
        ("C7", {"v": -7}),
        ("C8", {"v": -8}),
        ("C-new", {"v": 0}),
    ]


def test_a_row_also_rekeyed_in_the_same_call_is_not_updated_in_place(pair: Pair, name: str) -> None:
    pair.save([state(name, "1", "A", 1)])
    # Both states find row 1-A: the first keeps its keys, the second moves it to 5-A; the
    # plain way then inserts 1-A anew, which the CRM key refuses. So must the fast one.
    assert pair.save([state(name, "1", None, 2), state(name, "5", "A", 3)]) == "refused"
    assert pair.stores[0].synced(name, "erp", ["1"])["1"].values == {"v": 1}


def test_two_states_of_one_row_last_wins_in_place(pair: Pair, name: str) -> None:
    pair.save([state(name, "1", "A", 1)])
    pair.save([state(name, "1", None, 2), state(name, None, "A", 3)])  # both find 1-A
    assert pair.stores[0].synced(name, "erp", ["1"])["1"].values == {"v": 3}


INSTANT_CHOICES = [None, INSTANTS[1], INSTANTS[2], INSTANTS[3]]
ERP_KEYS = st.sampled_from([None, "1", "2", "3", "4"])
CRM_KEYS = st.sampled_from([None, "A", "B", "C", "D"])
STATE_VALUES = st.one_of(
    st.integers(0, 3),
    st.sampled_from([Decimal("1.50"), date(2020, 1, 2), "x", None]),
)
STATES = st.tuples(
    ERP_KEYS,
    CRM_KEYS,
    STATE_VALUES,
    st.sampled_from(INSTANT_CHOICES),
    st.sampled_from(INSTANT_CHOICES),
    st.booleans(),
)
BATCHES = st.lists(st.lists(STATES, max_size=6), min_size=1, max_size=4)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(BATCHES)
def test_save_and_load_are_the_plain_ones(pair: Pair, batches: list[list[Any]]) -> None:
    entity = f"h{uuid.uuid4().hex[:12]}"  # the stores live across examples
    for batch in batches:
        states = [
            SyncedState(entity, erp, crm, {"v": v}, erp_at, crm_at, deleted)
            for erp, crm, v, erp_at, crm_at, deleted in batch
        ]
        pair.save(states)
        for side, keys in (("erp", ["1", "2", "3", "4"]), ("crm", ["A", "B", "C", "D"])):
            got = pair.stores[0].synced(entity, side, keys)  # type: ignore[arg-type]
            same_states(got, plain_load(pair.engines[1], entity, side, keys))
