"""``tandem erp prune``: the ERP's change log kept from growing without losing a change.

An entry may go once every entity that reads the ERP's changes has read past it (its cursor
less its overlap), and once it is older than the retention. The demo flow between a SQLite ERP
and the sandbox; entries are aged by rewriting their stamps, as the passing of days would.
"""

from __future__ import annotations

from cli_run import tandem, tandem_json
from tandem_env import Env

from tandem.store import StateStore

OLD = "2020-01-01 00:00:00.000000"
"""A stamp far behind every cursor (the change log keeps SQLite's text of UTC times)."""


def _entries(env: Env) -> int:
    return int(env.erp_rows("SELECT COUNT(*) FROM tandem_changelog")[0][0])


def _synced(env: Env) -> None:
    code, out = tandem("sync", "-c", str(env.config))
    assert code == 0, out


def test_prune_deletes_only_what_the_flow_has_read_and_the_retention_lets_go(env: Env) -> None:
    env.fix_the_bad_nip()
    _synced(env)
    env.erp("UPDATE tandem_changelog SET changed_at = :old", old=OLD)  # read, and years old
    read = _entries(env)
    env.erp("UPDATE customers SET phone = '+48 600 100 200' WHERE id = 3")  # not read yet
    assert _entries(env) == read + 1

    code, out = tandem("erp", "prune", "-c", str(env.config), "--dry-run")
    assert code == 0, out
    assert "would go (set by the 7-day retention)" in out
    assert _entries(env) == read + 1

    code, out = tandem("erp", "prune", "-c", str(env.config))
    assert code == 0, out
    assert f"{read} change-log entries before" in out and "7-day retention" in out
    assert _entries(env) == 1  # the unread edit stays

    _synced(env)  # and arrives
    (account,) = env.crm_rows("SELECT Phone FROM Account WHERE ERP_Id__c = '3'")
    assert account["Phone"] == "+48 600 100 200"
    report = tandem_json("sync", "-c", str(env.config))
    assert report["write_calls"] == 0


def test_an_entity_behind_holds_the_log_and_one_not_synced_yet_holds_all(env: Env) -> None:
    env.fix_the_bad_nip()
    _synced(env)
    env.erp("UPDATE tandem_changelog SET changed_at = :old", old=OLD)
    store = StateStore(env.flow().state_url())
    try:
        flow = env.flow()
        cursor = store.cursor(flow.name, "product", "erp")
        assert cursor is not None
        behind = cursor.minus(400 * 86400 * 10)  # ten years before: before every entry
        store.set_cursor(flow.name, "product", "erp", behind, force=True)
    finally:
        store.close()
    code, out = tandem("erp", "prune", "-c", str(env.config), "--keep-days", "0")
    assert code == 0, out
    assert "0 change-log entries" in out and "entity product's cursor" in out

    store = StateStore(env.flow().state_url())
    try:
        store.reset_cursors(env.flow().name, "product")
    finally:
        store.close()
    before = _entries(env)
    code, out = tandem("erp", "prune", "-c", str(env.config), "--keep-days", "0")
    assert code == 0, out
    assert "nothing pruned: entity product has not read the ERP's changes yet" in out
    assert _entries(env) == before
