"""References between entities, resolved through the ID cross-reference.

A reference's canonical value is the referenced record's ERP key; a record that exists
only in the CRM so far is referred to as ``crm:<id>``. The resolver answers from a cache
that the pipeline fills in bulk before each batch, so a batch of 200 contacts costs one
cross-reference query, not 200.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tandem.config import EntitySpec, Side
from tandem.store import StateStore

CRM_PREFIX = "crm:"


class StoreRefResolver:
    """A :class:`tandem.mapping.RefResolver` backed by the state store's cross-reference."""

    def __init__(
        self,
        store: StateStore,
        *,
        placeholder: str | None = None,
        planned: set[tuple[str, str]] | None = None,
    ) -> None:
        """Resolve through ``store``.

        Args:
            store: the state store holding the cross-reference.
            placeholder: in a dry run, what a reference to a record that the same dry run
                plans to create resolves to.
            planned: ``(entity, canonical reference)`` of the records the dry run plans to
                create so far.
        """
        self._store = store
        self._placeholder = placeholder
        self._planned = planned if planned is not None else set()
        self._cache: dict[tuple[str, Side, str], str | None] = {}
        self._links: dict[tuple[str, Side, str], str] = {}
        """In a dry run: the links it found (by match key or external ID) and would have
        committed, each way; the store does not hold them."""

    def plan_link(self, entity: str, erp_key: str, crm_key: str) -> None:
        """In a dry run: resolve through a link the run found and a sync would commit, so
        the records referring to it are planned as the sync would write them."""
        self._links[(entity, "erp", erp_key)] = crm_key
        self._links[(entity, "crm", crm_key)] = erp_key

    def prefetch(self, entity: str, side: Side, keys: Iterable[str]) -> None:
        """Load the partners of ``keys`` (native keys in ``side``) in one query."""
        wanted = [k for k in {str(k) for k in keys if k} if (entity, side, k) not in self._cache]
        if not wanted:
            return
        found = self._store.partners(entity, side, wanted)
        for key in wanted:
            self._cache[(entity, side, key)] = found.get(key)

    def prefetch_rows(
        self, spec: EntitySpec, side: Side, rows: Iterable[Mapping[str, Any]]
    ) -> None:
        """Load the partners of every reference that native ``rows`` of ``spec`` hold."""
        records: list[Mapping[str, Any]] | None = None
        for field in spec.fields:
            native = field.native(side)
            if field.ref is None or native is None:
                continue
            records = list(rows) if records is None else records
            self.prefetch(field.ref, side, (str(r[native]) for r in records if r.get(native)))

    def forget(self) -> None:
        """Drop the cache (links change as batches commit)."""
        self._cache.clear()

    def _partner(self, entity: str, side: Side, key: str) -> str | None:
        slot = (entity, side, key)
        if self._links and slot in self._links:
            return self._links[slot]
        if slot not in self._cache:
            self._cache[slot] = self._store.partner(entity, side, key)
        return self._cache[slot]

    def to_canonical(self, entity: str, side: Side, native_key: str) -> str | None:
        """The canonical reference for a native key read from ``side``."""
        if side == "erp":
            return native_key
        erp_key = self._partner(entity, "crm", native_key)
        return erp_key if erp_key is not None else CRM_PREFIX + native_key

    def to_native(self, entity: str, side: Side, canonical: str) -> str | None:
        """The native key in ``side`` for a canonical reference; None when not linked there."""
        if canonical.startswith(CRM_PREFIX):
            crm_key = canonical[len(CRM_PREFIX) :]
            found = crm_key if side == "crm" else self._partner(entity, "crm", crm_key)
        else:
            found = canonical if side == "erp" else self._partner(entity, "erp", canonical)
        if found is None and (entity, canonical) in self._planned:
            return self._placeholder
        return found


__all__ = ["CRM_PREFIX", "StoreRefResolver"]
