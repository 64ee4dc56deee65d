"""``tandem check`` warns, at the binding, of a captured table whose change-capture triggers
are gone (dropped by hand, or lost when the table was rebuilt): its changes are missed until
``tandem erp install-capture`` runs again. Before, nothing said so.

The audit runs at ``tandem check`` and at every start: it checks the triggers only. Before, it
asked for the whole capture status, which counts the change log's rows (``COUNT(*)`` over
what may be millions of entries) for every binding."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlerp import Erp

from tandem.connectors.sql import SqlConnector
from tandem.connectors.sql.capture.common import _trigger_name


async def test_a_dropped_capture_trigger_is_named_at_check(
    erp: Erp, connector: SqlConnector
) -> None:
    binding = erp.binding()
    assert await connector.audit(binding) == []
    table = erp.customers.name
    name = _trigger_name(erp.changelog, table, "d")
    on = f" ON {table}" if erp.dialect == "postgresql" else ""
    with erp.engine.begin() as conn:
        conn.exec_driver_sql(f"DROP TRIGGER {name}{on}")
    [finding] = await connector.audit(binding)
    assert finding.setting == "source" and not finding.error
    assert finding.message == (
        f"table {table!r} lacks its change-capture triggers, so changes are missed: run "
        "`tandem erp install-capture`"
    )
    erp.install()
    assert await connector.audit(binding) == []


@contextmanager
def _statements() -> Iterator[list[str]]:
    """The SQL every engine executes meanwhile (the connector's own engine included)."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    sa.event.listen(sa.Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", record)


async def test_the_audit_checks_the_triggers_without_counting_the_change_log(
    erp: Erp, connector: SqlConnector
) -> None:
    binding = erp.binding()
    table = erp.customers.name
    with erp.engine.begin() as conn:
        conn.exec_driver_sql(
            f"DROP TRIGGER {_trigger_name(erp.changelog, table, 'u')}"
            + (f" ON {table}" if erp.dialect == "postgresql" else "")
        )
    with _statements() as seen:
        [finding] = await connector.audit(binding)
    assert f"table {table!r} lacks its change-capture triggers" in finding.message
    assert any("trigger" in s.lower() for s in seen), seen  # the triggers were looked up
    counting = [s for s in seen if re.search(r"count\s*\(", s, re.IGNORECASE)]
    assert not [s for s in counting if erp.changelog in s], counting
