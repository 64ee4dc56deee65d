"""Which writes carry a guard: updates over a field both systems edit whose target value was
read for planning; nothing else (creates, deletes, fields one side owns)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from test_reconcile_heal_exact import engine_for

from tandem.connectors.base import WriteOp
from tandem.pipeline.guard import guarded
from tandem.pipeline.plan import Intent, TargetRecord

READ = datetime(2026, 3, 2, 10, 0, 5, tzinfo=UTC)
STAMP = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)


def _current() -> TargetRecord:
    native = {"name": "Acme", "phone": "+48 1", "crm_id": "001A"}
    return TargetRecord("1", {"name": "Acme", "phone": "+48 1"}, STAMP, native, READ)


def test_an_update_over_a_shared_field_read_is_guarded(tmp_path: Path) -> None:
    """The memory flow with its phone made a field both edit (the name stays the ERP's): only
    the phone's value read is expected."""
    engine, _, _ = engine_for(tmp_path)
    ctx = engine.context("customer")
    spec = ctx.spec.model_copy(
        update={
            "fields": [
                f.model_copy(update={"owner": "both"}) if f.field == "phone" else f
                for f in ctx.spec.fields
            ]
        }
    )
    rules = type(ctx.rules)(
        owner_of=spec.owner_of,
        default_owner=ctx.rules.default_owner,
        conflict=ctx.rules.conflict,
        delete=ctx.rules.delete,
    )
    intent = Intent("erp", "update", "1", {"phone": "+48 2", "name": "Acme SA"})
    op = WriteOp("update", "001A", {"phone": "+48 2", "name": "Acme SA", "crm_id": "001A"}, key="1")
    out = guarded(spec, rules, "erp", intent, op, _current())
    assert out.guard is not None
    assert dict(out.guard.expected) == {"phone": "+48 1"}  # not name: the ERP's alone
    assert (out.guard.modified_at, out.guard.read_at) == (STAMP, READ)
    assert (out.values, out.key) == (op.values, op.key)

    only_name = Intent("erp", "update", "1", {"name": "Acme SA"})
    plain = WriteOp("update", "001A", {"name": "Acme SA"}, key="1")
    assert guarded(spec, rules, "erp", only_name, plain, _current()) is plain
    assert guarded(spec, rules, "erp", intent, op, None) is op  # nothing was read


def test_creates_deletes_and_flags_are_never_guarded(tmp_path: Path) -> None:
    engine, _, _ = engine_for(tmp_path)
    ctx = engine.context("customer")
    create = WriteOp("upsert", "001A", {"phone": "+48 2"}, match="001A")
    assert (
        guarded(ctx.spec, ctx.rules, "erp", Intent("erp", "create", None, {}), create, None)
        is create
    )
    delete = WriteOp("delete", "001A", key="1")
    intent = Intent("erp", "delete", "1")
    assert guarded(ctx.spec, ctx.rules, "erp", intent, delete, _current()) is delete
    flag = WriteOp("update", "001A", {"active": False}, key="1")
    intent = Intent("erp", "flag", "1")
    assert guarded(ctx.spec, ctx.rules, "erp", intent, flag, _current()) is flag
