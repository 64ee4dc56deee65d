"""The registry of canonical models and one-field validation.

Canonical records travel through the pipeline as flat dicts: a nested field is named by a
dotted path (``billing_address.city``, ``unit_price.amount``). :func:`validate_field` checks one
such value through the field's own type, so a bad value is reported field by field.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError

from tandem.model.contact import Contact
from tandem.model.customer import Address, Customer
from tandem.model.documents import Invoice, InvoiceLine, Order, OrderLine, Quote, QuoteLine
from tandem.model.fulfilment import Fulfilment
from tandem.model.opportunity import Forecast, Opportunity, OpportunityLine
from tandem.model.payment import Payment
from tandem.model.pricing import PriceList, PriceListEntry
from tandem.model.product import Product, ProductCategory
from tandem.model.representative import Representative
from tandem.model.shortcuts import str_first
from tandem.model.types import Money

MODELS: Mapping[str, type[BaseModel]] = types.MappingProxyType(
    {
        "customer": Customer,
        "address": Address,
        "contact": Contact,
        "representative": Representative,
        "product_category": ProductCategory,
        "product": Product,
        "price_list": PriceList,
        "price_list_entry": PriceListEntry,
        "quote": Quote,
        "quote_line": QuoteLine,
        "order": Order,
        "order_line": OrderLine,
        "invoice": Invoice,
        "invoice_line": InvoiceLine,
        "payment": Payment,
        "fulfilment": Fulfilment,
        "opportunity": Opportunity,
        "opportunity_line": OpportunityLine,
        "forecast": Forecast,
    }
)
"""Canonical type name -> pydantic model."""

FieldKind = Literal["str", "bool", "int", "decimal", "date", "datetime", "money", "model", "any"]


@dataclass(frozen=True, slots=True)
class CanonicalField:
    """What the model says about one (possibly dotted) field.

    Attributes:
        model: the canonical type name.
        path: the dotted field path.
        annotation: the field's type, constraints included.
        kind: a coarse kind used for schema checks against native field types.
        required: the record cannot exist without it (it and every parent are required).
        choices: the allowed values when the type is a ``Literal``.
        custom: an untyped ``x_`` field.
    """

    model: str
    path: str
    annotation: Any
    kind: FieldKind
    required: bool = False
    choices: tuple[Any, ...] | None = None
    custom: bool = False


def _model_class(model: str) -> type[BaseModel]:
    try:
        return MODELS[model]
    except KeyError:
        raise ValueError(
            f"unknown canonical model {model!r} (known: {', '.join(sorted(MODELS))})"
        ) from None


def _strip_optional(annotation: Any) -> Any:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _strip_optional(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _strip_optional(args[0])
    return annotation


def _kind(annotation: Any) -> tuple[FieldKind, tuple[Any, ...] | None]:
    from datetime import date, datetime

    bare = _strip_optional(annotation)
    if get_origin(bare) is Literal:
        return "str", get_args(bare)
    if isinstance(bare, type):
        if issubclass(bare, Money):
            return "money", None
        if issubclass(bare, BaseModel):
            return "model", None
        table: tuple[tuple[type, FieldKind], ...] = (
            (bool, "bool"),
            (int, "int"),
            (Decimal, "decimal"),
            (float, "decimal"),
            (datetime, "datetime"),
            (date, "date"),
            (str, "str"),
        )
        for cls, kind in table:
            if issubclass(bare, cls):
                return kind, None
    return "any", None


@cache
def canonical_field(model: str, path: str) -> CanonicalField:
    """Describe a canonical field, following dotted paths into nested models.

    Args:
        model: a key of :data:`MODELS`.
        path: a field name or dotted path; names starting with ``x_`` are untyped custom fields.

    Returns:
        The field's description.

    Raises:
        ValueError: the model or the field does not exist.
    """
    cls = _model_class(model)
    parts = path.split(".")
    chain_required = True
    for depth, part in enumerate(parts):
        if part.startswith("x_") and depth == len(parts) - 1:
            return CanonicalField(model, path, Any, "any", custom=True)
        info = cls.model_fields.get(part)
        if info is None:
            where = ".".join(parts[:depth]) or model
            raise ValueError(f"{where} has no field {part!r} (custom fields must start with 'x_')")
        annotation = (
            Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        )
        chain_required = chain_required and info.is_required()
        if depth == len(parts) - 1:
            kind, choices = _kind(info.annotation)
            return CanonicalField(model, path, annotation, kind, chain_required, choices)
        inner = _strip_optional(info.annotation)
        if not (isinstance(inner, type) and issubclass(inner, BaseModel)):
            raise ValueError(f"{'.'.join(parts[: depth + 1])} of {model} has no sub-fields")
        cls = inner
    raise ValueError(f"empty field path for {model}")


@cache
def _adapter(model: str, path: str) -> TypeAdapter[Any]:
    return TypeAdapter(canonical_field(model, path).annotation)


def validate_field(model: str, field: str, value: Any) -> Any:
    """Validate and coerce one value through the type of one canonical field.

    Args:
        model: a key of :data:`MODELS`.
        field: the field name or dotted path (``billing_address.country``).
        value: the value to check; ``None`` is checked like any other value.

    Returns:
        The coerced value (e.g. a NIP without separators, a currency upper-cased).

    Raises:
        ValueError: unknown model or field, or a value the field refuses; the message says why.
    """
    return validator_for(model, field)(value)


@cache
def validator_for(model: str, field: str) -> Callable[[Any], Any]:
    """:func:`validate_field` of one field, resolved once for callers validating many values.

    ``validator_for(model, field)(value)`` returns and raises exactly what
    ``validate_field(model, field, value)`` does. A custom field is not checked; a ``str`` takes
    the field's :mod:`~tandem.model.shortcuts` when it has one; the rest goes through the
    field's pydantic type.

    Raises:
        ValueError: unknown model or field.
    """
    spec = canonical_field(model, field)
    if spec.custom:
        return _unchecked
    validate = _adapter(model, field).validate_python

    def through_type(value: Any) -> Any:
        try:
            return validate(value)
        except ValidationError as exc:
            raise ValueError(_reasons(exc)) from None

    return str_first(spec.annotation, through_type) or through_type


def _unchecked(value: Any) -> Any:
    return value


def _reasons(exc: ValidationError) -> str:
    return "; ".join(_reason(err) for err in exc.errors(include_url=False))


def _reason(err: Mapping[str, Any]) -> str:
    message = str(err.get("msg", "invalid value"))
    message = message.removeprefix("Value error, ")
    loc = ".".join(str(p) for p in err.get("loc", ()) if not str(p).startswith("function-"))
    return f"{loc}: {message}" if loc and not loc[0].isupper() else message


def build_record(model: str, values: Mapping[str, Any]) -> BaseModel:
    """Build a whole canonical record from a flat dict with dotted keys (record-level checks).

    Raises:
        ValueError: the record as a whole is invalid (missing required field, mixed currencies).
    """
    cls = _model_class(model)
    nested: dict[str, Any] = {}
    for key, value in values.items():
        target = nested
        *heads, last = key.split(".")
        for head in heads:
            target = target.setdefault(head, {})
        target[last] = value
    try:
        return cls.model_validate(nested)
    except ValidationError as exc:
        reasons = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
            if e["loc"]
            else e["msg"].removeprefix("Value error, ")
            for e in exc.errors(include_url=False)
        )
        raise ValueError(reasons) from None


__all__ = [
    "MODELS",
    "CanonicalField",
    "FieldKind",
    "build_record",
    "canonical_field",
    "validate_field",
    "validator_for",
]
