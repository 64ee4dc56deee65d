"""Shortcuts past pydantic for the commonest canonical values: text that is already valid.

Most canonical fields are text of one of two shapes, and for a ``str`` value each can be
checked without pydantic, with the same result and the same error:

* ``Annotated[str, AfterValidator(check)]`` with ``check`` one of
  :data:`~tandem.model.types.PLAIN_STR_CHECKS`: validating is calling ``check``.
* ``Annotated[str, StringConstraints(...)]`` setting nothing but ``strip_whitespace``,
  ``min_length`` and ``max_length``: a text with nothing to strip, within the bounds and free of
  lone surrogates is returned as it is; anything else is left to pydantic, which says why.
  ``Annotated[str | None, MaxLen(n)]`` (what ``Field(max_length=n)`` makes of an optional
  text) is the same shape, bounded and never stripped.

Either may be wrapped in ``Optional``. :func:`str_shortcut` returns a callable that gives the
validated value or :data:`ASK_TYPE` when the field's type must decide.
"""

from __future__ import annotations

import re
import sys
import types
from collections.abc import Callable
from typing import Annotated, Any, Final, Union, get_args, get_origin

from annotated_types import MaxLen, MinLen
from pydantic import AfterValidator, StringConstraints

from tandem.model.types import PLAIN_STR_CHECKS

ASK_TYPE: Final = object()
"""What a shortcut returns when only the field's pydantic type can decide."""

_SURROGATE = re.compile("[\\ud800-\\udfff]")
"""A lone surrogate: pydantic refuses it in constrained text (not valid unicode)."""


def str_first(annotation: Any, through_type: Callable[[Any], Any]) -> Callable[[Any], Any] | None:
    """A validator taking a ``str`` by the shortcut of ``annotation``, the rest ``through_type``.

    ``through_type`` validates through the field's pydantic type; it also takes each ``str``
    the shortcut leaves to the type (:data:`ASK_TYPE`). ``None``: ``annotation`` has no shortcut.
    """
    meta = _shape(annotation)
    if meta is None:
        return None
    if isinstance(meta, AfterValidator):
        check: Callable[[str], str] = meta.func  # type: ignore[assignment]

        def checked_first(value: Any) -> Any:
            if type(value) is not str:
                return through_type(value)
            try:
                return check(value)
            except ValueError as exc:  # as validate_field words it: the message alone
                raise ValueError(str(exc)) from None

        return checked_first
    strip = bool(meta.strip_whitespace)
    shortest = meta.min_length or 0
    longest = sys.maxsize if meta.max_length is None else meta.max_length

    def bounded_first(value: Any) -> Any:
        # :func:`_bounded` written out: this runs for most text values of every record
        if (
            type(value) is str
            and shortest <= len(value) <= longest
            and not (strip and value and (value[0].isspace() or value[-1].isspace()))
            and (value.isascii() or value.isprintable() or not _SURROGATE.search(value))
        ):
            return value
        return through_type(value)

    return bounded_first


def str_shortcut(annotation: Any) -> Callable[[str], Any] | None:
    """The shortcut for ``str`` values of a field typed ``annotation``, if its shape has one."""
    meta = _shape(annotation)
    if meta is None:
        return None
    if isinstance(meta, AfterValidator):
        return _checked(meta.func)  # type: ignore[arg-type]
    return _bounded(bool(meta.strip_whitespace), meta.min_length, meta.max_length)


def _shape(annotation: Any) -> AfterValidator | StringConstraints | None:
    """The one metadata item of ``annotation`` that makes a shortcut shape, if it has one."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) != 1:
            return None
        annotation = args[0]
    if get_origin(annotation) is not Annotated:
        return None
    base, *metadata = get_args(annotation)
    if _optional_str(base) and metadata and all(type(m) in (MinLen, MaxLen) for m in metadata):
        low = [m.min_length for m in metadata if isinstance(m, MinLen)]
        high = [m.max_length for m in metadata if isinstance(m, MaxLen)]
        return StringConstraints(
            min_length=max(low) if low else None, max_length=min(high) if high else None
        )
    if base is not str or len(metadata) != 1:
        return None
    meta = metadata[0]
    if isinstance(meta, AfterValidator) and meta.func in PLAIN_STR_CHECKS:
        return meta
    if isinstance(meta, StringConstraints) and meta == StringConstraints(
        strip_whitespace=meta.strip_whitespace,
        min_length=meta.min_length,
        max_length=meta.max_length,
    ):
        return meta
    return None


def _optional_str(annotation: Any) -> bool:
    """``annotation`` is ``str`` or ``str | None`` (either spelling), with nothing else."""
    if annotation is str:
        return True
    if get_origin(annotation) not in (Union, types.UnionType):
        return False
    return set(get_args(annotation)) == {str, type(None)}


def _checked(check: Callable[[str], str]) -> Callable[[str], Any]:
    def checked(value: str) -> Any:
        try:
            return check(value)
        except ValueError as exc:  # as validate_field words it: the message alone
            raise ValueError(str(exc)) from None

    return checked


def _bounded(strip: bool, low: int | None, high: int | None) -> Callable[[str], Any]:
    shortest = low or 0
    longest = sys.maxsize if high is None else high

    def bounded(value: str) -> Any:
        if not shortest <= len(value) <= longest:
            return ASK_TYPE
        # pydantic strips unicode White_Space, all of which str.isspace() also counts
        if strip and value and (value[0].isspace() or value[-1].isspace()):
            return ASK_TYPE
        # a lone surrogate is not printable: a printable text (the usual one) has none
        if not value.isascii() and not value.isprintable() and _SURROGATE.search(value):
            return ASK_TYPE
        return value

    return bounded


__all__ = ["ASK_TYPE", "str_first", "str_shortcut"]
