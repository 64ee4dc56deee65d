"""Records the CRM merged away: asked for, lettered, and held back from being created again.

A merge in the CRM deletes the losers. Carried to the ERP as deletes, they would delete or
archive customers that hold orders and invoices; re-created from the ERP, they would bring
back the duplicate the CRM's users merged away. Each loser's ERP partner gets a
``MERGED_IN_CRM`` letter for a person instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from tandem.connectors.base import Change, MergeLookup
from tandem.pipeline.context import EntityContext, Systems
from tandem.pipeline.outcome import MERGED_IN_CRM, DeadLetterNote, PendingRecord
from tandem.store import StateStore, SyncedState


class Merges:
    """What one flow's batches do about CRM merges."""

    def __init__(self, flow: str, store: StateStore, systems: Systems) -> None:
        self.flow = flow
        self.store = store
        self.systems = systems

    async def look_up(
        self,
        ctx: EntityContext,
        latest: dict[str, Change],
        partners: Mapping[str, str],
        bases: Mapping[str, SyncedState],
    ) -> None:
        """Ask the CRM which of the linked records read as plain deletes a merge deleted.

        A delete may come without saying (``getDeleted``; a record the work queue, a retry
        or a reconcile heal, found gone); carried to the ERP as a delete it would delete or
        archive a customer the CRM only merged. Only deletes that would reach a partner are
        asked about: one call per batch that has such deletes, none otherwise.
        """
        connector = self.systems.of("crm")
        if not isinstance(connector, MergeLookup):
            return
        keys = [
            key
            for key, change in latest.items()
            if change.deleted
            and change.merged_into is None
            and key in partners
            and not ((base := bases.get(key)) is not None and base.deleted)
        ]
        if not keys:
            return
        found = await connector.merged_into(ctx.bindings["crm"], keys)
        for key, master in found.items():
            if key in latest:
                latest[key] = replace(latest[key], merged_into=master)

    def letters(self, ctx: EntityContext, plans: Sequence[PendingRecord]) -> list[DeadLetterNote]:
        """A ``MERGED_IN_CRM`` letter for the ERP partner of each CRM record merged away.

        The partner is not deleted, archived or flagged: it holds what the loser's ERP
        customer holds (orders, invoices), which a merge of two CRM duplicates says nothing
        about. A person merges it in the ERP, or links it to the master.
        """
        merged = [p.plan for p in plans if p.plan.merged_into is not None]
        if not merged:
            return []
        masters = self.store.partners(ctx.name, "crm", [p.merged_into or "" for p in merged])
        notes: list[DeadLetterNote] = []
        for plan in merged:
            master, erp_key = plan.merged_into or "", plan.partner or ""
            message = _merged_message(ctx, plan.key, master, erp_key, masters.get(master))
            notes.append(
                DeadLetterNote(
                    "erp",
                    erp_key,
                    message,
                    value=master,
                    code=MERGED_IN_CRM,
                    payload=dict(plan.values),
                )
            )
        return notes

    def hold(
        self, ctx: EntityContext, plans: Sequence[PendingRecord], *, again: bool
    ) -> list[DeadLetterNote]:
        """Hold back the ERP records a ``MERGED_IN_CRM`` letter waits on, that would be
        created in the CRM: that would bring back the duplicate the CRM's users merged away.

        Held, a record writes nothing and commits no state: its values are sent whole once
        it is linked. ``again``: the records come from the work queue (the letter retried):
        a held one's letter is open again, one attempt more; a read by the capture (an edit,
        or the overlap window re-reading) leaves the letter as it is.

        A record linked since (to the master, by a person) goes through and resolves its
        letter; one deleted in the ERP does too. A dropped letter holds nothing: the record
        syncs as one of its own again.
        """
        creating = {
            p.record.key: p
            for p in plans
            if p.plan.target is not None and p.plan.target.action == "create"
        }
        if not creating:
            return []
        letters = {
            letter.record_key: letter
            for status in ("open", "retrying")
            for letter in self.store.dead_letters(
                flow=self.flow, status=status, entity=ctx.name, code=MERGED_IN_CRM, limit=1_000_000
            )
            if letter.side == "erp" and letter.record_key in creating
        }
        notes: list[DeadLetterNote] = []
        for key, letter in letters.items():
            pending = creating[key]
            if again:
                notes.append(
                    DeadLetterNote(
                        "erp",
                        key,
                        letter.message,
                        value=letter.value,
                        code=MERGED_IN_CRM,
                        payload=dict(pending.plan.values),
                    )
                )
            pending.plan.target = None
            pending.failed = True
        return notes


def _merged_message(
    ctx: EntityContext, loser: str, master: str, erp_key: str, master_partner: str | None
) -> str:
    """What a ``MERGED_IN_CRM`` letter tells a person: what happened and what to do."""
    crm, erp = ctx.bindings["crm"], ctx.bindings["erp"]
    head = (
        f"{ctx.name}: the CRM merged {crm.source} {loser} into {master}; ERP record "
        f"{erp_key} ({erp.source}), linked to {loser}, is kept as it is (not deleted, archived "
        "or flagged), now linked to no CRM record, and is not created in the CRM again while "
        "this letter is open. "
    )
    if master_partner is not None:
        todo = (
            f"{master} is linked to ERP record {master_partner}: merge ERP record {erp_key} "
            f"into {master_partner} in the ERP (move what refers to it, then delete or archive "
            f"{erp_key})"
        )
    elif erp.external_id:
        todo = (
            f"{master} is linked to no ERP record: link ERP record {erp_key} to it (set its "
            f"{erp.external_id} to {master}), or merge {erp_key} in the ERP into the record "
            f"that is {master}'s"
        )
    else:
        todo = (
            f"{master} is linked to no ERP record: link ERP record {erp_key} to it (set "
            f"{crm.external_id or 'the external ID'} of {master} to {erp_key}), or merge "
            f"{erp_key} in the ERP into the record that is {master}'s"
        )
    return (
        head
        + todo
        + "; then retry this letter. Dropping it lets ERP record "
        + f"{erp_key} sync as a record of its own: its next change creates it in the CRM."
    )


__all__ = ["Merges"]
