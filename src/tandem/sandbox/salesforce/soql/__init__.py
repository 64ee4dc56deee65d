"""SOQL for the sandbox org: lexer -> recursive-descent parser -> SQLite compiler."""

from __future__ import annotations

from datetime import date

from tandem.sandbox.salesforce.schema import Schema
from tandem.sandbox.salesforce.soql.compiler import MAX_OFFSET, compile_query
from tandem.sandbox.salesforce.soql.parser import parse
from tandem.sandbox.salesforce.soql.shape import CompiledQuery

__all__ = ["MAX_OFFSET", "CompiledQuery", "compile_soql", "parse"]


def compile_soql(soql: str, schema: Schema, *, include_deleted: bool, today: date) -> CompiledQuery:
    """Parse and compile a SOQL query.

    Args:
        soql: the query text.
        schema: the org schema.
        include_deleted: keep recycle-bin rows (``queryAll``).
        today: the current UTC date, for ``TODAY``, ``LAST_N_DAYS:n`` ...

    Returns:
        The SQL, its parameters and the result shape.

    Raises:
        ApiError: 400 ``MALFORMED_QUERY``, ``INVALID_TYPE``, ``INVALID_FIELD`` ...
    """
    return compile_query(
        parse(soql), schema, include_deleted=include_deleted, today=today, soql=soql
    )
