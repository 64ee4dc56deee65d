"""SOQL lexer: text to tokens, with positions for Salesforce-style error messages."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from tandem.sandbox.salesforce.errors import ApiError

__all__ = ["Token", "TokenKind", "decode_string", "like_pattern", "malformed", "tokenize"]

TokenKind = Literal[
    "IDENT",
    "STRING",
    "NUMBER",
    "DATE",
    "DATETIME",
    "OP",
    "LPAREN",
    "RPAREN",
    "COMMA",
    "DOT",
    "COLON",
    "EOF",
]


@dataclass(frozen=True)
class Token:
    """One token; ``pos`` is the offset of its first character in the query text."""

    kind: TokenKind
    text: str
    pos: int

    def upper(self) -> str:
        """The token text in upper case (keywords are case-insensitive)."""
        return self.text.upper()


_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2})(?![\w.])"
)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?![\w.:])")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?![\w.])")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPS = ("<=", ">=", "!=", "<>", "=", "<", ">")
_SINGLE: dict[str, TokenKind] = {
    "(": "LPAREN",
    ")": "RPAREN",
    ",": "COMMA",
    ".": "DOT",
    ":": "COLON",
}
_LITERALS: tuple[tuple[TokenKind, re.Pattern[str]], ...] = (
    ("DATETIME", _DATETIME),
    ("DATE", _DATE),
    ("NUMBER", _NUMBER),
)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


def malformed(soql: str, pos: int, message: str) -> ApiError:
    """Return a 400 ``MALFORMED_QUERY`` that points at ``pos`` as Salesforce does."""
    return ApiError(400, "MALFORMED_QUERY", located(soql, pos, message))


def located(soql: str, pos: int, message: str) -> str:
    """Prefix ``message`` with the query line, a caret and ``ERROR at Row:r:Column:c``."""
    pos = max(0, min(pos, len(soql)))
    row = soql.count("\n", 0, pos) + 1
    line_start = soql.rfind("\n", 0, pos) + 1
    line_end = soql.find("\n", pos)
    line = soql[line_start : line_end if line_end >= 0 else len(soql)]
    column = pos - line_start
    return f"\n{line}\n{' ' * column}^\nERROR at Row:{row}:Column:{column + 1}\n{message}"


def tokenize(soql: str) -> list[Token]:
    """Split a SOQL query into tokens.

    Args:
        soql: the query text.

    Returns:
        The tokens, ending with an ``EOF`` token.

    Raises:
        ApiError: ``MALFORMED_QUERY`` on an unterminated string or a stray character.
    """
    tokens: list[Token] = []
    pos, end = 0, len(soql)
    while pos < end:
        char = soql[pos]
        if char.isspace():
            pos += 1
            continue
        if char == "'":
            close = _string_end(soql, pos)
            tokens.append(Token("STRING", soql[pos + 1 : close], pos))
            pos = close + 1
            continue
        if char.isdigit() or (char in "+-." and pos + 1 < end and soql[pos + 1].isdigit()):
            for kind, pattern in _LITERALS:
                match = pattern.match(soql, pos)
                if match:
                    tokens.append(Token(kind, match.group(), pos))
                    pos = match.end()
                    break
            else:
                raise malformed(soql, pos, f"unexpected token: {_word_at(soql, pos)}")
            continue
        match = _IDENT.match(soql, pos)
        if match:
            tokens.append(Token("IDENT", match.group(), pos))
            pos = match.end()
            continue
        op = next((o for o in _OPS if soql.startswith(o, pos)), None)
        if op:
            tokens.append(Token("OP", op, pos))
            pos += len(op)
            continue
        single = _SINGLE.get(char)
        if single is None:
            raise malformed(soql, pos, f"unexpected token: {char}")
        tokens.append(Token(single, char, pos))
        pos += 1
    tokens.append(Token("EOF", "<EOF>", end))
    return tokens


def _word_at(soql: str, pos: int) -> str:
    match = re.compile(r"\S+").match(soql, pos)
    return match.group() if match else "<EOF>"


def _string_end(soql: str, start: int) -> int:
    pos = start + 1
    while pos < len(soql):
        char = soql[pos]
        if char == "\\":
            pos += 2
            continue
        if char == "'":
            return pos
        pos += 1
    raise malformed(soql, start, "unterminated string literal")


def decode_string(raw: str, soql: str = "", pos: int = 0) -> str:
    """Decode the body of a quoted SOQL string for an exact comparison.

    ``\\%`` and ``\\_`` (LIKE escapes) stand for ``%`` and ``_``.

    Raises:
        ApiError: ``MALFORMED_QUERY`` on an unknown escape sequence.
    """
    return _decode(raw, soql, pos, like=False)


def like_pattern(raw: str, soql: str = "", pos: int = 0) -> str:
    """Decode a quoted LIKE pattern into an SQLite pattern that uses ``ESCAPE '\\'``."""
    return _decode(raw, soql, pos, like=True)


def _decode(raw: str, soql: str, pos: int, like: bool) -> str:
    out: list[str] = []
    index = 0
    while index < len(raw):
        char = raw[index]
        if char != "\\":
            out.append(char)
            index += 1
            continue
        nxt = raw[index + 1] if index + 1 < len(raw) else ""
        if nxt in ("%", "_"):
            out.append("\\" + nxt if like else nxt)
        elif nxt in _ESCAPES:
            decoded = _ESCAPES[nxt]
            out.append("\\\\" if like and decoded == "\\" else decoded)
        elif nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", raw[index + 2 : index + 6]):
            out.append(chr(int(raw[index + 2 : index + 6], 16)))
            index += 4
        else:
            raise malformed(
                soql,
                pos + index + 1,
                f"Invalid string literal '{raw}'. Illegal"
                " character sequence '\\" + nxt + "' in string literal.",
            )
        index += 2
    return "".join(out)
