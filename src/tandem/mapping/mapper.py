"""Field maps: native records <-> canonical records, for one entity of a flow.

Pure functions of the flow spec, the record and a :class:`RefResolver` (the state store's
cross-reference, behind a protocol). Canonical records are flat dicts; nested fields use dotted
keys (``billing_address.city``, ``unit_price.amount``). Value maps translate between ERP values
(the canonical vocabulary) and CRM values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, Protocol

from tandem.connectors.base import EntitySchema
from tandem.errors import MappingError
from tandem.mapping.compare import values_equal
from tandem.mapping.expressions import ExpressionError
from tandem.model import canonical_field, validate_field

if TYPE_CHECKING:
    from tandem.config import EntitySpec, FieldSpec, FlowSpec, ValueMapSpec

Side = Literal["erp", "crm"]


class RefResolver(Protocol):
    """Translates record keys between a system and the canonical ids of the cross-reference."""

    def to_canonical(self, entity: str, side: Side, native_key: str) -> str | None:
        """The canonical id of the ``entity`` record whose key on ``side`` is ``native_key``."""
        ...

    def to_native(self, entity: str, side: Side, canonical: str) -> str | None:
        """The key on ``side`` of the ``entity`` record with canonical id ``canonical``."""
        ...


class Mapper:
    """Maps records of a flow's entities between native and canonical form.

    Args:
        flow: the validated flow spec (its value maps are used).
    """

    def __init__(self, flow: FlowSpec) -> None:
        self._flow = flow
        self._value_maps: Mapping[str, ValueMapSpec] = flow.value_maps
        self._canonical_keys: dict[tuple[str, str], list[tuple[Any, Any]]] = {}

    def _entity(self, entity: EntitySpec | str) -> EntitySpec:
        return self._flow.entity(entity) if isinstance(entity, str) else entity

    def to_canonical(
        self,
        entity: EntitySpec | str,
        side: Side,
        native: Mapping[str, Any],
        record_key: str,
        refs: RefResolver,
    ) -> dict[str, Any]:
        """Read a native record of ``side`` into a validated canonical record.

        A field whose native name is absent from ``native`` is left out (a partial read), unless
        it has a default; a ``None`` value takes the default when there is one.

        Raises:
            MappingError: a value fails its expression, value map, reference or validation;
                it names ``record_key``, the field and the value.
        """
        spec = self._entity(entity)
        result: dict[str, Any] = {}
        for field in spec.fields:
            present, value = self._read(field, side, native, record_key)
            if (not present or value is None) and field.has_default:
                present, value = True, field.default
            elif present and value is not None:
                value = self._inbound(spec, field, side, value, record_key, refs)
            if not present:
                continue
            result[field.field] = self._validate(spec, field, value, record_key)
        self._check_money(spec, side, result, record_key)
        return result

    def to_native(
        self,
        entity: EntitySpec | str,
        side: Side,
        canonical: Mapping[str, Any],
        fields: Iterable[str],
        record_key: str,
        refs: RefResolver,
    ) -> dict[str, Any]:
        """Write canonical fields as native values of ``side``.

        Only fields with a native name on ``side`` are written (expressions are read-only).
        A money amount brings its currency along. References become the target's native keys.

        Raises:
            MappingError: an unlinked reference, an unmapped value, or two canonical fields
                writing different values to the same native field.
            KeyError: a field the entity does not map.
        """
        spec = self._entity(entity)
        wanted = list(dict.fromkeys(fields))
        for name in list(wanted):
            companion = _currency_companion(spec, name)
            if companion is not None and companion not in wanted:
                wanted.append(companion)
        out: dict[str, Any] = {}
        for name in wanted:
            field = spec.field(name)
            native_name = field.native(side)
            if native_name is None or name not in canonical:
                continue
            value = canonical[name]
            if value is not None:
                value = self._outbound(spec, field, side, value, record_key, refs)
            if native_name in out and not values_equal(out[native_name], value):
                raise MappingError(
                    f"{side} field {native_name} would get two different values"
                    f" ({out[native_name]!r} and {value!r})",
                    record=record_key,
                    field=name,
                    value=value,
                )
            out[native_name] = value
        return out

    def check_binding(
        self, entity: EntitySpec | str, side: Side, schema: EntitySchema, writes: bool
    ) -> list[str]:
        """:func:`tandem.mapping.check_binding` with this flow's value maps."""
        from tandem.mapping.schema import check_binding

        return check_binding(self._entity(entity), side, schema, writes, self._value_maps)

    def _read(
        self, field: FieldSpec, side: Side, native: Mapping[str, Any], record_key: str
    ) -> tuple[bool, Any]:
        expr = field.expression(side)
        if expr is not None:
            if expr.names and not any(n in native for n in expr.names):
                return False, None  # a partial read without the expression's inputs
            try:
                return True, expr.evaluate(native)
            except ExpressionError as exc:
                inputs = {n: native.get(n) for n in expr.names}
                raise MappingError(
                    f"{side}_expr failed: {exc}", record=record_key, field=field.field, value=inputs
                ) from None
        name = field.native(side)
        if name is None or name not in native:
            return False, None
        return True, native[name]

    def _inbound(
        self,
        entity: EntitySpec,
        field: FieldSpec,
        side: Side,
        value: Any,
        record_key: str,
        refs: RefResolver,
    ) -> Any:
        if field.value_map is not None and side == "crm":
            value = self._translate(field, value, "erp", record_key)
        if field.ref is not None:
            canonical = refs.to_canonical(field.ref, side, str(value))
            if canonical is None:
                raise MappingError(
                    f"{field.ref} {value} of {side} is not yet linked",
                    record=record_key,
                    field=field.field,
                    value=value,
                )
            value = canonical
        return value

    def _outbound(
        self,
        entity: EntitySpec,
        field: FieldSpec,
        side: Side,
        value: Any,
        record_key: str,
        refs: RefResolver,
    ) -> Any:
        if field.ref is not None:
            native_key = refs.to_native(field.ref, side, str(value))
            if native_key is None:
                raise MappingError(
                    f"{field.ref} {value} is not yet linked in {side}",
                    record=record_key,
                    field=field.field,
                    value=value,
                )
            value = native_key
        if field.value_map is not None:
            found, erp_value = self._erp_value(entity, field, value)
            if side == "erp":
                return erp_value if found else value
            value = self._translate(field, erp_value if found else value, "crm", record_key)
        return value

    def _erp_value(self, entity: EntitySpec, field: FieldSpec, value: Any) -> tuple[bool, Any]:
        """The ERP-vocabulary key of a value map whose canonical form is ``value``.

        Canonical values are ERP values after validation (``"N"`` may become ``False``), so the
        way back looks the key up by its canonical form.
        """
        cache_key = (entity.name, field.field)
        pairs = self._canonical_keys.get(cache_key)
        if pairs is None:
            pairs = []
            for erp_value in self._value_maps[field.value_map or ""].pairs:
                try:
                    canonical = validate_field(entity.model, field.field, erp_value)
                except ValueError:
                    canonical = erp_value
                pairs.append((canonical, erp_value))
            self._canonical_keys[cache_key] = pairs
        for _, erp_value in pairs:
            if erp_value == value and type(erp_value) is type(value):
                return True, erp_value
        for canonical, erp_value in pairs:
            if values_equal(canonical, value):
                return True, erp_value
        return False, None

    def _translate(self, field: FieldSpec, value: Any, to: Side, record_key: str) -> Any:
        name = field.value_map or ""
        found, result = self._value_maps[name].lookup(value, to)
        if not found:
            source = "crm" if to == "erp" else "erp"
            raise MappingError(
                f"{source} value is not in value map {name} ({source} -> {to}) and the map"
                " has no default for it",
                record=record_key,
                field=field.field,
                value=value,
            )
        return result

    def _validate(self, entity: EntitySpec, field: FieldSpec, value: Any, record_key: str) -> Any:
        if value is None:
            if field.required or canonical_field(entity.model, field.field).required:
                raise MappingError(
                    "a value is required", record=record_key, field=field.field, value=None
                )
            return None
        try:
            return validate_field(entity.model, field.field, value)
        except ValueError as exc:
            raise MappingError(
                str(exc), record=record_key, field=field.field, value=value
            ) from None

    def _check_money(
        self, entity: EntitySpec, side: Side, record: Mapping[str, Any], record_key: str
    ) -> None:
        for name, value in record.items():
            companion = _currency_companion(entity, name)
            if companion is None or value is None or record.get(companion) is not None:
                continue
            currency = entity.field(companion)
            if currency.readable(side) or currency.has_default:
                raise MappingError(
                    f"an amount needs its currency, but {companion} has no value",
                    record=record_key,
                    field=name,
                    value=value,
                )


def _currency_companion(entity: EntitySpec, name: str) -> str | None:
    """``x.currency`` for a Money amount ``x.amount`` the entity maps; else None."""
    if not name.endswith(".amount"):
        return None
    parent = name.removesuffix(".amount")
    try:
        if canonical_field(entity.model, parent).kind != "money":
            return None
    except ValueError:
        return None
    companion = f"{parent}.currency"
    return companion if any(f.field == companion for f in entity.fields) else None


__all__ = ["Mapper", "RefResolver", "Side"]
