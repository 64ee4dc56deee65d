"""SOQL syntax tree to parameterised SQLite SQL, plus the recipe to shape result rows.

Parent relationship paths become ``LEFT JOIN``s (one per distinct path); text comparisons are
case-insensitive through the columns' ``NOCASE`` collation; ``!=`` and ``NOT IN`` match nulls,
as in SOQL. Results are shaped by :class:`CompiledQuery`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

from tandem.sandbox.salesforce.errors import ApiError, no_such_column
from tandem.sandbox.salesforce.ids import to_18
from tandem.sandbox.salesforce.schema import NUMBER_TYPES, FieldDef, ObjectDef, Schema
from tandem.sandbox.salesforce.soql import ast
from tandem.sandbox.salesforce.soql.dates import date_range
from tandem.sandbox.salesforce.soql.lexer import decode_string, like_pattern, located, malformed
from tandem.sandbox.salesforce.soql.shape import ChildQuery, Column, ColumnKind, CompiledQuery, Node
from tandem.sandbox.salesforce.store import quote_ident, table_name
from tandem.sandbox.salesforce.values import format_datetime, parse_datetime

__all__ = ["compile_query"]

MAX_OFFSET = 2000
_COUNT_FIELD = FieldDef(name="expr", type="int", label="Count", precision=18)
_SEMI_ONE_FIELD = "semi join sub-select must select exactly one Id or reference field"
_SOAP_TYPE = {
    "double": "double",
    "currency": "double",
    "percent": "double",
    "int": "int",
    "boolean": "boolean",
    "date": "date",
    "datetime": "dateTime",
}


def compile_query(
    query: ast.Query, schema: Schema, *, include_deleted: bool, today: date, soql: str
) -> CompiledQuery:
    """Resolve names against the schema and build the SQL.

    Args:
        query: the parsed query.
        schema: the org schema.
        include_deleted: True for ``queryAll`` (rows in the recycle bin are kept).
        today: the current UTC date, for relative date literals.
        soql: the original text, for error positions.

    Returns:
        The SQL, its parameters and the result shape.

    Raises:
        ApiError: 400 ``INVALID_TYPE`` (unknown object), ``INVALID_FIELD``,
            ``MALFORMED_QUERY``, ``INVALID_QUERY_FILTER_OPERATOR`` or
            ``NUMBER_OUTSIDE_VALID_RANGE`` (OFFSET above 2000).
    """
    return _Compiler(schema, soql, today, "t").compile(query, include_deleted)


@dataclass
class _Scope:
    obj: ObjectDef
    joins: list[str] = field(default_factory=list)
    aliases: dict[tuple[str, ...], tuple[str, ObjectDef]] = field(default_factory=dict)


class _Compiler:
    def __init__(self, schema: Schema, soql: str, today: date, prefix: str) -> None:
        self.schema = schema
        self.soql = soql
        self.today = today
        self.prefix = prefix
        self.params: list[Any] = []
        self.scope: _Scope
        self.in_having = False

    # ---- names -----------------------------------------------------------------------------

    def error(self, code: str, pos: int, message: str) -> ApiError:
        return ApiError(400, code, located(self.soql, pos, message))

    def compile(self, query: ast.Query, include_deleted: bool) -> CompiledQuery:
        obj = self.schema.get(query.sobject)
        if obj is None:
            raise self.error(
                "INVALID_TYPE",
                query.sobject_pos,
                f"sObject type '{query.sobject}' is not supported. If you are attempting to use a"
                " custom object, be sure to append the '__c' after the entity name. Please"
                " reference your WSDL or the describe call for the appropriate names.",
            )
        self.scope = _Scope(obj, aliases={(): (f"{self.prefix}0", obj)})
        if query.offset is not None and query.offset > MAX_OFFSET:
            raise ApiError(
                400, "NUMBER_OUTSIDE_VALID_RANGE", f"Maximum SOQL offset allowed is {MAX_OFFSET}"
            )
        aggregates = [item for item in query.select if isinstance(item, ast.Aggregate)]
        if aggregates or query.group_by:
            select_sql, shape = self.aggregate_select(query)
        else:
            select_sql, shape = self.plain_select(query, include_deleted)
        where_sql = self.where(query, include_deleted)
        having_sql = ""
        if query.having is not None:
            self.in_having = True
            having_sql = " HAVING " + self.condition(query.having)
            self.in_having = False
        grouped = bool(aggregates or query.group_by)
        order = [self.order_sql(item, grouped) for item in query.order_by]
        root = f"{self.prefix}0"
        sql = f"SELECT {select_sql} FROM {table_name(obj.name)} AS {root}"
        sql += "".join(self.scope.joins) + where_sql
        if query.group_by:
            sql += " GROUP BY " + ", ".join(self.column(p)[0] for p in query.group_by)
            sql += having_sql
        if not order and not (aggregates or query.group_by):
            # Salesforce does not promise an order; creation (Id) order keeps results and
            # pages deterministic instead of following whichever index SQLite picks.
            order = [f'{self.prefix}0."Id"']
        if order:
            sql += " ORDER BY " + ", ".join(order)
        if query.limit is not None or query.offset is not None:
            sql += f" LIMIT {query.limit if query.limit is not None else -1}"
            sql += f" OFFSET {query.offset or 0}"
        if shape.count_only:
            sql = f"SELECT count(*) FROM ({sql})"
        return CompiledQuery(sql=sql, params=self.params, shape=shape, sobject=obj.name)

    def compile_semi(self, query: ast.Query, pos: int) -> str:
        """Compile the sub-select of a semi-join: one Id or reference column, live rows only."""
        obj = self.schema.get(query.sobject)
        if obj is None:
            raise self.error(
                "INVALID_TYPE",
                query.sobject_pos,
                f"sObject type '{query.sobject}' is not supported.",
            )
        self.scope = _Scope(obj, aliases={(): (f"{self.prefix}0", obj)})
        item = query.select[0]
        if len(query.select) != 1 or not isinstance(item, ast.FieldPath):
            raise self.error("MALFORMED_QUERY", pos, _SEMI_ONE_FIELD)
        col, f, _ = self.column(item)
        if f.type not in ("id", "reference"):
            raise self.error("MALFORMED_QUERY", pos, _SEMI_ONE_FIELD)
        where_sql = self.where(query, include_deleted=False)
        sql = f"SELECT {col} FROM {table_name(obj.name)} AS {self.prefix}0"
        return sql + "".join(self.scope.joins) + where_sql

    def resolve(self, path: ast.FieldPath) -> tuple[tuple[str, ...], FieldDef]:
        """Return the relationship path (schema spelling) and the final field."""
        obj = self.scope.obj
        parts = list(path.parts)
        if (
            len(parts) > 1
            and parts[0].lower() == obj.name.lower()
            and not obj.relationship(parts[0])
        ):
            parts = parts[1:]
        rels: list[str] = []
        for rel_name in parts[:-1]:
            ref = obj.relationship(rel_name)
            if ref is None:
                raise self.error(
                    "INVALID_FIELD",
                    path.pos,
                    f"Didn't understand relationship '{rel_name}' in field path. If you are"
                    " attempting to use a custom relationship, be sure to append the '__r' after"
                    " the custom relationship name. Please reference your WSDL or the describe"
                    " call for the appropriate names.",
                )
            rels.append(str(ref.relationship_name))
            obj = self.join(tuple(rels), ref)
        final = obj.field(parts[-1])
        if final is None:
            raise self.error("INVALID_FIELD", path.pos, no_such_column(parts[-1], obj.name).message)
        return tuple(rels), final

    def join(self, rels: tuple[str, ...], ref: FieldDef) -> ObjectDef:
        known = self.scope.aliases.get(rels)
        if known is not None:
            return known[1]
        parent_alias = self.scope.aliases[rels[:-1]][0]
        target = self.schema.objects[ref.reference_to[0]]
        alias = f"{self.prefix}{len(self.scope.aliases)}"
        self.scope.aliases[rels] = (alias, target)
        self.scope.joins.append(
            f" LEFT JOIN {table_name(target.name)} AS {alias}"
            f' ON {alias}."Id" = {parent_alias}.{quote_ident(ref.name)}'
        )
        return target

    def column(self, path: ast.FieldPath) -> tuple[str, FieldDef, tuple[str, ...]]:
        rels, f = self.resolve(path)
        alias = self.scope.aliases[rels][0]
        return f"{alias}.{quote_ident(f.name)}", f, rels

    # ---- SELECT ----------------------------------------------------------------------------

    def expand_fields(self, query: ast.Query) -> list[ast.SelectItem]:
        """Replace ``FIELDS(...)`` with the field paths it stands for."""
        items: list[ast.SelectItem] = []
        for item in query.select:
            if not isinstance(item, ast.Fields):
                items.append(item)
                continue
            if item.kind != "STANDARD" and (query.limit is None or query.limit > 200):
                raise malformed(
                    self.soql, item.pos, "The SOQL FIELDS function must have a LIMIT of at most 200"
                )
            for f in self.scope.obj.fields.values():
                if item.kind == "ALL" or (item.kind == "CUSTOM") == f.custom:
                    items.append(ast.FieldPath((f.name,), item.pos))
        return items

    def child_query(self, item: ast.SubQuery, number: int, include_deleted: bool) -> ChildQuery:
        """Compile a child relationship sub-query of the SELECT list."""
        sub_query = item.query
        found = self.schema.child_relationship(self.scope.obj.name, sub_query.sobject)
        if found is None:
            raise self.error(
                "INVALID_TYPE",
                sub_query.sobject_pos,
                f"Didn't understand relationship '{sub_query.sobject}' in FROM part of query"
                " call. If you are attempting to use a custom relationship, be sure to append"
                " the '__r' after the custom relationship name. Please reference your WSDL or"
                " the describe call for the appropriate names.",
            )
        child_obj, ref = found
        sub = _Compiler(self.schema, self.soql, self.today, f"{self.prefix}c{number}_")
        sub.scope = _Scope(child_obj, aliases={(): (f"{sub.prefix}0", child_obj)})
        if any(isinstance(i, ast.Aggregate) for i in sub_query.select) or sub_query.group_by:
            raise malformed(self.soql, item.pos, "aggregates are not allowed in a sub-query")
        select_sql, shape = sub.plain_select(sub_query, include_deleted)
        ref_col = f"{sub.prefix}0.{quote_ident(ref.name)}"
        where_sql = sub.where(sub_query, include_deleted)
        where_sql += (" AND " if where_sql else " WHERE ") + f"{ref_col} IN ({{ids}})"
        order = [sub.order_sql(o, False) for o in sub_query.order_by]
        sql = f"SELECT {select_sql}, {ref_col} FROM {table_name(child_obj.name)} AS {sub.prefix}0"
        sql += "".join(sub.scope.joins) + where_sql
        sql += " ORDER BY " + ", ".join(order or [f'{sub.prefix}0."Id"'])
        return ChildQuery(
            key=str(ref.child_relationship_name),
            sql=sql,
            params=sub.params,
            shape=shape,
            ref_index=shape.width,
            limit=sub_query.limit,
            offset=sub_query.offset or 0,
        )

    def plain_select(self, query: ast.Query, include_deleted: bool) -> tuple[str, Node]:
        columns: list[str] = []
        root = Node(self.scope.obj, id_index=0)
        columns.append(f'{self.prefix}0."Id"')
        nodes: dict[tuple[str, ...], Node] = {(): root}
        for item in self.expand_fields(query):
            if isinstance(item, ast.SubQuery):
                sub = self.child_query(item, len(root.children), include_deleted)
                root.entries.append((sub.key, sub))
                root.children.append(sub)
                continue
            assert isinstance(item, ast.FieldPath)
            sql, f, rels = self.column(item)
            node = root
            for depth in range(1, len(rels) + 1):
                key = rels[:depth]
                child = nodes.get(key)
                if child is None:
                    alias, obj = self.scope.aliases[key]
                    columns.append(f'{alias}."Id"')
                    child = Node(obj, id_index=len(columns) - 1)
                    node.entries.append((key[-1], child))
                    nodes[key] = child
                node = child
            columns.append(sql)
            column = Column(f, len(columns) - 1, ".".join((*rels, f.name)))
            node.entries.append((f.name, column))
            root.flat.append(column)
        root.width = len(columns)
        return ", ".join(columns), root

    def aggregate_select(self, query: ast.Query) -> tuple[str, Node]:
        root = Node(self.scope.obj, id_index=-1, aggregate=True)
        if any(isinstance(i, ast.Aggregate) and i.argument is None for i in query.select):
            if len(query.select) != 1 or query.group_by:
                first = query.select[0]
                raise malformed(
                    self.soql, first.pos, "COUNT() must be the only element in the SELECT list."
                )
            root.count_only = True
            return "1", root
        grouped = {
            self.resolve(p)[1].name + "|" + ".".join(self.resolve(p)[0]) for p in query.group_by
        }
        columns: list[str] = []
        expr_index = 0
        for item in query.select:
            if isinstance(item, ast.Fields | ast.SubQuery):
                raise malformed(self.soql, item.pos, "not allowed in an aggregate query")
            if isinstance(item, ast.FieldPath):
                sql, f, rels = self.column(item)
                if f.name + "|" + ".".join(rels) not in grouped:
                    raise malformed(
                        self.soql, item.pos, f"Field must be grouped or aggregated: {item.text}"
                    )
                columns.append(sql)
                column = Column(f, len(columns) - 1, f.name)
            else:
                expr, f = self.aggregate_expr(item)
                func = item.function
                columns.append(expr)
                name = item.alias
                if name is None:
                    name = f"expr{expr_index}"
                    expr_index += 1
                kind: ColumnKind = "field"
                if func.startswith("COUNT"):
                    kind = "count"
                elif func in ("SUM", "AVG"):
                    kind = "number"
                column = Column(f, len(columns) - 1, name, kind)
            root.entries.append((column.name, column))
            root.flat.append(column)
        return ", ".join(columns), root

    def aggregate_expr(self, item: ast.Aggregate) -> tuple[str, FieldDef]:
        """The SQL of an aggregate call and the field it aggregates."""
        if item.argument is None:
            return "count(*)", _COUNT_FIELD
        sql, f, _ = self.column(item.argument)
        func = item.function
        if func in ("SUM", "AVG") and f.type not in NUMBER_TYPES:
            raise malformed(
                self.soql, item.pos, f"field {f.name} does not support aggregate {func}"
            )
        if func == "COUNT":
            return f"count({sql})", f
        if func == "COUNT_DISTINCT":
            return f"count(DISTINCT {sql})", f
        return f"{func.lower()}({sql})", f

    def operand(self, operand: ast.FieldPath | ast.Aggregate) -> tuple[str, FieldDef]:
        """A comparison's left side: a column, or (in HAVING) an aggregate typed by its result."""
        if isinstance(operand, ast.FieldPath):
            col, f, _ = self.column(operand)
            return col, f
        if not self.in_having:
            raise malformed(self.soql, operand.pos, "aggregates are only allowed in HAVING")
        sql, f = self.aggregate_expr(operand)
        if operand.function.startswith("COUNT"):
            return sql, _COUNT_FIELD
        if operand.function in ("SUM", "AVG"):
            return sql, replace(f, type="double")
        return sql, f

    def order_sql(self, item: ast.OrderItem, grouped: bool) -> str:
        if isinstance(item.field, ast.Aggregate):
            if not grouped:
                raise malformed(self.soql, item.field.pos, "aggregates need GROUP BY in ORDER BY")
            self.in_having = True  # an aggregate key is allowed in ORDER BY of grouped queries
            sql, _ = self.operand(item.field)
            self.in_having = False
        else:
            sql, _, _ = self.column(item.field)
        text = sql + (" DESC" if item.descending else " ASC")
        if item.nulls_first is not None:
            text += " NULLS FIRST" if item.nulls_first else " NULLS LAST"
        return text

    # ---- WHERE -----------------------------------------------------------------------------

    def where(self, query: ast.Query, include_deleted: bool) -> str:
        parts = []
        if not include_deleted:
            parts.append(f'{self.prefix}0."IsDeleted" = 0')
        if query.where is not None:
            parts.append(self.condition(query.where))
        return " WHERE " + " AND ".join(parts) if parts else ""

    def condition(self, cond: ast.Condition) -> str:
        if isinstance(cond, ast.And):
            return "(" + " AND ".join(self.condition(p) for p in cond.parts) + ")"
        if isinstance(cond, ast.Or):
            return "(" + " OR ".join(self.condition(p) for p in cond.parts) + ")"
        if isinstance(cond, ast.Not):
            return f"(NOT coalesce({self.condition(cond.part)}, 0))"
        return self.comparison(cond)

    def comparison(self, cmp: ast.Comparison) -> str:
        col, f = self.operand(cmp.field)
        op = cmp.op
        if isinstance(cmp.values, ast.SemiJoin):
            return self.semi_join(col, f, cmp)
        values = cmp.values
        if op in ("IN", "NOT_IN"):
            return self.in_list(col, f, op, values)
        if op in ("INCLUDES", "EXCLUDES"):
            return self.includes(col, f, op, values)
        value = values[0]
        if isinstance(value, ast.DateLiteral):
            return self.date_range(col, f, op, value)
        if op == "LIKE":
            if value.kind != "string" or (f.type not in ("id", "reference") and not f.is_text):
                raise self.error(
                    "INVALID_FIELD", cmp.pos, f"invalid operator on field {f.name}: LIKE"
                )
            self.params.append(like_pattern(value.raw, self.soql, value.pos))
            return f"{col} LIKE ? ESCAPE '\\'"
        param = self.literal(f, value)
        if param is None:
            if op == "=":
                return f"{col} IS NULL"
            if op == "!=":
                return f"{col} IS NOT NULL"
            return "0"
        self.params.append(param)
        if op == "!=":
            return f"{col} IS NOT ?"
        return f"{col} {op} ?"

    def in_list(self, col: str, f: FieldDef, op: str, values: tuple[ast.Value, ...]) -> str:
        params = []
        has_null = False
        for value in values:
            if isinstance(value, ast.DateLiteral):
                raise self.error("MALFORMED_QUERY", value.pos, "unexpected token: " + value.name)
            param = self.literal(f, value)
            if param is None:
                has_null = True
            else:
                params.append(param)
        marks = ", ".join("?" for _ in params)
        self.params.extend(params)
        if op == "IN":
            inside = f"{col} IN ({marks})" if params else "0"
            return f"({inside} OR {col} IS NULL)" if has_null else inside
        outside = f"{col} NOT IN ({marks})" if params else "1"
        return f"({col} IS NOT NULL AND {outside})" if has_null else f"({col} IS NULL OR {outside})"

    def includes(self, col: str, f: FieldDef, op: str, values: tuple[ast.Value, ...]) -> str:
        if f.type != "multipicklist":
            raise self.error(
                "INVALID_FIELD",
                values[0].pos if values else 0,
                f"includes or excludes operator only valid on multipicklist field: {f.name}",
            )
        options = []
        for value in values:
            if not isinstance(value, ast.Literal_) or value.kind != "string":
                raise self.error(
                    "INVALID_FIELD",
                    value.pos,
                    f"value of filter criterion for field '{f.name}' must be of type string and"
                    " should be enclosed in quotes",
                )
            terms = []
            for part in decode_string(value.raw, self.soql, value.pos).split(";"):
                escaped = part.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                self.params.append(f"%;{escaped};%")
                terms.append(f"(';' || {col} || ';') LIKE ? ESCAPE '\\'")
            options.append("(" + " AND ".join(terms) + ")")
        matched = "(" + " OR ".join(options) + ")"
        if op == "INCLUDES":
            return f"coalesce({matched}, 0)"
        return f"({col} IS NULL OR NOT {matched})"

    def semi_join(self, col: str, f: FieldDef, cmp: ast.Comparison) -> str:
        assert isinstance(cmp.values, ast.SemiJoin)
        sub_query = cmp.values.query
        if f.type not in ("id", "reference") or cmp.op not in ("IN", "NOT_IN"):
            raise self.error("MALFORMED_QUERY", cmp.pos, "semi-joins need an Id or reference field")
        sub = _Compiler(self.schema, self.soql, self.today, self.prefix + "s")
        inner = sub.compile_semi(sub_query, cmp.values.pos)
        self.params.extend(sub.params)
        if cmp.op == "IN":
            return f"{col} IN ({inner})"
        return f"({col} IS NULL OR {col} NOT IN ({inner}))"

    def date_range(self, col: str, f: FieldDef, op: str, value: ast.DateLiteral) -> str:
        if f.type not in ("date", "datetime"):
            expected = _SOAP_TYPE.get(f.type, "string")
            raise self.error(
                "INVALID_FIELD",
                value.pos,
                f"value of filter criterion for field '{f.name}' must be of type {expected} and"
                " should be enclosed in quotes",
            )
        start, end = date_range(value.name, value.n, self.today)
        if f.type == "date":
            lo, hi = start.isoformat(), end.isoformat()
        else:
            lo = format_datetime(datetime(start.year, start.month, start.day, tzinfo=UTC))
            hi = format_datetime(datetime(end.year, end.month, end.day, tzinfo=UTC))
        forms = {
            "=": (f"({col} >= ? AND {col} < ?)", [lo, hi]),
            "!=": (f"({col} IS NULL OR {col} < ? OR {col} >= ?)", [lo, hi]),
            "<": (f"{col} < ?", [lo]),
            "<=": (f"{col} < ?", [hi]),
            ">": (f"{col} >= ?", [hi]),
            ">=": (f"{col} >= ?", [lo]),
        }
        if op not in forms:
            raise self.error("MALFORMED_QUERY", value.pos, f"unexpected token: {value.name}")
        sql, params = forms[op]
        self.params.extend(params)
        return sql

    def literal(self, f: FieldDef, value: ast.Literal_) -> Any:
        kind = value.kind
        if kind == "null":
            return None
        ftype = f.type
        if f.is_text or ftype in ("id", "reference"):
            if kind != "string":
                raise self.error(
                    "INVALID_FIELD",
                    value.pos,
                    f"value of filter criterion for field '{f.name}' must be of type"
                    " string and should be enclosed in quotes",
                )
            text = decode_string(value.raw, self.soql, value.pos)
            if ftype in ("id", "reference"):
                canonical = to_18(text)
                if canonical is None:
                    raise self.error(
                        "INVALID_QUERY_FILTER_OPERATOR", value.pos, f"invalid ID field: {text}"
                    )
                return canonical
            return text
        expected = {"boolean": "boolean", "date": "date", "datetime": "datetime"}.get(
            ftype, "number"
        )
        if kind != expected:
            quoted = "should not be enclosed in quotes" if kind == "string" else "is not valid"
            raise self.error(
                "INVALID_FIELD",
                value.pos,
                f"value of filter criterion for field '{f.name}' must be of type"
                f" {_SOAP_TYPE.get(ftype, ftype)} and {quoted}",
            )
        if kind == "boolean":
            return 1 if value.raw == "true" else 0
        if kind == "date":
            try:
                return date.fromisoformat(value.raw).isoformat()
            except ValueError:
                raise malformed(self.soql, value.pos, f"invalid date: {value.raw}") from None
        if kind == "datetime":
            moment = parse_datetime(value.raw)
            if moment is None:
                raise malformed(self.soql, value.pos, f"invalid dateTime: {value.raw}")
            return format_datetime(moment)
        number = float(value.raw)
        return int(number) if ftype == "int" and number.is_integer() else number
