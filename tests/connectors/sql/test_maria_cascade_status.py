"""MariaDB: ``capture_status`` checks the triggers on parent tables that log cascaded rows.

A captured child whose foreign key deletes or changes its rows (``ON DELETE CASCADE``, ...)
needs a trigger on the parent (:func:`cascade_triggers`). Before the fix the status looked at
the child's three row triggers only: a parent trigger dropped by hand, or lost when the parent
was rebuilt, went unnoticed while the cascaded deletes were lost again.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cascade_pair import Pair

from tandem.connectors.base import EntityBinding
from tandem.connectors.sql import SqlConnector, SqlSettings, capture_status
from tandem.connectors.sql.capture import CaptureTable

pytestmark = pytest.mark.mariadb


def test_a_dropped_parent_trigger_reads_as_not_installed_until_installed_again(
    make_pair: Callable[..., Pair],
) -> None:
    pair = make_pair("ON DELETE CASCADE")
    pair.install()
    keyed = [CaptureTable(pair.child, "id")]
    status = capture_status(pair.engine, keyed, changelog_table=pair.changelog)
    assert status.tables == {pair.child: True}
    assert status.missing == {}

    gone = pair.drop_parent_trigger("DELETE")
    for tables in (keyed, [(pair.child, "id")], [pair.child]):  # every call form
        status = capture_status(pair.engine, tables, changelog_table=pair.changelog)
        assert status.tables == {pair.child: False}, tables
        [said] = status.missing[pair.child]
        assert gone in said and pair.parent in said and "ON DELETE CASCADE" in said, said

    pair.install()
    status = capture_status(pair.engine, keyed, changelog_table=pair.changelog)
    assert status.tables == {pair.child: True}
    assert status.missing == {}


def test_a_table_named_without_its_key_is_checked_for_its_delete_triggers_only(
    make_pair: Callable[..., Pair],
) -> None:
    pair = make_pair("ON DELETE SET NULL ON UPDATE CASCADE")
    pair.install()
    gone = pair.drop_parent_trigger("UPDATE")
    status = capture_status(pair.engine, [(pair.child, "id")], changelog_table=pair.changelog)
    assert status.tables == {pair.child: False}
    [said] = status.missing[pair.child]
    assert gone in said and "ON UPDATE CASCADE" in said, said
    # Without the key the update trigger is unknown (what it logs depends on whether the
    # key is one of the foreign key's columns): only the delete side is checked.
    status = capture_status(pair.engine, [pair.child], changelog_table=pair.changelog)
    assert status.tables == {pair.child: True}
    assert status.missing == {}


def test_an_update_of_the_childs_own_key_is_asked_for_too(
    make_pair: Callable[..., Pair],
) -> None:
    # The key column is the foreign key's: ON UPDATE CASCADE changes the key itself, which a
    # parent trigger logs since capture release 5 (test_maria_cascade_key_update).
    pair = make_pair("ON UPDATE CASCADE", fk_column="id")
    pair.install()
    assert list(pair.triggers(pair.parent).values()) == ["UPDATE"]
    status = capture_status(pair.engine, [(pair.child, "id")], changelog_table=pair.changelog)
    assert status.tables == {pair.child: True}
    assert status.missing == {}


async def test_check_warns_of_a_missing_parent_trigger_at_the_binding(
    make_pair: Callable[..., Pair], mariadb_url: str
) -> None:
    """``tandem check`` (the connector's audit) names the missing trigger at the binding."""
    pair = make_pair("ON DELETE CASCADE")
    pair.install()
    binding = EntityBinding(name="contact", source=pair.child, key="id", fields=("cust",))
    connector = SqlConnector(SqlSettings(url=mariadb_url, changelog_table=pair.changelog))
    await connector.open()
    try:
        assert await connector.audit(binding) == []
        name = pair.drop_parent_trigger("DELETE")
        [finding] = await connector.audit(binding)
    finally:
        await connector.close()
    assert finding.setting == "source" and not finding.error
    assert f"table {pair.child!r} lacks the triggers" in finding.message
    assert name in finding.message and "install-capture" in finding.message
