"""The trigger-maintained change log, on every dialect."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlerp import Erp, customer

from tandem.connectors.sql import (
    capture_status,
    install_capture,
    prune_changelog,
    uninstall_capture,
)
from tandem.connectors.sql.capture import changelog_table
from tandem.errors import ConfigError


def _log(erp: Erp) -> list[tuple[str, str, str]]:
    log = changelog_table(erp.changelog)
    with erp.engine.connect() as conn:
        stmt = sa.select(log.c.table_name, log.c.row_key, log.c.op).order_by(log.c.seq)
        return [(str(t), str(k), str(o)) for t, k, o in conn.execute(stmt)]


def test_install_is_idempotent_and_seeds_existing_rows_once(erp: Erp) -> None:
    (first,) = erp.insert(customer("Before"))
    erp.install()
    erp.install()  # replaces the triggers; does not seed again
    status = capture_status(
        erp.engine, [erp.customers.name, erp.contacts.name], changelog_table=erp.changelog
    )
    assert status.changelog_exists
    assert status.tables == {erp.customers.name: True, erp.contacts.name: True}
    assert _log(erp) == [(erp.customers.name, str(first), "I")]

    (second,) = erp.insert(customer("After"))
    assert _log(erp)[1:] == [(erp.customers.name, str(second), "I")]  # one trigger, one entry


def test_triggers_log_insert_update_delete_in_order(erp: Erp) -> None:
    erp.install()
    (key,) = erp.insert(customer("Acme"))
    t = erp.customers
    erp.execute(sa.update(t).where(t.c.id == key).values(name="Acme SA"))
    erp.execute(sa.delete(t).where(t.c.id == key))
    name = erp.customers.name
    assert _log(erp) == [(name, str(key), "I"), (name, str(key), "U"), (name, str(key), "D")]


def test_primary_key_change_logs_the_old_key_as_deleted(erp: Erp) -> None:
    erp.install()
    (key,) = erp.insert(customer("Acme"))
    t = erp.customers
    erp.execute(sa.update(t).where(t.c.id == key).values(id=key + 1000))
    name = erp.customers.name
    assert _log(erp)[1:] == [(name, str(key), "D"), (name, str(key + 1000), "U")]


def test_changelog_timestamps_are_utc_with_sub_second_precision(erp: Erp) -> None:
    erp.install()
    before = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=5)
    erp.insert(customer("Acme"))
    log = changelog_table(erp.changelog)
    with erp.engine.connect() as conn:
        changed_at = conn.execute(sa.select(log.c.changed_at)).scalar_one()
    assert isinstance(changed_at, datetime)
    assert before < changed_at < before + timedelta(seconds=65)


def test_uninstall_removes_triggers(erp: Erp) -> None:
    erp.install()
    uninstall_capture(erp.engine, [erp.customers.name], changelog_table=erp.changelog)
    erp.insert(customer("Quiet"))
    status = capture_status(erp.engine, [erp.customers.name], changelog_table=erp.changelog)
    assert status.tables == {erp.customers.name: False}
    assert _log(erp) == []
    uninstall_capture(
        erp.engine, [erp.contacts.name], changelog_table=erp.changelog, drop_changelog=True
    )
    assert not capture_status(erp.engine, changelog_table=erp.changelog).changelog_exists


def test_prune_deletes_only_older_entries(erp: Erp) -> None:
    erp.install()
    erp.insert(customer("Old"), customer("Older"))
    assert (
        prune_changelog(erp.engine, datetime(2000, 1, 1, tzinfo=UTC), changelog_table=erp.changelog)
        == 0
    )
    future = datetime.now(UTC) + timedelta(days=1)
    assert prune_changelog(erp.engine, future, changelog_table=erp.changelog) == 2
    status = capture_status(erp.engine, changelog_table=erp.changelog)
    assert status.entries == 0
    (key,) = erp.insert(customer("New"))
    assert _log(erp) == [(erp.customers.name, str(key), "I")]
    assert capture_status(erp.engine, changelog_table=erp.changelog).last_seq == 3  # never reused


def test_a_wrong_table_or_key_is_refused_before_any_trigger_exists(erp: Erp) -> None:
    with pytest.raises(ConfigError, match="no column"):
        install_capture(
            erp.engine, [(erp.customers.name, "customer_no")], changelog_table=erp.changelog
        )
    with pytest.raises(ConfigError, match="no table"):
        install_capture(erp.engine, [("no_such_table", "id")], changelog_table=erp.changelog)
    status = capture_status(erp.engine, [erp.customers.name], changelog_table=erp.changelog)
    assert status.tables == {erp.customers.name: False}
    erp.insert(customer("Still writable"))  # the ERP's own writes are unharmed
