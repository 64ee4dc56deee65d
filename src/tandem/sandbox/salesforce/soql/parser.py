"""Recursive-descent SOQL parser: tokens to a :class:`~.ast.Query`.

Grammar (keywords case-insensitive)::

    query      := SELECT item (',' item)* FROM name [WHERE cond]
                  [GROUP BY path (',' path)* [HAVING cond]]     -- HAVING may compare aggregates
                  [ORDER BY order (',' order)*] [LIMIT n] [OFFSET n] EOF
    item       := AGG '(' [path] ')' [alias] | FIELDS '(' ALL|STANDARD|CUSTOM ')'
                  | '(' query ')' | path                -- a child sub-query, one level deep
    cond       := unary (AND unary)* | unary (OR unary)*      -- mixing needs parentheses
    unary      := NOT unary | '(' cond ')' | comparison
    comparison := path op value | path [NOT] IN '(' (values | query) ')' | path LIKE string
                  | path (INCLUDES | EXCLUDES) '(' values ')'
    value      := string | number | date | datetime | TRUE | FALSE | NULL | DATE_LITERAL[':' n]
"""

from __future__ import annotations

from tandem.sandbox.salesforce.soql import ast
from tandem.sandbox.salesforce.soql.ast import (
    Aggregate,
    And,
    Comparison,
    Condition,
    DateLiteral,
    FieldPath,
    Fields,
    Literal_,
    Not,
    Or,
    OrderItem,
    Query,
    SelectItem,
    SemiJoin,
    SubQuery,
    Value,
)
from tandem.sandbox.salesforce.soql.lexer import Token, malformed, tokenize

__all__ = ["AGGREGATES", "DATE_LITERALS", "N_DATE_LITERALS", "parse"]

AGGREGATES = frozenset({"COUNT", "COUNT_DISTINCT", "SUM", "AVG", "MIN", "MAX"})
DATE_LITERALS = frozenset(
    {
        "YESTERDAY",
        "TODAY",
        "TOMORROW",
        "LAST_WEEK",
        "THIS_WEEK",
        "NEXT_WEEK",
        "LAST_MONTH",
        "THIS_MONTH",
        "NEXT_MONTH",
        "LAST_90_DAYS",
        "NEXT_90_DAYS",
        "THIS_YEAR",
        "LAST_YEAR",
        "NEXT_YEAR",
    }
)
N_DATE_LITERALS = frozenset(
    {
        "LAST_N_DAYS",
        "NEXT_N_DAYS",
        "N_DAYS_AGO",
        "LAST_N_WEEKS",
        "NEXT_N_WEEKS",
        "LAST_N_MONTHS",
        "NEXT_N_MONTHS",
    }
)
_RESERVED = frozenset(
    {
        "SELECT",
        "FROM",
        "WHERE",
        "AND",
        "OR",
        "NOT",
        "IN",
        "LIKE",
        "ORDER",
        "BY",
        "LIMIT",
        "OFFSET",
        "GROUP",
        "HAVING",
        "NULLS",
        "ASC",
        "DESC",
        "INCLUDES",
        "EXCLUDES",
        "WITH",
        "USING",
        "FOR",
        "TRUE",
        "FALSE",
        "NULL",
    }
)
_LITERAL_KINDS: dict[str, ast.LiteralKind] = {
    "NUMBER": "number",
    "DATE": "date",
    "DATETIME": "datetime",
}
_COMPARE_OPS = {"=": "=", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


def parse(soql: str) -> Query:
    """Parse a SOQL SELECT statement.

    Args:
        soql: the query text.

    Returns:
        The syntax tree.

    Raises:
        ApiError: 400 ``MALFORMED_QUERY`` naming the unexpected token and its position.
    """
    parser = _Parser(soql, tokenize(soql))
    query = parser.query()
    parser.expect_kind("EOF")
    return query


class _Parser:
    def __init__(self, soql: str, tokens: list[Token]) -> None:
        self.soql = soql
        self.tokens = tokens
        self.index = 0
        self.depth = 0  # > 0 inside a child sub-query (they do not nest)
        self.aggregates_allowed = False  # in HAVING, COUNT(Id) may be compared

    # ---- token helpers ------------------------------------------------------------------------

    @property
    def tok(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        tok = self.tokens[self.index]
        if tok.kind != "EOF":
            self.index += 1
        return tok

    def at(self, kind: str) -> bool:
        return self.tokens[self.index].kind == kind

    def is_kw(self, *words: str) -> bool:
        return self.tok.kind == "IDENT" and self.tok.upper() in words

    def peek_kw(self, offset: int, word: str) -> bool:
        index = min(self.index + offset, len(self.tokens) - 1)
        tok = self.tokens[index]
        return tok.kind == "IDENT" and tok.upper() == word

    def unexpected(self, tok: Token | None = None) -> Exception:
        tok = tok or self.tok
        text = f"'{tok.text}'" if tok.kind == "STRING" else tok.text
        return malformed(self.soql, tok.pos, f"unexpected token: {text}")

    def expect_kw(self, word: str) -> Token:
        if not self.is_kw(word):
            raise self.unexpected()
        return self.advance()

    def expect_kind(self, kind: str) -> Token:
        if self.tok.kind != kind:
            raise self.unexpected()
        return self.advance()

    # ---- grammar ---------------------------------------------------------------------------

    def query(self) -> Query:
        start = self.tok.pos
        self.expect_kw("SELECT")
        items = [self.select_item()]
        while self.at("COMMA"):
            self.advance()
            items.append(self.select_item())
        self.expect_kw("FROM")
        name_tok = self.expect_kind("IDENT")
        where = having = None
        group_by: list[FieldPath] = []
        order_by: list[OrderItem] = []
        limit = offset = None
        if self.is_kw("WHERE"):
            self.advance()
            where = self.condition()
        if self.is_kw("GROUP"):
            self.advance()
            self.expect_kw("BY")
            group_by = [self.path()]
            while self.at("COMMA"):
                self.advance()
                group_by.append(self.path())
            if self.is_kw("HAVING"):
                self.advance()
                self.aggregates_allowed = True
                having = self.condition()
                self.aggregates_allowed = False
        if self.is_kw("ORDER"):
            self.advance()
            self.expect_kw("BY")
            order_by = [self.order_item()]
            while self.at("COMMA"):
                self.advance()
                order_by.append(self.order_item())
        if self.is_kw("LIMIT"):
            self.advance()
            limit = self.integer()
        if self.is_kw("OFFSET"):
            self.advance()
            offset = self.integer()
        return Query(
            select=tuple(items),
            sobject=name_tok.text,
            sobject_pos=name_tok.pos,
            where=where,
            group_by=tuple(group_by),
            having=having,
            order_by=tuple(order_by),
            limit=limit,
            offset=offset,
            text=self.soql[start : self.tok.pos].strip(),
        )

    def integer(self) -> int:
        tok = self.tok
        if tok.kind != "NUMBER" or not tok.text.isdigit():
            raise self.unexpected()
        self.advance()
        return int(tok.text)

    def select_item(self) -> SelectItem:
        tok = self.tok
        call = self.aggregate_call()
        if call is not None:
            if self.tok.kind == "IDENT" and self.tok.upper() not in _RESERVED:
                return Aggregate(call.function, call.argument, self.advance().text, call.pos)
            return call
        if tok.kind == "IDENT" and tok.upper() == "FIELDS" and self._next_kind() == "LPAREN":
            self.advance()
            self.advance()
            kind = self.expect_kind("IDENT")
            if kind.upper() not in ("ALL", "STANDARD", "CUSTOM"):
                raise self.unexpected(kind)
            self.expect_kind("RPAREN")
            return Fields(kind.upper(), tok.pos)
        if tok.kind == "LPAREN":
            if self.depth > 0 or not self.peek_kw(1, "SELECT"):
                raise self.unexpected()
            self.advance()
            self.depth += 1
            sub = self.query()
            self.depth -= 1
            self.expect_kind("RPAREN")
            return SubQuery(sub, tok.pos)
        return self.path()

    def _next_kind(self) -> str:
        return self.tokens[min(self.index + 1, len(self.tokens) - 1)].kind

    def path(self) -> FieldPath:
        first = self.tok
        if first.kind != "IDENT" or first.upper() in ("FROM", "WHERE"):
            raise self.unexpected()
        parts = [self.advance().text]
        while self.at("DOT"):
            self.advance()
            parts.append(self.expect_kind("IDENT").text)
        return FieldPath(tuple(parts), first.pos)

    def order_item(self) -> OrderItem:
        path: FieldPath | Aggregate = self.aggregate_call() or self.path()
        descending = False
        nulls_first: bool | None = None
        if self.is_kw("ASC", "DESC"):
            descending = self.advance().upper() == "DESC"
        if self.is_kw("NULLS"):
            self.advance()
            if not self.is_kw("FIRST", "LAST"):
                raise self.unexpected()
            nulls_first = self.advance().upper() == "FIRST"
        return OrderItem(path, descending, nulls_first)

    def condition(self) -> Condition:
        parts = [self.unary()]
        joiner: str | None = None
        while self.is_kw("AND", "OR"):
            word = self.tok.upper()
            if joiner is not None and word != joiner:
                raise self.unexpected()
            joiner = word
            self.advance()
            parts.append(self.unary())
        if joiner is None:
            return parts[0]
        return And(tuple(parts)) if joiner == "AND" else Or(tuple(parts))

    def unary(self) -> Condition:
        if self.is_kw("NOT"):
            self.advance()
            return Not(self.unary())
        if self.at("LPAREN"):
            self.advance()
            inner = self.condition()
            self.expect_kind("RPAREN")
            return inner
        return self.comparison()

    def aggregate_call(self) -> Aggregate | None:
        tok = self.tok
        if tok.kind != "IDENT" or tok.upper() not in AGGREGATES or self._next_kind() != "LPAREN":
            return None
        self.advance()
        self.advance()
        argument = None if self.at("RPAREN") else self.path()
        self.expect_kind("RPAREN")
        if argument is None and tok.upper() != "COUNT":
            raise self.unexpected()
        return Aggregate(tok.upper(), argument, None, tok.pos)

    def comparison(self) -> Comparison:
        aggregate = self.aggregate_call() if self.aggregates_allowed else None
        path: FieldPath | Aggregate = aggregate or self.path()
        tok = self.tok
        if tok.kind == "OP":
            self.advance()
            return Comparison(path, _COMPARE_OPS[tok.text], (self.value(),), tok.pos)
        if self.is_kw("LIKE"):
            self.advance()
            value = self.value()
            return Comparison(path, "LIKE", (value,), tok.pos)
        if self.is_kw("IN") or (self.is_kw("NOT") and self.peek_kw(1, "IN")):
            op = "IN" if self.advance().upper() == "IN" else "NOT_IN"
            if op == "NOT_IN":
                self.advance()
            return Comparison(path, op, self.value_list(allow_query=True), tok.pos)
        if self.is_kw("INCLUDES", "EXCLUDES"):
            op = self.advance().upper()
            return Comparison(path, op, self.value_list(allow_query=False), tok.pos)
        raise self.unexpected()

    def value_list(self, allow_query: bool) -> tuple[Value, ...] | SemiJoin:
        open_tok = self.expect_kind("LPAREN")
        if allow_query and self.is_kw("SELECT"):
            self.depth += 1
            sub = self.query()
            self.depth -= 1
            self.expect_kind("RPAREN")
            return SemiJoin(sub, open_tok.pos)
        values = [self.value()]
        while self.at("COMMA"):
            self.advance()
            values.append(self.value())
        self.expect_kind("RPAREN")
        return tuple(values)

    def value(self) -> Value:
        tok = self.tok
        if tok.kind == "STRING":
            self.advance()
            return Literal_("string", tok.text, tok.pos)
        if tok.kind in ("NUMBER", "DATE", "DATETIME"):
            self.advance()
            return Literal_(_LITERAL_KINDS[tok.kind], tok.text, tok.pos)
        if tok.kind == "IDENT":
            word = tok.upper()
            if word in ("TRUE", "FALSE"):
                self.advance()
                return Literal_("boolean", word.lower(), tok.pos)
            if word == "NULL":
                self.advance()
                return Literal_("null", "null", tok.pos)
            if word in DATE_LITERALS:
                self.advance()
                return DateLiteral(word, None, tok.pos)
            if word in N_DATE_LITERALS:
                self.advance()
                self.expect_kind("COLON")
                return DateLiteral(word, self.integer(), tok.pos)
        raise self.unexpected()
