"""Apply a person's decision on a conflict: write the chosen value to both systems."""

from __future__ import annotations

from typing import Any, Literal

from tandem.config import Side
from tandem.connectors.base import WriteOp
from tandem.errors import ConfigError, RecordRejected
from tandem.model import validate_field
from tandem.pipeline.engine import Engine
from tandem.pipeline.refs import StoreRefResolver
from tandem.store import AuditEntry, Conflict

Resolution = Literal["erp", "crm", "value"]


async def apply_resolution(
    engine: Engine, conflict_id: int, resolution: Resolution, value: Any = None
) -> Conflict:
    """Write the chosen value of conflict ``conflict_id`` to both systems and close it."""
    store = engine.store
    flow = engine.flow.name
    conflict = next(
        (
            c
            for c in store.conflicts(flow=flow, status="open", limit=100_000)
            if c.id == conflict_id
        ),
        None,
    )
    if conflict is None:
        raise ConfigError(f"no open conflict with id {conflict_id}")
    ctx = engine.context(conflict.entity)
    if resolution == "erp":
        chosen = conflict.erp_value
    elif resolution == "crm":
        chosen = conflict.crm_value
    else:
        try:
            chosen = validate_field(ctx.spec.model, conflict.field, value)
        except ValueError as exc:
            raise ConfigError(f"value {value!r} for {conflict.field}: {exc}") from exc

    refs = StoreRefResolver(store)
    keys: dict[Side, str | None] = {"erp": conflict.erp_key, "crm": conflict.crm_key}
    held: dict[Side, Any] = {"erp": conflict.erp_value, "crm": conflict.crm_value}
    written: list[tuple[Side, str]] = []
    for side in ("erp", "crm"):
        key = keys[side]
        if key is None:
            continue
        native = engine.mapper.to_native(
            ctx.spec, side, {conflict.field: chosen}, [conflict.field], key, refs
        )
        if not native:
            continue
        outcomes = await engine.systems.of(side).write_batch(
            ctx.bindings[side], [WriteOp("update", key, native, key=key)]
        )
        if not outcomes[0].ok:
            error = outcomes[0].error
            raise (
                error
                if error is not None
                else RecordRejected(
                    "no answer", system=side, operation="resolve conflict", record=key
                )
            )
        written.append((side, key))
    with store.transaction():
        if conflict.erp_key is not None:
            states = store.synced(ctx.name, "erp", [conflict.erp_key])
            state = states.get(conflict.erp_key)
            if state is not None:
                state.values[conflict.field] = chosen
                store.save_synced([state])
        # one entry per system written: the value that system held, and the chosen one
        store.audit(
            [
                AuditEntry(
                    flow=flow,
                    entity=ctx.name,
                    target=side,
                    record_key=key,
                    action="resolve",
                    before={conflict.field: held[side]},
                    after={conflict.field: chosen},
                    cause=f"conflict:{conflict.id}:{resolution}",
                )
                for side, key in written
            ]
        )
        return store.resolve_conflict(conflict_id, resolution, chosen)


__all__ = ["Resolution", "apply_resolution"]
