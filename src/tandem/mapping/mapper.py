"""Field maps: native records <-> canonical records, for one entity of a flow.

Pure functions of the flow spec, the record and a :class:`RefResolver` (the state store's
cross-reference, behind a protocol). Canonical records are flat dicts; nested fields use dotted
keys (``billing_address.city``, ``unit_price.amount``). Value maps translate between ERP values
(the canonical vocabulary) and CRM values.

Once told a system's description of an entity's object (:meth:`Mapper.use_schema`, which the
binding checks do), the mapper keeps numbers to the decimal places the native fields hold
(:mod:`~tandem.mapping.scale`): a value written is rounded half up to the target field's scale,
as the system would round it, and a value read is rounded to the fewest places either system
holds the field with, so both systems' values of a field compare at a scale both can hold.
Datetimes alike, in fractional-second digits (a MariaDB ``DATETIME`` keeps none): cut, not
rounded, to the target's digits when written and to the fewest either keeps when read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, Protocol

from tandem.connectors.base import EntitySchema, UnreadableFields
from tandem.errors import MappingError, UnlinkedReference
from tandem.mapping.compare import values_equal
from tandem.mapping.expressions import Expression, ExpressionError
from tandem.mapping.fieldplan import ReadPlan, ReadStep, WritePlan, WriteStep, read_plan, write_plan
from tandem.mapping.scale import common_scales, field_scales, fit_scale, lookup
from tandem.model import canonical_field, validate_field

if TYPE_CHECKING:
    from tandem.config import EntitySpec, FieldSpec, FlowSpec, ValueMapSpec
    from tandem.mapping.schema import BindingProblem

Side = Literal["erp", "crm"]

_SIDES: tuple[Side, Side] = ("erp", "crm")


_ABSENT: Any = object()
"""What ``native.get`` gives for a field the record lacks (never a value of its own)."""


class RefResolver(Protocol):
    """Translates record keys between a system and the canonical ids of the cross-reference."""

    def to_canonical(self, entity: str, side: Side, native_key: str) -> str | None:
        """The canonical id of the ``entity`` record whose key on ``side`` is ``native_key``."""
        ...

    def to_native(self, entity: str, side: Side, canonical: str) -> str | None:
        """The key on ``side`` of the ``entity`` record with canonical id ``canonical``."""
        ...


class ValuesWithFlag(dict[str, Any]):
    """A canonical record read with the native value of its delete-policy flag field.

    The flag field the entity's ``flag``/``archive`` policy sets on a side is read with every
    record of that side, but it is a canonical value only when the flow maps it. The planner
    needs it either way: the survivor of a delete stays deleted in the other system while it
    holds the flag, and comes back once the flag is cleared. Otherwise a plain ``dict``.

    Attributes:
        flag: the flag field's native value, as read.
    """

    __slots__ = ("flag",)

    def __init__(self, flag: Any) -> None:
        super().__init__()
        self.flag = flag


class Mapper:
    """Maps records of a flow's entities between native and canonical form.

    Each entity's fields are resolved once per side into a :mod:`~tandem.mapping.fieldplan`
    plan on first use; an entity spec is not changed once the mapper has used it. A schema
    given to :meth:`use_schema` (or checked by :meth:`binding_problems`) sets the decimal
    places the entity's numbers are kept to from then on.

    Args:
        flow: the validated flow spec (its value maps are used).
    """

    def __init__(self, flow: FlowSpec) -> None:
        self._flow = flow
        self._value_maps: Mapping[str, ValueMapSpec] = flow.value_maps
        self._erp_keys: dict[tuple[str, str], _ErpKeys] = {}
        self._translators: dict[tuple[str, Side], Callable[[Any], tuple[bool, Any]]] = {}
        self._read_plans: dict[tuple[str, Side], tuple[EntitySpec, ReadPlan]] = {}
        self._write_plans: dict[
            tuple[str, Side], tuple[EntitySpec, WritePlan, dict[str, _Outbound]]
        ] = {}
        self._scales: dict[str, dict[Side, dict[str, int]]] = {}
        """Entity -> side -> canonical field -> the scale of its native field there."""
        self._schemas: dict[tuple[str, Side], EntitySchema] = {}

    def _entity(self, entity: EntitySpec | str) -> EntitySpec:
        return self._flow.entity(entity) if isinstance(entity, str) else entity

    def _read_plan(self, spec: EntitySpec, side: Side) -> ReadPlan:
        cached = self._read_plans.get((spec.name, side))
        if cached is not None and cached[0] is spec:
            return cached[1]
        plan = read_plan(spec, side, common_scales(self._scales.get(spec.name, {})))
        self._read_plans[(spec.name, side)] = (spec, plan)
        return plan

    def _write_plan(self, spec: EntitySpec, side: Side) -> tuple[WritePlan, dict[str, _Outbound]]:
        """The write plan of ``spec`` on ``side``, and its fields' outbound conversions so far."""
        cached = self._write_plans.get((spec.name, side))
        if cached is not None and cached[0] is spec:
            return cached[1], cached[2]
        plan = write_plan(spec, side, self._scales.get(spec.name, {}).get(side))
        outbound: dict[str, _Outbound] = {}
        self._write_plans[(spec.name, side)] = (spec, plan, outbound)
        return plan, outbound

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
        it has a default; a ``None`` value takes the default when there is one. When ``native``
        holds the field the entity's delete policy flags on ``side``, the record is a
        :class:`ValuesWithFlag` carrying its value.

        Raises:
            MappingError: a value fails its expression, value map, reference or validation,
                or the connector could not read one (:class:`UnreadableFields`); it names
                ``record_key``, the field and the value.
        """
        if type(native) is UnreadableFields:  # a value the connector could not read
            raise native.error(record_key)
        spec = self._entity(entity)
        plan = self._read_plan(spec, side)
        get = native.get
        flag = _ABSENT if plan.flag is None else get(plan.flag, _ABSENT)
        result: dict[str, Any] = {} if flag is _ABSENT else ValuesWithFlag(flag)
        for step, name, plain_native, validate in plan.reads:
            if plain_native is not None:
                value = get(plain_native, _ABSENT)
                if value is _ABSENT:
                    continue  # a partial read
            else:
                present, value = self._read(step, side, native, record_key, refs)
                if not present:
                    continue
            # a blank text is no value (:func:`_blank`, written out: this runs for every field)
            if value is None or (type(value) is str and (not value or value.isspace())):
                _check_required(spec, step, record_key)
                result[name] = None
                continue
            try:
                result[name] = validate(value)
            except ValueError as exc:
                raise MappingError(str(exc), record=record_key, field=name, value=value) from None
        if plan.money:
            _check_money(plan, result, record_key)
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
        plan, outbound = self._write_plan(spec, side)
        return self._write(spec, side, plan, outbound, canonical, fields, record_key, refs)

    def native_writer(self, entity: EntitySpec | str, side: Side) -> NativeWriter:
        """:meth:`to_native` of one entity and side, its plan looked up once.

        ``writer(canonical, fields, record_key, refs)`` returns and raises what
        ``to_native(entity, side, canonical, fields, record_key, refs)`` does; for a caller
        writing many records of one entity (a batch). The entity spec must not change while
        the writer is in use.
        """
        spec = self._entity(entity)
        plan, outbound = self._write_plan(spec, side)
        return partial(self._write, spec, side, plan, outbound)

    def _write(
        self,
        spec: EntitySpec,
        side: Side,
        plan: WritePlan,
        outbound: dict[str, _Outbound],
        canonical: Mapping[str, Any],
        fields: Iterable[str],
        record_key: str,
        refs: RefResolver,
    ) -> dict[str, Any]:
        """:meth:`to_native` with the entity's write plan and conversions found."""
        # the keys of a dict are distinct already: with no companion to add, iterate it as it is
        wanted = fields if type(fields) is dict and not plan.companions else dict.fromkeys(fields)
        if plan.companions:
            for name in list(wanted):
                companion = plan.companions.get(name)
                if companion is not None and companion not in wanted:
                    wanted[companion] = None
        out: dict[str, Any] = {}
        writes = plan.writes
        shared = plan.shared
        get = canonical.get
        for name in wanted:
            try:
                native_name, plain = writes[name]
            except KeyError:
                spec.field(name)  # raises the KeyError naming the entity and the field
                raise
            if native_name is None:
                continue
            value = get(name, _ABSENT)
            if value is _ABSENT:
                continue
            if value is not None and not plain:
                convert = outbound.get(name)
                if convert is None:
                    convert = outbound[name] = self._outbound(spec, plan.steps[name], side)
                value = convert(value, record_key, refs)
            if shared and native_name in out and not values_equal(out[native_name], value):
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
        """:func:`tandem.mapping.check_binding` with this flow's value maps.

        The schema checked is the one the entity is mapped by from now on (:meth:`use_schema`).
        """
        from tandem.mapping.schema import check_binding

        spec = self._entity(entity)
        self.use_schema(spec, side, schema)
        return check_binding(spec, side, schema, writes, self._value_maps)

    def binding_problems(
        self, entity: EntitySpec | str, side: Side, schema: EntitySchema, writes: bool
    ) -> list[BindingProblem]:
        """:func:`tandem.mapping.binding_problems` with this flow's value maps.

        The schema checked is the one the entity is mapped by from now on (:meth:`use_schema`).
        """
        from tandem.mapping.schema import binding_problems

        spec = self._entity(entity)
        self.use_schema(spec, side, schema)
        return binding_problems(spec, side, schema, writes, self._value_maps)

    def use_schema(self, entity: EntitySpec | str, side: Side, schema: EntitySchema) -> None:
        """Map ``entity`` on ``side`` by the system's description of its object from now on.

        Numbers of a field whose native field has a scale (Salesforce currency, number and
        percent fields; SQL ``NUMERIC(p, s)`` columns where the connector describes it), and
        datetimes of a field that keeps fewer fractional-second digits than microseconds, are
        kept to it: written rounded half up to the target field's scale, read rounded to the
        fewest places either side holds the field with. Once both sides are described,
        :meth:`binding_warnings` names each field whose two native fields hold different
        decimal places.
        """
        spec = self._entity(entity)
        scales = field_scales(spec, side, schema)
        known = self._scales.setdefault(spec.name, {})
        if known.get(side) != scales:
            known[side] = scales
            for each in _SIDES:  # reads round to the fewest places of either side
                self._read_plans.pop((spec.name, each), None)
                self._write_plans.pop((spec.name, each), None)
        if self._schemas.get((spec.name, side)) != schema:
            self._write_plans.pop((spec.name, side), None)  # its conversions follow the types
        self._schemas[(spec.name, side)] = schema

    def scaled(self, entity: EntitySpec | str) -> bool:
        """Whether any field of ``entity`` is kept to a number of decimal places."""
        spec = self._entity(entity)
        return bool(common_scales(self._scales.get(spec.name, {})))

    def fit_scales(self, entity: EntitySpec | str, values: Mapping[str, Any]) -> Mapping[str, Any]:
        """Canonical ``values`` with each number kept to its field's places, as a read keeps it.

        For values Tandem did not just read: an agreed state recorded before the fields'
        scales were known holds ``12.345`` where a read now gives ``12.35``. ``values`` itself
        when every number fits.
        """
        spec = self._entity(entity)
        scales = common_scales(self._scales.get(spec.name, {}))
        fitted: dict[str, Any] = {}
        for name, scale in scales.items():
            value = values.get(name)
            if value is not None:
                fit = fit_scale(value, scale)
                if fit is not value:
                    fitted[name] = fit
        return {**values, **fitted} if fitted else values

    def binding_warnings(self, entity: EntitySpec | str) -> list[BindingProblem]:
        """:func:`tandem.mapping.scale_warnings` of the schemas :meth:`use_schema` was given.

        Empty until both sides of the entity are described.
        """
        from tandem.mapping.schema import scale_warnings

        spec = self._entity(entity)
        erp = self._schemas.get((spec.name, "erp"))
        crm = self._schemas.get((spec.name, "crm"))
        if erp is None or crm is None:
            return []
        return scale_warnings(spec, erp, crm)

    def _read(
        self,
        step: ReadStep,
        side: Side,
        native: Mapping[str, Any],
        record_key: str,
        refs: RefResolver,
    ) -> tuple[bool, Any]:
        """Whether the field has a value on ``side``, and the value before validation."""
        if step.expr is not None:
            present, value = _evaluate(step.expr, step.name, side, native, record_key)
        elif step.native is not None and step.native in native:
            present, value = True, native[step.native]
        else:
            present, value = False, None
        if isinstance(value, str) and _blank(value):
            value = None  # no value, as a system that stores an empty text as null says
        if (not present or value is None) and step.default is not None:
            return True, step.default
        if present and value is not None and (step.translate or step.ref is not None):
            value = self._inbound(step, side, value, record_key, refs)
        return present, value

    def _inbound(
        self, step: ReadStep, side: Side, value: Any, record_key: str, refs: RefResolver
    ) -> Any:
        if step.translate:
            value = self._translate(step.field, value, "erp", record_key)
        if step.ref is not None:
            canonical = refs.to_canonical(step.ref, side, str(value))
            if canonical is None:
                raise MappingError(
                    f"{step.ref} {value} of {side} is not yet linked",
                    record=record_key,
                    field=step.name,
                    value=value,
                )
            value = canonical
        return value

    def _outbound(self, entity: EntitySpec, step: WriteStep, side: Side) -> _Outbound:
        """How a value of ``step`` is written on ``side``: its reference, then its value map.

        A number of a field with a scale (never a reference nor value-mapped) is rounded to it.
        """
        scale = step.scale
        if scale is not None:

            def rounded(value: Any, record_key: str, refs: RefResolver) -> Any:
                return fit_scale(value, scale)

            return rounded
        ref = step.ref
        field = step.field
        value_map = step.value_map
        # a key is text in the cross-reference; an integer column takes it as a number
        numeric_key = ref is not None and value_map is None and self._integer(entity, side, step)
        erp_keys: list[_ErpKeys] = []  # each found on its first use
        translators: list[Callable[[Any], tuple[bool, Any]]] = []
        # Without a reference the way out is a pure function of the value: the text values a
        # field takes (a few codes) are looked up once each.
        known: dict[str, Any] | None = {} if ref is None and value_map is not None else None

        def convert(value: Any, record_key: str, refs: RefResolver) -> Any:
            if known is not None and type(value) is str:
                found = known.get(value, _ABSENT)
                if found is not _ABSENT:
                    return found
                result = mapped(value, record_key, refs)
                if len(known) < _KNOWN_MAX:
                    known[value] = result
                return result
            return mapped(value, record_key, refs)

        def mapped(value: Any, record_key: str, refs: RefResolver) -> Any:
            if ref is not None:
                native_key = refs.to_native(ref, side, str(value))
                if native_key is None:
                    raise UnlinkedReference(
                        f"{ref} {value} is not yet linked in {side}",
                        record=record_key,
                        field=field.field,
                        value=value,
                        entity=ref,
                        side=side,
                    )
                value = _integer_key(native_key) if numeric_key else native_key
            if value_map is None:
                return value
            if not erp_keys:
                erp_keys.append(self._erp_keys_of(entity, field))
            found, erp_value = erp_keys[0].find(value)
            if side == "erp":
                return erp_value if found else value
            value = erp_value if found else value
            if not translators:
                translators.append(self._translator(field, "crm"))
            known, result = translators[0](value)
            if not known:
                self._translate(field, value, "crm", record_key)  # raises saying why
            return result

        return convert

    def _integer(self, entity: EntitySpec, side: Side, step: WriteStep) -> bool:
        """Whether the native field ``step`` writes on ``side`` is described as an integer."""
        schema = self._schemas.get((entity.name, side))
        info = None if schema is None or step.native is None else lookup(schema, step.native)
        return info is not None and info.type == "integer"

    def _erp_keys_of(self, entity: EntitySpec, field: FieldSpec) -> _ErpKeys:
        """The ERP-vocabulary keys of a field's value map, to find a canonical value's key.

        Canonical values are ERP values after validation (``"N"`` may become ``False``), so the
        way back looks the key up by its canonical form.
        """
        cache_key = (entity.name, field.field)
        keys = self._erp_keys.get(cache_key)
        if keys is None:
            keys = _ErpKeys(entity, field, self._value_maps[field.value_map or ""])
            self._erp_keys[cache_key] = keys
        return keys

    def _translator(self, field: FieldSpec, to: Side) -> Callable[[Any], tuple[bool, Any]]:
        """The translator of a field's value map into ``to``'s vocabulary, made once."""
        name = field.value_map or ""
        translate = self._translators.get((name, to))
        if translate is None:
            translate = self._value_maps[name].translator(to)
            self._translators[(name, to)] = translate
        return translate

    def _translate(self, field: FieldSpec, value: Any, to: Side, record_key: str) -> Any:
        name = field.value_map or ""
        found, result = self._translator(field, to)(value)
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


def _integer_key(key: str) -> Any:
    """A record key as the integer it spells (``"42"`` -> 42); any other text as it is, for
    the target's checks to refuse by name."""
    digits = key[1:] if key[:1] in "+-" else key
    return int(key) if digits.isascii() and digits.isdigit() else key


_KNOWN_MAX = 1024
"""How many text values of one value-mapped field :meth:`Mapper._outbound` remembers."""

_Outbound = Callable[[Any, str, RefResolver], Any]
"""A canonical value (not None) as written on one side: ``(value, record_key, refs)``."""

NativeWriter = Callable[[Mapping[str, Any], Iterable[str], str, RefResolver], dict[str, Any]]
"""What :meth:`Mapper.native_writer` gives: ``(canonical, fields, record_key, refs)``."""


class _ErpKeys:
    """The ERP-vocabulary keys of one field's value map, each with its canonical form."""

    def __init__(self, entity: EntitySpec, field: FieldSpec, value_map: ValueMapSpec) -> None:
        self.pairs: list[tuple[Any, Any]] = []
        for erp_value in value_map.pairs:
            try:
                canonical = validate_field(entity.model, field.field, erp_value)
            except ValueError:
                canonical = erp_value
            self.pairs.append((canonical, erp_value))
        self.texts = frozenset(k for k in value_map.pairs if type(k) is str)

    def find(self, value: Any) -> tuple[bool, Any]:
        """``(True, key)``: the key equal to ``value`` (same type), else to its canonical form."""
        if type(value) is str and value in self.texts:
            return True, value
        for _, erp_value in self.pairs:
            if erp_value == value and type(erp_value) is type(value):
                return True, erp_value
        for canonical, erp_value in self.pairs:
            if values_equal(canonical, value):
                return True, erp_value
        return False, None


def _evaluate(
    expr: Expression, field: str, side: Side, native: Mapping[str, Any], record_key: str
) -> tuple[bool, Any]:
    if expr.names and not any(n in native for n in expr.names):
        return False, None  # a partial read without the expression's inputs
    try:
        return True, expr.evaluate(native)
    except ExpressionError as exc:
        inputs = {n: native.get(n) for n in expr.names}
        raise MappingError(
            f"{side}_expr failed: {exc}", record=record_key, field=field, value=inputs
        ) from None


def _blank(text: str) -> bool:
    """Whether a native text holds no value: empty or only whitespace.

    An ERP column often holds ``''`` where a value was cleared (``NOT NULL DEFAULT ''``),
    while Salesforce stores an empty text as null. Read as a value, the ERP's ``''`` was
    refused by every typed text field (a customer whose city was cleared was dead-lettered),
    and in an untyped or free-text field it never equalled the CRM's null, so each echo of
    the write looked like an edit and was written back, every pass. Read as no value, both
    systems' empty fields agree.
    """
    return not text or text.isspace()


def _check_required(entity: EntitySpec, step: ReadStep, record_key: str) -> None:
    required = step.required
    if required is None:  # a field the model does not know: the lookup raises why
        required = canonical_field(entity.model, step.name).required
    if required:
        raise MappingError("a value is required", record=record_key, field=step.name, value=None)


def _check_money(plan: ReadPlan, record: Mapping[str, Any], record_key: str) -> None:
    for check in plan.money:
        value = record.get(check.amount)
        if value is None or record.get(check.currency) is not None:
            continue
        if check.needed:
            raise MappingError(
                f"an amount needs its currency, but {check.currency} has no value",
                record=record_key,
                field=check.amount,
                value=value,
            )


__all__ = ["Mapper", "NativeWriter", "RefResolver", "Side", "ValuesWithFlag"]
