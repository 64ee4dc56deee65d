"""A tiny, safe expression language for computed fields (``erp_expr`` / ``crm_expr``).

An expression is parsed with :mod:`ast` and only a whitelist of node types is accepted: names
(native fields of the record), literals, ``+ - * / %``, comparisons, ``and or not``, the
conditional expression ``a if cond else b`` and a small set of functions. It is evaluated by
walking the tree; nothing is ever passed to ``eval``. ``None`` propagates like SQL ``NULL``
through arithmetic and string functions, and an ordering comparison with ``None`` is false.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

MAX_LENGTH = 1000
MAX_DEPTH = 32
MAX_DIGITS = 1000
"""The most digits ``int()`` gives a whole number (a BIGINT has 19)."""


class ExpressionError(ValueError):
    """An expression is not allowed (at load) or cannot be evaluated for a record."""


def _null_safe(fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any) -> Any:
        if args and args[0] is None:
            return None
        return fn(*args)

    return wrapper


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ExpressionError(f"expected text, got {type(value).__name__} {value!r}")
    return value


def _concat(*args: Any) -> str:
    return "".join("" if a is None else str(a) for a in args)


def _coalesce(*args: Any) -> Any:
    return next((a for a in args if a is not None and a != ""), None)


def _round(value: Any, digits: int = 0) -> Any:
    if value is None:
        return None
    number = _number(value)
    quantum = Decimal(1).scaleb(-int(digits))
    return number.quantize(quantum, rounding=ROUND_HALF_UP)


def _number(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ExpressionError(f"expected a number, got {value!r}")
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int | float | str):
        try:
            return Decimal(str(value).strip())
        except InvalidOperation:
            raise ExpressionError(f"not a number: {value!r}") from None
    raise ExpressionError(f"expected a number, got {type(value).__name__}")


def _integer(value: Any) -> int:
    """``int(x)``: the whole part of a number, refused when it has more than :data:`MAX_DIGITS`.

    A text such as ``'1e999999'`` is a valid number of seven characters whose whole part has a
    million digits: converting it took 23 s of one CPU (a billion digits would never end), so a
    single value from either system could stall a pass.
    """
    number = _number(value)
    if number.is_finite() and number.adjusted() >= MAX_DIGITS:
        raise ExpressionError(f"int() of a number with more than {MAX_DIGITS} digits: {value!r}")
    return int(number)


def _substr(value: Any, start: int, length: int | None = None) -> str:
    text = _text(value)
    begin = int(start)
    return text[begin:] if length is None else text[begin : begin + int(length)]


def _to_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.astimezone(UTC).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(_text(value).strip()[:10])
    except ValueError:
        raise ExpressionError(f"not a date: {value!r}") from None


FUNCTIONS: Mapping[str, Callable[..., Any]] = {
    "upper": _null_safe(lambda s: _text(s).upper()),
    "lower": _null_safe(lambda s: _text(s).lower()),
    "strip": _null_safe(lambda s: _text(s).strip()),
    "len": _null_safe(lambda s: len(_text(s))),
    "substr": _null_safe(_substr),
    "replace": _null_safe(lambda s, old, new: _text(s).replace(_text(old), _text(new))),
    "concat": _concat,
    "coalesce": _coalesce,
    "round": _round,
    "int": _null_safe(_integer),
    "float": _null_safe(lambda v: float(_number(v))),
    "decimal": _null_safe(_number),
    "str": _null_safe(lambda v: v if isinstance(v, str) else str(v)),
    "date": _null_safe(_to_date),
    "today": lambda: datetime.now(UTC).date(),
}
"""The functions an expression may call, by name."""

_ARITY: Mapping[str, tuple[int, int | None]] = {
    "upper": (1, 1),
    "lower": (1, 1),
    "strip": (1, 1),
    "len": (1, 1),
    "substr": (2, 3),
    "replace": (3, 3),
    "concat": (1, None),
    "coalesce": (1, None),
    "round": (1, 2),
    "int": (1, 1),
    "float": (1, 1),
    "decimal": (1, 1),
    "str": (1, 1),
    "date": (1, 1),
    "today": (0, 0),
}

_BINARY: Mapping[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Mod: operator.mod,
}
_COMPARE: Mapping[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_CONSTANT_TYPES = (str, int, float, bool, type(None))


class Expression:
    """A parsed, checked expression over the native fields of one record.

    Args:
        source: the expression text, e.g. ``upper(name) + ' / ' + code``.

    Raises:
        ExpressionError: a syntax error or a construct outside the whitelist.
    """

    __slots__ = ("_tree", "names", "source")

    def __init__(self, source: str) -> None:
        if len(source) > MAX_LENGTH:
            raise ExpressionError(f"expression longer than {MAX_LENGTH} characters")
        try:
            tree = ast.parse(source.strip(), mode="eval")
        except SyntaxError as exc:
            raise ExpressionError(f"syntax error in expression: {exc.msg}") from None
        names: list[str] = []
        _check(tree.body, names, 0)
        self.source = source
        self.names: tuple[str, ...] = tuple(dict.fromkeys(names))
        self._tree = tree.body

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"

    def evaluate(self, record: Mapping[str, Any]) -> Any:
        """Evaluate against one native record; a field absent from the record reads as ``None``.

        Raises:
            ExpressionError: a type or arithmetic error, with the reason.
        """
        try:
            return _eval(self._tree, record)
        except ExpressionError:
            raise
        except (TypeError, ArithmeticError, ValueError, InvalidOperation) as exc:
            raise ExpressionError(f"cannot evaluate {self.source!r}: {exc}") from None


def _check(node: ast.AST, names: list[str], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ExpressionError("expression nested too deeply")
    match node:
        case ast.Constant(value=value):
            if not isinstance(value, _CONSTANT_TYPES):
                raise ExpressionError(f"literal {value!r} is not allowed")
        case ast.Name(id=name):
            if name in FUNCTIONS:
                raise ExpressionError(f"{name} is a function: call it as {name}(...)")
            names.append(name)
        case ast.BinOp(left=left, op=op, right=right):
            if type(op) not in _BINARY:
                raise ExpressionError(f"operator {type(op).__name__} is not allowed")
            _check(left, names, depth + 1)
            _check(right, names, depth + 1)
        case ast.UnaryOp(op=op, operand=operand):
            if not isinstance(op, ast.Not | ast.USub | ast.UAdd):
                raise ExpressionError(f"operator {type(op).__name__} is not allowed")
            _check(operand, names, depth + 1)
        case ast.BoolOp(values=operands):
            for operand_node in operands:
                _check(operand_node, names, depth + 1)
        case ast.Compare(left=left, ops=ops, comparators=comparators):
            for cmp in ops:
                if type(cmp) not in _COMPARE:
                    raise ExpressionError(f"comparison {type(cmp).__name__} is not allowed")
            for part in (left, *comparators):
                _check(part, names, depth + 1)
        case ast.IfExp(test=test, body=body, orelse=orelse):
            for part in (test, body, orelse):
                _check(part, names, depth + 1)
        case ast.Call(func=ast.Name(id=fname), args=args, keywords=[]):
            if fname not in FUNCTIONS:
                raise ExpressionError(
                    f"function {fname!r} is not allowed (allowed: {', '.join(sorted(FUNCTIONS))})"
                )
            low, high = _ARITY[fname]
            if len(args) < low or (high is not None and len(args) > high):
                raise ExpressionError(f"{fname}() takes {low}..{high or 'any'} arguments")
            for arg in args:
                if isinstance(arg, ast.Starred):
                    raise ExpressionError("*arguments are not allowed")
                _check(arg, names, depth + 1)
        case ast.Call():
            raise ExpressionError("only plain calls of the allowed functions are allowed")
        case _:
            raise ExpressionError(f"{type(node).__name__} is not allowed in an expression")


def _arith(op: type[ast.operator], left: Any, right: Any) -> Any:
    if left is None or right is None:
        return None
    if op is ast.Add and isinstance(left, str) and isinstance(right, str):
        return left + right
    if isinstance(left, str) or isinstance(right, str):
        raise ExpressionError(
            f"cannot apply {op.__name__} to {type(left).__name__} and {type(right).__name__}"
            " (use concat() or str())"
        )
    if isinstance(left, Decimal) or isinstance(right, Decimal):
        left, right = _number(left), _number(right)
    return _BINARY[op](left, right)


def _eval(node: ast.AST, record: Mapping[str, Any]) -> Any:
    match node:
        case ast.Constant(value=value):
            return value
        case ast.Name(id=name):
            return record.get(name)
        case ast.BinOp(left=left, op=op, right=right):
            return _arith(type(op), _eval(left, record), _eval(right, record))
        case ast.UnaryOp(op=ast.Not(), operand=operand):
            return not _eval(operand, record)
        case ast.UnaryOp(op=op, operand=operand):
            value = _eval(operand, record)
            if value is None:
                return None
            return -value if isinstance(op, ast.USub) else +value
        case ast.BoolOp(op=ast.And(), values=values):
            result: Any = True
            for part in values:
                result = _eval(part, record)
                if not result:
                    return result
            return result
        case ast.BoolOp(values=values):
            result = False
            for part in values:
                result = _eval(part, record)
                if result:
                    return result
            return result
        case ast.Compare(left=left, ops=ops, comparators=comparators):
            current = _eval(left, record)
            for cmp, comparator in zip(ops, comparators, strict=True):
                other = _eval(comparator, record)
                ordering = not isinstance(cmp, ast.Eq | ast.NotEq)
                if ordering and (current is None or other is None):
                    return False  # like SQL: an ordering with NULL is not true
                if not _COMPARE[type(cmp)](current, other):
                    return False
                current = other
            return True
        case ast.IfExp(test=test, body=body, orelse=orelse):
            return _eval(body, record) if _eval(test, record) else _eval(orelse, record)
        case ast.Call(func=ast.Name(id=fname), args=args):
            return FUNCTIONS[fname](*(_eval(a, record) for a in args))
    raise ExpressionError(f"{type(node).__name__} is not allowed in an expression")


__all__ = ["FUNCTIONS", "Expression", "ExpressionError"]
