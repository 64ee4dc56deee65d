"""Audit (second round): ERP capture races the first round did not try.

Real PostgreSQL and MariaDB, the trigger-fed change log and the HTTPS Salesforce sandbox.
Concurrent ERP writers are second connections whose transactions the test holds open and
commits itself; a commit "during a pass" is made from a hook on the engine's own connector
calls, so every interleaving is exact and nothing waits on the clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from audit_kit import Writer, age_log, before_erp_writes, open_writer
from tandem_env import Env

from tandem.connectors.base import Change, Cursor, EntityBinding, WriteOp
from tandem.pipeline.runtime import running_engine


def _accounts(env: Env, customer: int) -> list[dict[str, object]]:
    return env.crm_rows(
        f"SELECT Id, Name, Phone, BillingCity FROM Account WHERE ERP_Id__c = '{customer}'"
    )


def _contacts(env: Env, erp_id: int) -> list[dict[str, object]]:
    return env.crm_rows(
        f"SELECT Id, LastName, Title, AccountId FROM Contact WHERE ERP_Id__c = '{erp_id}'"
    )


_NEW_CUSTOMER = (
    "INSERT INTO customers (id, number, name, nip, city, country_code) "
    "VALUES (:id, :number, :name, '5260250274', 'Gdynia', 'PL')"
)
_NEW_CONTACT = (
    "INSERT INTO contacts (id, customer_id, first_name, last_name, email, title) "
    "VALUES (:id, :customer, 'Ola', :last, :email, 'Buyer')"
)


def _new_customer(sink: Any, key: int, name: str) -> None:
    """Insert customer ``key`` through ``sink`` (an :class:`Env` or a :class:`Writer`)."""
    run = sink.erp if isinstance(sink, Env) else sink.run
    run(_NEW_CUSTOMER, id=key, number=f"C-7{key:04d}", name=name)


def _new_contact(sink: Any, key: int, customer: int) -> None:
    run = sink.erp if isinstance(sink, Env) else sink.run
    run(_NEW_CONTACT, id=key, customer=customer, last=f"Late{key}", email=f"late.{key}@example.com")


ReadHook = Callable[[EntityBinding], None]


def _before_erp_reads(engine: Any, hook: ReadHook) -> None:
    """Run ``hook`` as each ERP change read of the engine starts (before its first query)."""
    connector = engine.systems.of("erp")
    read = connector.read_changes

    async def read_changes(
        binding: EntityBinding, since: Cursor | None, batch_size: int
    ) -> AsyncIterator[Sequence[Change]]:
        hook(binding)
        async for batch in read(binding, since, batch_size):
            yield batch

    connector.read_changes = read_changes


# -- late commits across entities -----------------------------------------------------------------


async def test_late_commit_of_a_customer_and_its_contact_arrives_linked(
    db_env: Env, writers: list[Writer]
) -> None:
    """T1 inserts customer 95 and a contact of it; T2 edits customer 3 and contact 5 and
    commits; a pass reads T2 (cursors of both entities past T1's entries); T1 commits.

    The next pass must create the account, then the contact under that account, once each.
    """
    env = db_env
    async with running_engine(env.flow()) as engine:
        await engine.sync()
        age_log(env)
        t1 = open_writer(env, writers)
        _new_customer(t1, 95, "Late 95")
        _new_contact(t1, 950, 95)
        env.erp("UPDATE customers SET city = 'Puck' WHERE id = 3")
        # contacts are owned by the CRM: this edit is reverted, but its entry is read and
        # moves the contact cursor past T1's
        env.erp("UPDATE contacts SET title = 'CEO' WHERE id = 5")
        await engine.sync()
        assert _accounts(env, 3)[0]["BillingCity"] == "Puck"
        assert _accounts(env, 95) == []
        t1.commit()
        await engine.sync()
        settled = await engine.sync()
        letters = engine.store.dead_letters(flow=engine.flow.name, status="open")
    [account] = _accounts(env, 95)
    [contact] = _contacts(env, 950)
    assert contact["AccountId"] == account["Id"]
    assert [d for d in letters if d.record_key in ("95", "950")] == []
    assert settled.writes == 0


async def test_transaction_committed_between_two_entities_reads_of_one_pass(
    db_env: Env, writers: list[Writer]
) -> None:
    """T1 (customer 96 and its contact) commits after the pass read customers and before it
    reads contacts: the contact is read in this pass, its customer not yet (not linked).

    The contact waits for its customer; the next pass links the customer (its entry lies
    in the overlap window) and the contact follows. Each arrives once, linked.
    """
    env = db_env
    async with running_engine(env.flow()) as engine:
        await engine.sync()
        age_log(env)
        t1 = open_writer(env, writers)
        _new_customer(t1, 96, "Between 96")
        _new_contact(t1, 960, 96)
        env.erp("UPDATE customers SET city = 'Rumia' WHERE id = 4")  # moves the cursor past T1
        committed: list[str] = []

        def commit_at_contacts(binding: EntityBinding) -> None:
            if binding.source == "contacts" and not committed:
                committed.append("t1")
                t1.commit()

        _before_erp_reads(engine, commit_at_contacts)
        await engine.sync()
        assert committed
        await engine.sync()
        settled = await engine.sync()
    [account] = _accounts(env, 96)
    [contact] = _contacts(env, 960)
    assert contact["AccountId"] == account["Id"]
    assert settled.writes == 0


async def test_late_commit_of_a_delete_arrives(db_env: Env, writers: list[Writer]) -> None:
    """T1 deletes contact 7 (policy delete) and is held open across a pass that reads a
    committed edit of contact 8; once T1 commits, the CRM contact goes too."""
    env = db_env
    async with running_engine(env.flow()) as engine:
        await engine.sync()
        age_log(env)
        assert len(_contacts(env, 7)) == 1
        t1 = open_writer(env, writers)
        t1.run("DELETE FROM contacts WHERE id = 7")
        env.erp("UPDATE contacts SET title = 'Owner 8' WHERE id = 8")  # reverted (CRM-owned)
        await engine.sync()
        assert len(_contacts(env, 7)) == 1
        t1.commit()
        report = await engine.sync()
        settled = await engine.sync()
    assert _contacts(env, 7) == []
    assert report.total("deleted") == 1
    assert settled.writes == 0


async def test_late_transaction_deleting_and_inserting_a_row_again(
    db_env: Env, writers: list[Writer]
) -> None:
    """T1 deletes customer 97 and inserts it again under its key with a new name, held open
    across a pass; the CRM ends with one account for 97, under the new name."""
    env = db_env
    async with running_engine(env.flow()) as engine:
        _new_customer(env, 97, "First 97")
        await engine.sync()
        await engine.sync()
        age_log(env)
        [before] = _accounts(env, 97)
        t1 = open_writer(env, writers)
        t1.run("DELETE FROM customers WHERE id = 97")
        _new_customer(t1, 97, "Second 97")
        env.erp("UPDATE customers SET city = 'Hel' WHERE id = 6")
        await engine.sync()
        t1.commit()
        await engine.sync()
        await engine.sync()
        settled = await engine.sync()
    live = _accounts(env, 97)
    assert [a["Name"] for a in live] == ["Second 97"], live
    assert settled.writes == 0
    assert before["Id"]


# -- ERP edits while the pass writes to the ERP ---------------------------------------------------


async def test_erp_edit_of_another_field_while_the_pass_writes_a_crm_edit(
    db_env: Env,
) -> None:
    """A CRM phone edit of account 2 is being written to the ERP when an ERP user commits a
    city edit of that very row. Tandem's UPDATE must carry only the phone: the city stays
    in the ERP and reaches the CRM."""
    env = db_env
    async with running_engine(env.flow()) as engine:
        await engine.sync()
        [account] = _accounts(env, 2)
        env.crm.org.update("Account", str(account["Id"]), {"Phone": "+48 910 000 001"})
        edited: list[str] = []

        def user_edits(binding: EntityBinding, ops: Sequence[WriteOp]) -> None:
            if binding.source == "customers" and not edited:
                edited.append("city")
                env.erp("UPDATE customers SET city = 'Reda' WHERE id = 2")

        before_erp_writes(engine, user_edits)
        await engine.sync()
        await engine.sync()
        settled = await engine.sync()
    assert edited
    assert env.erp_rows("SELECT phone, city FROM customers WHERE id = 2")[0] == (
        "+48 910 000 001",
        "Reda",
    )
    [after] = _accounts(env, 2)
    assert (after["Phone"], after["BillingCity"]) == ("+48 910 000 001", "Reda")
    assert settled.writes == 0


async def test_erp_edit_of_a_new_row_while_its_crm_id_is_written_back(db_env: Env) -> None:
    """Customer 98 is created in the CRM by a pass; as the pass writes the CRM id back to
    the ERP row, an ERP user commits a city edit of that row.

    One account only; the city edit reaches it; the ERP row holds the account's id.
    """
    env = db_env
    async with running_engine(env.flow()) as engine:
        await engine.sync()
        _new_customer(env, 98, "New 98")
        edited: list[str] = []

        def user_edits(binding: EntityBinding, ops: Sequence[WriteOp]) -> None:
            if binding.source == "customers" and not edited:
                edited.append("city")
                env.erp("UPDATE customers SET city = 'Jastarnia' WHERE id = 98")

        before_erp_writes(engine, user_edits)
        await engine.sync()
        await engine.sync()
        settled = await engine.sync()
    assert edited
    [account] = _accounts(env, 98)
    assert account["BillingCity"] == "Jastarnia"
    assert env.erp_rows("SELECT crm_id FROM customers WHERE id = 98")[0][0] == account["Id"]
    assert settled.writes == 0


async def test_many_changes_to_one_row_while_a_late_transaction_holds_another(
    db_env: Env, writers: list[Writer]
) -> None:
    """Row 9 is edited 5 times in committed transactions around a pass while T1 holds an
    edit of row 10 open; then T1 commits. Both rows end with their last values, once."""
    env = db_env
    async with running_engine(env.flow(**{"batch_size: 200": "batch_size: 2"})) as engine:
        await engine.sync()
        age_log(env)
        t1 = open_writer(env, writers)
        t1.run("UPDATE customers SET city = 'Late 10' WHERE id = 10")
        for n in range(3):
            env.erp(f"UPDATE customers SET city = 'Nine {n}' WHERE id = 9")
        await engine.sync()
        for n in range(3, 5):
            env.erp(f"UPDATE customers SET city = 'Nine {n}' WHERE id = 9")
        t1.commit()
        await engine.sync()
        settled = await engine.sync()
    assert _accounts(env, 9)[0]["BillingCity"] == "Nine 4"
    assert _accounts(env, 10)[0]["BillingCity"] == "Late 10"
    assert settled.writes == 0


# -- a record deleted, then restored exactly as it was --------------------------------------------


async def test_erp_row_deleted_then_restored_with_the_same_values(db_env: Env) -> None:
    """Contact 11 is deleted in the ERP (policy delete: the CRM contact goes), then the ERP
    restores the row exactly as it was (an undo, a restore from backup). The restore is a
    real change: the CRM must hold the contact again, once."""
    env = db_env
    async with running_engine(env.flow()) as engine:
        await engine.sync()
        row = env.erp_rows(
            "SELECT id, customer_id, first_name, last_name, email, phone, title "
            "FROM contacts WHERE id = 11"
        )[0]
        env.erp("DELETE FROM contacts WHERE id = 11")
        await engine.sync()
        assert _contacts(env, 11) == []
        env.erp(
            "INSERT INTO contacts (id, customer_id, first_name, last_name, email, phone, title) "
            "VALUES (:i, :c, :f, :l, :e, :p, :t)",
            i=row[0],
            c=row[1],
            f=row[2],
            l=row[3],
            e=row[4],
            p=row[5],
            t=row[6],
        )
        await engine.sync()
        settled = await engine.sync()
    assert len(_contacts(env, 11)) == 1
    assert settled.writes == 0


async def test_crm_record_deleted_then_undeleted(db_env: Env) -> None:
    """Contact 12 is deleted in the CRM (the ERP row goes: policy delete), then restored
    from the CRM's recycle bin (same Id, same values). The ERP must hold it again, once."""
    env = db_env
    async with running_engine(env.flow()) as engine:
        await engine.sync()
        [contact] = _contacts(env, 12)
        env.crm.org.delete("Contact", str(contact["Id"]))
        await engine.sync()
        assert env.erp_rows("SELECT COUNT(*) FROM contacts WHERE id = 12")[0][0] == 0
        env.crm.org.undelete([str(contact["Id"])])
        await engine.sync()
        settled = await engine.sync()
    rows = env.erp_rows("SELECT id, crm_id FROM contacts WHERE crm_id = :c", c=contact["Id"])
    assert len(rows) == 1, rows
    assert settled.writes == 0
