"""A record dead-lettered on an update, then put back to the agreed values at its source."""

from __future__ import annotations

from tandem_env import Env

from tandem.pipeline.runtime import running_engine


async def test_a_letter_resolves_when_its_record_is_put_back_to_the_agreed_values(
    env: Env,
) -> None:
    flow = env.flow()
    async with running_engine(flow) as engine:
        await engine.sync()
        name = env.erp_rows("SELECT name FROM customers WHERE id = 5")[0][0]
        env.erp("UPDATE customers SET name = :name WHERE id = 5", name="Y" * 300)
        await engine.sync()
        [letter] = [d for d in engine.store.dead_letters(flow=flow.name) if d.record_key == "5"]
        assert letter.field == "name" and letter.status == "open"
        # The person undoes the bad edit where it was made: nothing is left to deliver.
        env.erp("UPDATE customers SET name = :name WHERE id = 5", name=name)
        report = await engine.sync()
        assert report.writes == 0
        assert "5" not in [d.record_key for d in engine.store.dead_letters(flow=flow.name)]
        [after] = engine.store.dead_letters_by_id([letter.id])
    assert after.status == "resolved"
    account = env.crm_rows("SELECT Name FROM Account WHERE ERP_Id__c = '5'")[0]
    assert account["Name"] == name
