"""Audit: the CRM side of capture: SystemModstamp ties, edits during a pass, clock skew.

The sandbox runs on a clock the test moves by hand (frozen, stepped back, or set behind
the agent's), so ties and late commits are made exactly, without waiting.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from audit_kit import before_crm_writes, before_erp_writes
from tandem_env import Env, build_env

import tandem.pipeline.windows as windows_module
from tandem.connectors.base import EntityBinding, WriteOp
from tandem.pipeline.outcome import BatchCommitter
from tandem.pipeline.runtime import running_engine


@dataclass
class Clock:
    """The sandbox org's clock: real time plus ``offset``, or ``frozen`` at one instant."""

    offset: timedelta = timedelta(0)
    frozen: datetime | None = None

    def __call__(self) -> datetime:
        if self.frozen is not None:
            return self.frozen
        return datetime.now(UTC) + self.offset


@dataclass
class ClockEnv:
    env: Env
    clock: Clock = field(default_factory=Clock)


@pytest.fixture
def clock_env(tmp_path: Path) -> Iterator[ClockEnv]:
    """The demo flow (SQLite ERP) against a sandbox whose clock the test controls."""
    clock = Clock()
    for env in build_env(tmp_path, f"sqlite:///{tmp_path / 'erp.db'}", clock=clock):
        yield ClockEnv(env, clock)


SMALL_READS = {
    "    client_secret: {file: secrets/sf_client_secret}\n": (
        "    client_secret: {file: secrets/sf_client_secret}\n"
        "    query_batch_size: 200\n"
        "    bulk_threshold: 100000\n"
    )
}
"""CRM reads in LIMIT rounds of 200 (REST only)."""

SMALL_READS_THEN_BULK = {
    "    client_secret: {file: secrets/sf_client_secret}\n": (
        "    client_secret: {file: secrets/sf_client_secret}\n"
        "    query_batch_size: 200\n"
        "    bulk_threshold: 300\n"
    )
}
"""CRM reads in LIMIT rounds of 200, the rest of a read past 300 rows by a Bulk query."""


def _erp_categories(env: Env) -> list[tuple[object, ...]]:
    return [tuple(r) for r in env.erp_rows("SELECT code, name, crm_id FROM product_categories")]


# -- equal SystemModstamp at the cursor, over several pages ------------------------------------


@pytest.mark.parametrize("reads", [SMALL_READS, SMALL_READS_THEN_BULK], ids=["rest", "bulk"])
async def test_many_crm_records_sharing_the_cursors_modstamp_arrive_once(
    clock_env: ClockEnv, reads: dict[str, str]
) -> None:
    """450 categories created in the CRM at the very instant of the stored CRM cursor.

    They span three LIMIT rounds of 200 (or two rounds and a Bulk query) and three engine
    batches, every one at one SystemModstamp; each must reach the ERP exactly once.
    """
    env, clock = clock_env.env, clock_env.clock
    flow = env.flow(**reads)
    async with running_engine(flow) as engine:
        await engine.sync()
        cursor = engine.store.cursor(flow.name, "product_category", "crm")
        assert cursor is not None
        clock.frozen = cursor.modified_at  # new records tie with the cursor's instant
        for n in range(450):
            env.crm.org.create("Product_Category__c", {"Name": f"Tie {n:03d}", "Code__c": f"T{n}"})
        before = dict(env.crm.state.requests)
        report = await engine.sync()
        calls = {k: v - before.get(k, 0) for k, v in env.crm.state.requests.items()}
        clock.frozen = None
        settled = await engine.sync()
    rows = _erp_categories(env)
    tied = [r for r in rows if str(r[0]).startswith("T")]
    assert len(tied) == 450
    assert len({r[0] for r in tied}) == 450
    assert all(r[2] for r in tied)  # each linked back to its CRM record
    assert report.total("created") == 450
    assert settled.writes == 0
    if reads is SMALL_READS_THEN_BULK:
        assert calls.get("POST bulk 200", 0) >= 1  # the rest of the tie came by a Bulk query
    else:
        assert calls.get("POST bulk 200", 0) == 0 and calls["GET query 200"] >= 3


class _CommitFault(Exception):
    """Injected: the state store went away between the target's write and the commit."""


async def test_pass_killed_inside_a_modstamp_tie_resumes_without_loss_or_duplicate(
    clock_env: ClockEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second of three batches of one SystemModstamp fails to commit; the pass is re-run.

    The stored cursor sits inside the tie (instant, Id of the first batch's last record);
    the re-run reads the rest of the tie, re-sends the second batch as upserts keyed by the
    CRM Id, and nothing is written twice in the ERP.
    """
    env, clock = clock_env.env, clock_env.clock
    flow = env.flow(**SMALL_READS)
    async with running_engine(flow) as engine:
        await engine.sync()
        cursor = engine.store.cursor(flow.name, "product_category", "crm")
        assert cursor is not None
        clock.frozen = cursor.modified_at + timedelta(milliseconds=7)
        for n in range(450):
            env.crm.org.create("Product_Category__c", {"Name": f"Cut {n:03d}", "Code__c": f"K{n}"})
        real_commit = BatchCommitter.commit
        commits: list[int] = []

        def failing_commit(self: BatchCommitter, ctx: Any, source: str, *args: Any) -> None:
            if ctx.name == "product_category" and source == "crm":
                commits.append(1)
                if len(commits) == 2:
                    raise _CommitFault("killed before the commit")
            real_commit(self, ctx, source, *args)  # type: ignore[arg-type]

        monkeypatch.setattr(BatchCommitter, "commit", failing_commit)
        with pytest.raises(_CommitFault):
            await engine.sync()
        monkeypatch.setattr(BatchCommitter, "commit", real_commit)
        inside = engine.store.cursor(flow.name, "product_category", "crm")
        assert inside is not None and inside.modified_at == clock.frozen and inside.key
        await engine.sync()
        clock.frozen = None
        settled = await engine.sync()
    rows = [r for r in _erp_categories(env) if str(r[0]).startswith("K")]
    assert len(rows) == 450
    assert len({r[0] for r in rows}) == 450
    assert len({r[2] for r in rows}) == 450 and all(r[2] for r in rows)
    assert settled.writes == 0


# -- edits in the CRM while a pass writes the same record ---------------------------------------


def _account(env: Env, customer: int) -> dict[str, object]:
    [row] = env.crm_rows(
        f"SELECT Id, Phone, BillingCity FROM Account WHERE ERP_Id__c = '{customer}'"
    )
    return row


async def test_crm_edit_of_another_field_while_the_pass_writes_the_record(
    clock_env: ClockEnv,
) -> None:
    """The pass writes an ERP city to account 2; just before, a user edits its phone.

    Tandem's update carries only the city (and the ERP key): the user's phone stays in the
    CRM and then flows to the ERP.
    """
    env = clock_env.env
    async with running_engine(env.flow()) as engine:
        await engine.sync()
        account = _account(env, 2)
        env.erp("UPDATE customers SET city = 'Sopot' WHERE id = 2")
        edited: list[str] = []

        def user_edits(binding: EntityBinding, ops: Sequence[WriteOp]) -> None:
            if binding.source == "Account" and not edited:
                edited.append("phone")
                env.crm.org.update("Account", str(account["Id"]), {"Phone": "+48 800 000 001"})

        before_crm_writes(engine, user_edits)
        await engine.sync()
        await engine.sync()
        settled = await engine.sync()
    assert edited
    assert _account(env, 2)["Phone"] == "+48 800 000 001"
    assert _account(env, 2)["BillingCity"] == "Sopot"
    assert env.erp_rows("SELECT phone, city FROM customers WHERE id = 2")[0] == (
        "+48 800 000 001",
        "Sopot",
    )
    assert settled.writes == 0


async def test_crm_edit_of_the_same_field_while_the_pass_writes_it(clock_env: ClockEnv) -> None:
    """Phone is edited by both: the ERP's edit is being written when a user edits it too.

    The user's edit is the newer one (conflict: newest_wins). It must not vanish: either it
    wins in both systems or a conflict is raised.
    """
    env = clock_env.env
    async with running_engine(env.flow()) as engine:
        await engine.sync()
        account = _account(env, 2)
        env.erp("UPDATE customers SET phone = '+48 810 000 000' WHERE id = 2")
        edited: list[str] = []

        def user_edits(binding: EntityBinding, ops: Sequence[WriteOp]) -> None:
            if binding.source == "Account" and not edited:
                edited.append("phone")
                env.crm.org.update("Account", str(account["Id"]), {"Phone": "+48 820 000 000"})

        before_crm_writes(engine, user_edits)
        await engine.sync()
        await engine.sync()
        conflicts = engine.store.open_conflict_fields(flow_name(engine), "customer", ["2"])
    assert edited
    crm_phone = _account(env, 2)["Phone"]
    assert crm_phone == "+48 820 000 000" or conflicts


async def test_same_edit_made_in_both_systems_then_undone_in_the_crm(
    clock_env: ClockEnv,
) -> None:
    """ERP and CRM users both set account 2's phone to one new number; later the CRM user
    puts the old number back. That last edit is real and must reach the ERP."""
    env = clock_env.env
    async with running_engine(env.flow()) as engine:
        await engine.sync()
        account = _account(env, 2)
        old = account["Phone"]
        env.erp("UPDATE customers SET phone = '+48 860 000 000' WHERE id = 2")
        env.crm.org.update("Account", str(account["Id"]), {"Phone": "+48 860 000 000"})
        await engine.sync()
        await engine.sync()
        env.crm.org.update("Account", str(account["Id"]), {"Phone": old})
        await engine.sync()
        await engine.sync()
    assert env.erp_rows("SELECT phone FROM customers WHERE id = 2")[0][0] == old


async def test_erp_edit_of_the_same_field_while_the_pass_writes_it_from_the_crm(
    clock_env: ClockEnv,
) -> None:
    """The mirror case: a CRM phone edit is being written to the ERP when an ERP user edits
    the same phone. The ERP user's edit is the newer one and must not vanish."""
    env = clock_env.env
    async with running_engine(env.flow()) as engine:
        await engine.sync()
        account = _account(env, 2)
        env.crm.org.update("Account", str(account["Id"]), {"Phone": "+48 870 000 000"})
        edited: list[str] = []

        def user_edits(binding: EntityBinding, ops: Sequence[WriteOp]) -> None:
            if binding.source == "customers" and not edited:
                edited.append("phone")
                env.erp("UPDATE customers SET phone = '+48 880 000 000' WHERE id = 2")

        before_erp_writes(engine, user_edits)
        await engine.sync()
        await engine.sync()
        conflicts = engine.store.open_conflict_fields(flow_name(engine), "customer", ["2"])
    assert edited
    erp_phone = env.erp_rows("SELECT phone FROM customers WHERE id = 2")[0][0]
    assert erp_phone == "+48 880 000 000" or conflicts


def flow_name(engine: Any) -> str:
    return str(engine.flow.name)


async def test_crm_edit_while_the_pass_writes_that_record_to_the_erp(
    clock_env: ClockEnv,
) -> None:
    """A contact's title edited in the CRM is being written to the ERP when it is edited again.

    The second edit comes after Tandem read the record; its SystemModstamp is past the
    cursor, so the next pass carries it.
    """
    env = clock_env.env
    async with running_engine(env.flow()) as engine:
        await engine.sync()
        [contact] = env.crm_rows("SELECT Id FROM Contact WHERE ERP_Id__c = '3'")
        env.crm.org.update("Contact", str(contact["Id"]), {"Title": "First title"})
        edited: list[str] = []

        def user_edits(binding: EntityBinding, ops: Sequence[WriteOp]) -> None:
            if binding.source == "contacts" and not edited:
                edited.append("title")
                env.crm.org.update("Contact", str(contact["Id"]), {"Title": "Second title"})

        before_erp_writes(engine, user_edits)
        await engine.sync()
        assert env.erp_rows("SELECT title FROM contacts WHERE id = 3")[0][0] == "First title"
        await engine.sync()
        settled = await engine.sync()
    assert edited
    assert env.erp_rows("SELECT title FROM contacts WHERE id = 3")[0][0] == "Second title"
    assert settled.writes == 0


# -- late commits in the CRM, the change probe and clock skew -----------------------------------


def _late_account_edit(clock_env: ClockEnv, account_id: str, phone: str, before: float) -> None:
    """An edit committed now whose SystemModstamp is ``before`` seconds old (a Salesforce
    transaction that took that long to commit)."""
    clock = clock_env.clock
    clock.frozen = clock() - timedelta(seconds=before)
    try:
        clock_env.env.crm.org.update("Account", account_id, {"Phone": phone})
    finally:
        clock.frozen = None


def _erp_phone(env: Env, customer: int) -> object:
    return env.erp_rows(f"SELECT phone FROM customers WHERE id = {customer}")[0][0]


async def _loaded_a_minute_ago(engine: Any, clock: Clock, offset: timedelta) -> None:
    """The initial load, with the org's clock a minute behind ``offset``; then ``offset``.

    The loaded records' SystemModstamps are then a minute old, out of every overlap window,
    as if the test ran a minute after the load.
    """
    clock.offset = offset - timedelta(seconds=60)
    await engine.sync()
    clock.offset = offset


async def test_crm_late_commit_within_the_overlap_arrives(clock_env: ClockEnv) -> None:
    """A CRM edit lands with a SystemModstamp 1 s behind one already read (overlap 2 s)."""
    env, clock = clock_env.env, clock_env.clock
    async with running_engine(env.flow()) as engine:
        await _loaded_a_minute_ago(engine, clock, timedelta(0))
        first, late = _account(env, 3), _account(env, 4)
        env.crm.org.update("Account", str(first["Id"]), {"Phone": "+48 830 000 001"})
        await engine.sync()
        _late_account_edit(clock_env, str(late["Id"]), "+48 830 000 002", before=1)
        await engine.sync()
    assert _erp_phone(env, 3) == "+48 830 000 001"
    assert _erp_phone(env, 4) == "+48 830 000 002"


async def test_crm_late_commit_arrives_when_the_org_clock_is_behind_the_agent(
    clock_env: ClockEnv,
) -> None:
    """The same late commit, with the org's clock 30 s behind the agent's (lesson 10)."""
    env, clock = clock_env.env, clock_env.clock
    async with running_engine(env.flow()) as engine:
        await _loaded_a_minute_ago(engine, clock, timedelta(seconds=-30))
        first, late = _account(env, 3), _account(env, 4)
        env.crm.org.update("Account", str(first["Id"]), {"Phone": "+48 840 000 001"})
        await engine.sync()
        _late_account_edit(clock_env, str(late["Id"]), "+48 840 000 002", before=1)
        await engine.sync()
        await engine.sync()
    assert _erp_phone(env, 3) == "+48 840 000 001"
    assert _erp_phone(env, 4) == "+48 840 000 002"


async def _edit_twice_second_late(clock_env: ClockEnv, engine: Any) -> None:
    """Account 4 edited at T, account 3 at T + 1 s, both read by a pass, then an idle pass;
    then account 4 is edited again by a late commit stamped T + 0.5 s, inside the window the
    probe counts (it already counted account 4)."""
    env, clock = clock_env.env, clock_env.clock
    first, again = _account(env, 3), _account(env, 4)
    at = clock()
    clock.frozen = at
    env.crm.org.update("Account", str(again["Id"]), {"Phone": "+48 850 000 001"})
    clock.frozen = at + timedelta(seconds=1)
    env.crm.org.update("Account", str(first["Id"]), {"Phone": "+48 850 000 002"})
    await engine.sync()
    await engine.sync()  # idle: the probe's window now starts 2 s before T + 1 s
    assert _erp_phone(env, 4) == "+48 850 000 001"
    clock.frozen = at + timedelta(milliseconds=500)
    env.crm.org.update("Account", str(again["Id"]), {"Phone": "+48 850 000 003"})
    clock.frozen = None


async def test_crm_late_edit_of_a_record_already_in_the_probed_window_arrives_next_pass(
    clock_env: ClockEnv,
) -> None:
    """A late commit that edits a record whose previous edit is inside the probed window.

    Neither the count nor the maximum changes, so the next passes trust the probe and do
    not read the object until the probe's 60 s trust runs out.
    """
    env, clock = clock_env.env, clock_env.clock
    async with running_engine(env.flow()) as engine:
        await _loaded_a_minute_ago(engine, clock, timedelta(0))
        await _edit_twice_second_late(clock_env, engine)
        await engine.sync()
        await engine.sync()
    assert _erp_phone(env, 4) == "+48 850 000 003"


async def test_crm_late_edit_hidden_from_the_probe_arrives_once_the_probe_is_stale(
    clock_env: ClockEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The case above is a delay, not a loss: once the probe is no longer trusted (60 s;
    here at once), the read re-reads the overlap window and carries the late edit."""
    env, clock = clock_env.env, clock_env.clock
    async with running_engine(env.flow()) as engine:
        await _loaded_a_minute_ago(engine, clock, timedelta(0))
        await _edit_twice_second_late(clock_env, engine)
        monkeypatch.setattr(windows_module, "PROBE_TRUST_SECONDS", 0.0)
        await engine.sync()
    assert _erp_phone(env, 4) == "+48 850 000 003"
