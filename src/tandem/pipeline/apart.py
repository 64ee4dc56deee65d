"""Fields kept apart: a conflict a person dropped leaves each system its own value.

The agreed state holds one value per field, the one both systems held after the last sync;
a field whose values differ from it on both sides is a conflict. A person who drops that
conflict (``tandem conflicts drop``) has seen both values and decided to keep them apart.
One agreed value cannot say that: kept as it was, the next re-read finds both systems changed
against it again and raises the same conflict; moved to either side's value, the other side
would look edited and be written over.

So the agreed values of such a record also hold, under the key :data:`APART`, each system's
value of the field as the person saw it. The planner compares each system with its own seen
value: a re-read of either is no change, an edit made later on one side is synced by the
policy (and the field is agreed again), and a later edit on both is a new conflict. The field's
own entry keeps the last value both systems agreed on (a conflict's ``base``).

The entry travels with the rest of the agreed values (a plan starts from a copy of them), so
the state needs no column of its own; ``#`` starts no canonical field name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from tandem.config import Side
from tandem.mapping import values_equal

APART: Final = "#apart"
"""The key, among a record's agreed values, of its fields kept apart: field -> side -> the
value that system held when the person dropped the conflict."""


def canonical(agreed: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical fields of agreed values, without the fields-apart entry: what events
    and audit entries show."""
    return {name: value for name, value in agreed.items() if name != APART}


def not_apart(
    differing: Mapping[str, tuple[Any, Any]], agreed: Mapping[str, Any] | None
) -> dict[str, tuple[Any, Any]]:
    """Of the fields whose ERP and CRM values differ (name -> (ERP value, CRM value)), those
    that are not kept apart at exactly those values: a dropped conflict's pair is no drift."""
    return {
        name: (erp, crm)
        for name, (erp, crm) in differing.items()
        if (seen := seen_apart(agreed, name)) is None
        or not (values_equal(erp, seen.get("erp")) and values_equal(crm, seen.get("crm")))
    }


def seen_apart(agreed: Mapping[str, Any] | None, name: str) -> Mapping[str, Any] | None:
    """Each system's seen value of ``name`` (by side) when the field is kept apart, else None."""
    if not agreed:
        return None
    apart = agreed.get(APART)
    return apart.get(name) if apart else None


def base_of(agreed: Mapping[str, Any] | None, name: str, side: Side) -> tuple[bool, Any]:
    """What ``side``'s value of ``name`` is compared with: whether anything is known, and the
    value (the value ``side`` was seen holding when the field is kept apart, else the agreed
    one)."""
    seen = seen_apart(agreed, name)
    if seen is not None:
        return True, seen.get(side)
    if agreed is None or name not in agreed:
        return False, None
    return True, agreed[name]


def keep_apart(agreed: Mapping[str, Any], name: str, *, erp: Any, crm: Any) -> dict[str, Any]:
    """``agreed`` with ``name`` kept apart at ``erp`` and ``crm`` (a new dict); the field's own
    value stays the last one both agreed on. Two equal values are simply agreed on."""
    if values_equal(erp, crm):
        return agree(agreed, name, erp)
    values = dict(agreed)
    values[APART] = {**(agreed.get(APART) or {}), name: {"erp": erp, "crm": crm}}
    return values


def agree(agreed: Mapping[str, Any], name: str, value: Any) -> dict[str, Any]:
    """``agreed`` with both systems agreeing on ``value`` for ``name`` (a new dict)."""
    values = dict(agreed)
    values[name] = value
    forget_apart(values, name)
    return values


def forget_apart(values: dict[str, Any], name: str) -> None:
    """Drop ``name`` from the fields ``values`` keeps apart (in place; the mapping of the
    fields apart is replaced, never changed, as it may be shared with the state read)."""
    apart = values.get(APART)
    if not apart or name not in apart:
        return
    rest = {field: seen for field, seen in apart.items() if field != name}
    if rest:
        values[APART] = rest
    else:
        del values[APART]


__all__ = ["APART", "agree", "base_of", "forget_apart", "keep_apart", "seen_apart"]
