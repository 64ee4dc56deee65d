"""``tandem check`` warns, at the binding, of a captured table whose change-capture triggers
are gone (dropped by hand, or lost when the table was rebuilt): its changes are missed until
``tandem erp install-capture`` runs again. Before, nothing said so."""

from __future__ import annotations

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
