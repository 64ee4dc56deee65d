"""Small building blocks of a flow spec: schedules, delete policy, value maps, defaults."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, model_validator

from tandem.config.issues import Path, raise_issues

Side = Literal["erp", "crm"]
"""One of the two systems a flow keeps consistent."""
Owner = Literal["erp", "crm", "both"]
"""Which system is master of a field: its value flows from there (``both``: either side)."""
Direction = Literal["erp_to_crm", "crm_to_erp", "both"]
ConflictPolicy = Literal["owner_wins", "newest_wins", "manual"]
DeletePolicy = Literal["delete", "archive", "flag", "ignore"]
Scalar = StrictBool | StrictInt | float | str
"""A value-map value: what a picklist, code or flag holds."""

SIDES: tuple[Side, Side] = ("erp", "crm")


def other(side: Side) -> Side:
    """The other system."""
    return "crm" if side == "erp" else "erp"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IntervalSchedule(_Strict):
    """Run one pass every ``seconds``."""

    mode: Literal["interval"]
    seconds: float = Field(60.0, gt=0, description="Seconds between the starts of two passes.")


class ContinuousSchedule(_Strict):
    """Run passes back to back, waking on change signals or polling every ``poll_seconds``."""

    mode: Literal["continuous"]
    poll_seconds: float = Field(1.0, gt=0, description="Poll interval when no signal arrives.")


Schedule = Annotated[IntervalSchedule | ContinuousSchedule, Field(discriminator="mode")]


class DeleteSpec(_Strict):
    """What to do on the other side when a record is deleted.

    ``delete`` deletes; ``archive`` deletes in the CRM (recycle bin) and sets the flag in the ERP;
    ``flag`` sets ``erp_field`` / ``crm_field`` to ``value``; ``ignore`` does nothing.
    """

    policy: DeletePolicy = "ignore"
    erp_field: str | None = Field(None, description="ERP field set to `value` (flag, archive).")
    crm_field: str | None = Field(None, description="CRM field set to `value` (flag).")
    value: Any = Field(False, description="The value that marks a record deleted.")
    cleared: Any = Field(
        None,
        description="The value that marks a record not deleted (flag, archive): written to a "
        "flagged survivor when its partner comes back (undeleted in the CRM, or created again "
        "with the same key, then edited). Unset: the flag is left for a person to clear.",
    )
    erp_value: Any = Field(
        None,
        description="`value` as the ERP's flag field holds it, where it differs from the CRM's"
        " (0 in an INTEGER column for a checkbox's false). Unset: `value`.",
    )
    crm_value: Any = Field(None, description="`value` as the CRM's flag field holds it.")
    erp_cleared: Any = Field(None, description="`cleared` as the ERP's flag field holds it.")
    crm_cleared: Any = Field(None, description="`cleared` as the CRM's flag field holds it.")

    def flag_field(self, side: Side) -> str | None:
        """The field flagged on ``side`` when a delete arrives there (None: no flag)."""
        if self.policy == "flag" or (self.policy == "archive" and side == "erp"):
            return self.erp_field if side == "erp" else self.crm_field
        return None

    def value_on(self, side: Side) -> Any:
        """The value that marks a record deleted, as ``side``'s flag field holds it (a side's
        own value when given: null is no value of its own)."""
        own = getattr(self, f"{side}_value")
        return self.value if own is None else own

    def cleared_on(self, side: Side) -> tuple[bool, Any]:
        """Whether a ``cleared`` value is set for ``side``, and that value as its flag field
        holds it."""
        own = getattr(self, f"{side}_cleared")
        if own is not None:
            return True, own
        return "cleared" in self.model_fields_set, self.cleared

    def clears(self, side: Side) -> tuple[str, Any] | None:
        """The flag field of ``side`` and the ``cleared`` value written to it when a
        survivor's partner comes back (None: no flag there, or no ``cleared`` set)."""
        name = self.flag_field(side)
        given, cleared = self.cleared_on(side)
        if name is None or not given:
            return None
        return name, cleared


def _norm(value: Any) -> tuple[str, Any]:
    if type(value) is str:
        return ("s", value)
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, int | float | Decimal):
        return ("n", Decimal(str(value)).normalize())
    return ("s", value)


def _alternative(value: Any) -> tuple[str, Any]:
    """The same value in the other type family: ``"1"`` <-> ``1`` (text and numbers mix in DBs)."""
    if isinstance(value, str):
        try:
            return ("n", Decimal(value.strip()).normalize())
        except ArithmeticError:
            return ("s", value)
    return ("s", str(value))


class ValueMapSpec(_Strict):
    """A translation table between ERP values (keys) and CRM values; it must be reversible."""

    pairs: dict[Scalar, Scalar | None] = Field(description="ERP value -> CRM value.")
    default_crm: Scalar | None = Field(None, description="CRM value for an unmapped ERP value.")
    default_erp: Scalar | None = Field(None, description="ERP value for an unmapped CRM value.")
    passthrough: bool = Field(False, description="Unmapped values pass unchanged, not refused.")

    @model_validator(mode="after")
    def _reversible(self) -> Self:
        issues: list[tuple[Path, str]] = []
        seen: dict[tuple[str, Any], Any] = {}
        for erp_value, crm_value in self.pairs.items():
            key = _norm(crm_value)
            if key in seen:
                issues.append(
                    (
                        ("pairs", str(erp_value)),
                        f"CRM value {crm_value!r} is mapped from both {seen[key]!r} and"
                        f" {erp_value!r}: the reverse direction would be ambiguous",
                    )
                )
            seen[key] = erp_value
        raise_issues(issues)
        return self

    def lookup(self, value: Any, to: Side) -> tuple[bool, Any]:
        """Translate one value toward ``to``.

        Args:
            value: an ERP value (``to="crm"``) or a CRM value (``to="erp"``).
            to: the side whose vocabulary the result is in.

        Returns:
            ``(True, translated)`` or ``(False, None)`` when the value is unmapped and no default
            or passthrough applies.
        """
        return self.translator(to)(value)

    def translator(self, to: Side) -> Callable[[Any], tuple[bool, Any]]:
        """:meth:`lookup` toward ``to`` with its table built once, for translating many values.

        The translator keeps the map as it is now; build a new one after changing the map.
        """
        table = self._forward() if to == "crm" else self._backward()
        default = self.default_crm if to == "crm" else self.default_erp
        passthrough = self.passthrough

        def translate(value: Any) -> tuple[bool, Any]:
            found = table.get(_norm(value), _MISSING)
            if found is _MISSING and not isinstance(value, bool):
                found = table.get(_alternative(value), _MISSING)
            if found is not _MISSING:
                return True, found
            if default is not None:
                return True, default
            if passthrough:
                return True, value
            return False, None

        return translate

    def targets(self, side: Side) -> list[Any]:
        """Every value this map can produce on ``side`` (pairs and default)."""
        values = list(self.pairs.values()) if side == "crm" else list(self.pairs)
        default = self.default_crm if side == "crm" else self.default_erp
        if default is not None:
            values.append(default)
        return [v for v in values if v is not None]

    def _forward(self) -> dict[tuple[str, Any], Any]:
        return {_norm(k): v for k, v in self.pairs.items()}

    def _backward(self) -> dict[tuple[str, Any], Any]:
        return {_norm(v): k for k, v in self.pairs.items()}


_MISSING = object()


class Defaults(_Strict):
    """Entity settings used where an entity does not set its own."""

    batch_size: int = Field(200, ge=1, le=10_000, description="Records per read and write batch.")
    initial_batch_size: int = Field(
        10_000,
        ge=1,
        le=100_000,
        description=(
            "Records per read batch of an initial load (no cursor yet; bulk-sized). Its first "
            "batch holds batch_size records, so the target starts while the rest is read."
        ),
    )
    schedule: Schedule = Field(
        default_factory=lambda: IntervalSchedule(mode="interval", seconds=60.0)
    )
    overlap_seconds: float = Field(
        5.0, ge=0, description="Window re-read before each cursor to catch late commits."
    )
    conflict: ConflictPolicy = "owner_wins"
    delete: DeleteSpec = Field(default_factory=DeleteSpec)
    owner: Owner = Field("crm", description="Default field owner of bidirectional entities.")


DEFAULTABLE = (
    "batch_size",
    "initial_batch_size",
    "schedule",
    "overlap_seconds",
    "conflict",
    "delete",
    "owner",
)
"""Entity settings that fall back to :class:`Defaults`."""

__all__ = [
    "DEFAULTABLE",
    "SIDES",
    "ConflictPolicy",
    "ContinuousSchedule",
    "Defaults",
    "DeletePolicy",
    "DeleteSpec",
    "Direction",
    "IntervalSchedule",
    "Owner",
    "Scalar",
    "Schedule",
    "Side",
    "ValueMapSpec",
    "other",
]
