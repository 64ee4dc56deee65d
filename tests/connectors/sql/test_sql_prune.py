"""``SqlConnector.prune_capture``: the change log's entries before an instant go, the rest
stay; a connection without a change log has nothing to prune."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlerp import Erp, customer

from tandem.connectors.sql import SqlConnector
from tandem.errors import ConfigError


async def test_entries_before_the_instant_go_and_later_ones_stay(erp: Erp) -> None:
    erp.insert(customer("Alfa"), customer("Beta"))
    erp.install()
    with erp.engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE {erp.changelog} SET changed_at = '2020-01-01 00:00:00'")
    erp.insert(customer("Gamma"))
    conn = SqlConnector(erp.settings())
    await conn.open()
    try:
        pruned = await conn.prune_capture(datetime.now(UTC) - timedelta(days=1))
    finally:
        await conn.close()
    assert pruned == 2
    with erp.engine.connect() as db:
        left = db.exec_driver_sql(f"SELECT op FROM {erp.changelog}").scalars().all()
    assert left == ["I"]  # Gamma's


async def test_a_connection_without_a_change_log_has_nothing_to_prune(erp: Erp) -> None:
    conn = SqlConnector(erp.settings(capture="modified_column"))
    await conn.open()
    try:
        with pytest.raises(ConfigError, match="no change log to prune"):
            await conn.prune_capture(datetime.now(UTC))
    finally:
        await conn.close()
