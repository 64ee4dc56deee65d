"""One field of an entity: where its value lives on each side and how it travels."""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tandem.config.issues import Path, raise_issues
from tandem.config.parts import Owner, Side
from tandem.mapping.expressions import Expression


@lru_cache(maxsize=1024)
def _parse(source: str) -> Expression:
    return Expression(source)


class FieldSpec(BaseModel):
    """How one canonical field maps to a native field (or expression) on each side.

    A side's value comes from its native field (``erp`` / ``crm``) or from an expression over
    the native record (``erp_expr`` / ``crm_expr``); an expression makes the field one-way from
    that side.
    """

    model_config = ConfigDict(extra="forbid")

    field: str = Field(description="Canonical field (dotted for nested: billing_address.city).")
    erp: str | None = Field(None, description="Native ERP field.")
    crm: str | None = Field(None, description="Native CRM field.")
    erp_expr: str | None = Field(None, description="Expression over the ERP record (read only).")
    crm_expr: str | None = Field(None, description="Expression over the CRM record (read only).")
    value_map: str | None = Field(None, description="Name of a value map (ERP -> CRM values).")
    ref: str | None = Field(None, description="Entity whose record this field references.")
    owner: Owner | None = Field(None, description="Master of this field; derived when unset.")
    default: Any = Field(None, description="Canonical value used when the source has none.")
    required: bool = Field(False, description="A record without a value is refused.")

    @field_validator("erp_expr", "crm_expr")
    @classmethod
    def _parse_expression(cls, value: str | None) -> str | None:
        if value is not None:
            _parse(value)  # raises ExpressionError (a ValueError) with the reason
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        issues: list[tuple[Path, str]] = []
        for side in ("erp", "crm"):
            expr = getattr(self, f"{side}_expr")
            if expr is not None and getattr(self, side) is not None:
                issues.append(((f"{side}_expr",), f"give either {side} or {side}_expr, not both"))
        if self.ref is not None and (self.erp_expr or self.crm_expr):
            issues.append((("ref",), "a reference cannot be computed by an expression"))
        if not any((self.erp, self.crm, self.erp_expr, self.crm_expr)) and not self.has_default:
            issues.append(((), "give a native field, an expression or a default on some side"))
        raise_issues(issues)
        return self

    @property
    def has_default(self) -> bool:
        """A non-null default was given."""
        return "default" in self.model_fields_set and self.default is not None

    def native(self, side: Side) -> str | None:
        """The native field name on ``side`` (None when absent or computed)."""
        return self.erp if side == "erp" else self.crm

    def expression(self, side: Side) -> Expression | None:
        """The parsed expression on ``side``, if any."""
        source = self.erp_expr if side == "erp" else self.crm_expr
        return None if source is None else _parse(source)

    def readable(self, side: Side) -> bool:
        """The field has a native name or an expression on ``side``."""
        return self.native(side) is not None or self.expression(side) is not None

    def reads(self, side: Side) -> tuple[str, ...]:
        """Native fields read on ``side`` for this value (the field, or the expression's names)."""
        expr = self.expression(side)
        if expr is not None:
            return expr.names
        name = self.native(side)
        return (name,) if name else ()


__all__ = ["FieldSpec"]
