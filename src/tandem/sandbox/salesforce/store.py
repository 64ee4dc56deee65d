"""SQLite storage of the sandbox org: one table per sObject, one column per field.

Text columns use ``COLLATE NOCASE`` because SOQL comparisons and unique/external-id checks are
case-insensitive in Salesforce; ids stay binary (they are case-sensitive). Deleted records stay
in their table with ``IsDeleted = 1`` (the recycle bin); every delete is also written to
``_deleted_log``, which outlives a hard delete and feeds ``getDeleted``. The class is not
thread-safe: the :class:`~tandem.sandbox.salesforce.org.Org` serialises calls with a lock.
"""

from __future__ import annotations

import operator
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from tandem.sandbox.salesforce.ids import IdGenerator
from tandem.sandbox.salesforce.schema import NUMBER_TYPES, FieldDef, ObjectDef, Schema
from tandem.sandbox.salesforce.values import format_datetime

__all__ = ["FORECAST_CATEGORY", "INTEGRATION_USERNAME", "Store", "Table", "quote_ident"]

INTEGRATION_USERNAME = "integration@tandem.sandbox"
_SQL_TYPE = {"boolean": "INTEGER", "int": "INTEGER"}
# ForecastCategoryName (label) -> ForecastCategory (API value).
FORECAST_CATEGORY = {
    "Omitted": "Omitted",
    "Pipeline": "Pipeline",
    "Best Case": "BestCase",
    "Commit": "Forecast",
    "Closed": "Closed",
}


def quote_ident(name: str) -> str:
    """Quote an SQL identifier (schema names are validated, quotes are escaped anyway)."""
    return '"' + name.replace('"', '""') + '"'


def table_name(obj_name: str) -> str:
    """Return the quoted SQLite table name of an sObject."""
    return quote_ident(f"sf_{obj_name}")


@dataclass
class Table:
    """Cached per-object metadata and prepared SQL; built once per :class:`Store`."""

    obj: ObjectDef
    sql_name: str
    fields: list[FieldDef]
    select_cols: str
    insert_sql: str
    unique_fields: list[FieldDef]
    reference_fields: list[FieldDef]
    required_fields: list[FieldDef]
    defaults: dict[str, Any]
    auto_numbers: list[FieldDef]
    template: dict[str, Any]
    values_of: Callable[[dict[str, Any]], tuple[Any, ...]]
    update_sql: dict[tuple[str, ...], str] = field(default_factory=dict)

    def update_statement(self, names: tuple[str, ...]) -> str:
        """Return (and cache) ``UPDATE ... SET <names> WHERE Id = ?``."""
        sql = self.update_sql.get(names)
        if sql is None:
            sets = ", ".join(f"{quote_ident(n)} = ?" for n in names)
            sql = f'UPDATE {self.sql_name} SET {sets} WHERE "Id" = ?'
            self.update_sql[names] = sql
        return sql

    def row_dict(self, row: tuple[Any, ...]) -> dict[str, Any]:
        """Map a ``SELECT select_cols`` row to ``{field name: stored value}``."""
        return {f.name: value for f, value in zip(self.fields, row, strict=True)}


def _column_sql(f: FieldDef) -> str:
    if f.type in ("id", "reference", "date", "datetime"):
        sql_type = "TEXT"
    elif f.type in NUMBER_TYPES:
        sql_type = _SQL_TYPE.get(f.type, "REAL")
    else:
        sql_type = _SQL_TYPE.get(f.type, "TEXT")
    if f.type == "id":
        return f"{quote_ident(f.name)} TEXT PRIMARY KEY"
    collate = " COLLATE NOCASE" if f.is_text and not f.case_sensitive else ""
    return f"{quote_ident(f.name)} {sql_type}{collate}"


def _build_table(obj: ObjectDef) -> Table:
    fields = list(obj.fields.values())
    names = ", ".join(quote_ident(f.name) for f in fields)
    marks = ", ".join("?" for _ in fields)
    sql_name = table_name(obj.name)
    defaults = {f.name: f.default for f in fields if f.default is not None and not f.system}
    for name, value in defaults.items():
        if isinstance(value, bool):
            defaults[name] = int(value)
    return Table(
        obj=obj,
        sql_name=sql_name,
        fields=fields,
        select_cols=names,
        insert_sql=f"INSERT INTO {sql_name} ({names}) VALUES ({marks})",
        unique_fields=[f for f in fields if f.unique or f.external_id],
        reference_fields=[f for f in fields if f.type == "reference"],
        required_fields=[f for f in fields if f.required and f.createable],
        defaults=defaults,
        auto_numbers=[f for f in fields if f.auto_number],
        template={f.name: defaults.get(f.name) for f in fields},
        values_of=operator.itemgetter(*(f.name for f in fields)),
    )


class Store:
    """The SQLite file of one org, its tables and counters.

    Args:
        path: the database file.
        schema: the objects to keep tables for (missing tables and columns are added).
        clock: the current time (UTC).
    """

    def __init__(self, path: Path, schema: Schema, clock: Callable[[], datetime]) -> None:
        self.schema = schema
        self.clock = clock
        self.conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.tables = {name: _build_table(obj) for name, obj in schema.objects.items()}
        self._ids: dict[str, IdGenerator] = {}
        self._auto: dict[tuple[str, str], int] = {}
        self.now = format_datetime(clock())
        with self.transaction():
            self._create_tables()
            self._load_counters()
        self.user_id = ""
        self.org_id = ""

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def tick(self) -> str:
        """Read the clock once for the current call; every write of the call uses this stamp."""
        self.now = format_datetime(self.clock())
        return self.now

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Run the block in one transaction; roll back on any exception."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Run the block in a savepoint inside the current transaction."""
        self.conn.execute("SAVEPOINT rec")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK TO rec")
            self.conn.execute("RELEASE rec")
            raise
        self.conn.execute("RELEASE rec")

    def _create_tables(self) -> None:
        execute = self.conn.execute
        execute(
            "CREATE TABLE IF NOT EXISTS _deleted_log (id TEXT PRIMARY KEY, sobject TEXT NOT NULL,"
            " deleted_date TEXT NOT NULL, cascade_root TEXT)"
        )
        execute(
            "CREATE INDEX IF NOT EXISTS _deleted_log_date ON _deleted_log (sobject, deleted_date)"
        )
        execute("CREATE INDEX IF NOT EXISTS _deleted_log_root ON _deleted_log (cascade_root)")
        execute("CREATE TABLE IF NOT EXISTS _meta (key TEXT PRIMARY KEY, value TEXT)")
        execute(
            "CREATE TABLE IF NOT EXISTS _autonumber (sobject TEXT, field TEXT, last INTEGER,"
            " PRIMARY KEY (sobject, field))"
        )
        for name, table in self.tables.items():
            columns = ", ".join(_column_sql(f) for f in table.fields)
            execute(f"CREATE TABLE IF NOT EXISTS {table.sql_name} ({columns})")
            present = {row[1] for row in execute(f"PRAGMA table_info({table.sql_name})")}
            for f in table.fields:
                if f.name not in present:
                    execute(f"ALTER TABLE {table.sql_name} ADD COLUMN {_column_sql(f)}")
            self._create_indexes(name, table)

    def _create_indexes(self, name: str, table: Table) -> None:
        execute = self.conn.execute
        execute(
            f"CREATE INDEX IF NOT EXISTS {quote_ident(f'ix_{name}_modstamp')} ON {table.sql_name}"
            ' ("SystemModstamp")'
        )
        for f in table.fields:
            index = quote_ident(f"ix_{name}_{f.name}")
            column = quote_ident(f.name)
            if f.unique:
                # Only live records hold a unique value; the recycle bin does not block reuse.
                execute(
                    f"CREATE UNIQUE INDEX IF NOT EXISTS {index} ON {table.sql_name} ({column})"
                    ' WHERE "IsDeleted" = 0'
                )
            elif f.external_id or (f.type == "reference" and not f.system):
                execute(f"CREATE INDEX IF NOT EXISTS {index} ON {table.sql_name} ({column})")

    def _load_counters(self) -> None:
        execute = self.conn.execute
        for name, table in self.tables.items():
            prefix = table.obj.key_prefix
            last = execute(f'SELECT max("Id") FROM {table.sql_name}').fetchone()[0]
            gone = execute(
                "SELECT max(id) FROM _deleted_log WHERE substr(id, 1, 3) = ?", (prefix,)
            ).fetchone()[0]
            highest = max((x for x in (last, gone) if x), key=lambda x: x[:15], default=None)
            self._ids[name] = IdGenerator(prefix, highest)
        for sobject, fname, last in execute("SELECT sobject, field, last FROM _autonumber"):
            self._auto[(sobject, fname)] = last

    def new_id(self, obj: ObjectDef) -> str:
        """Return a fresh id for a record of ``obj``."""
        return self._ids[obj.name].next_id()

    def next_auto_number(self, obj: ObjectDef, f: FieldDef) -> str:
        """Return the next auto-number text, e.g. ``00000042`` for the format ``{00000000}``."""
        key = (obj.name, f.name)
        number = self._auto.get(key, 0) + 1
        self._auto[key] = number
        self.conn.execute(
            "INSERT INTO _autonumber (sobject, field, last) VALUES (?, ?, ?)"
            " ON CONFLICT (sobject, field) DO UPDATE SET last = excluded.last",
            (obj.name, f.name, number),
        )
        fmt = f.auto_number or "{0}"
        start, end = fmt.find("{"), fmt.find("}")
        width = max(end - start - 1, 1)
        return fmt[:start] + str(number).rjust(width, "0") + fmt[end + 1 :]

    def fetch(self, table: Table, record_id: str) -> dict[str, Any] | None:
        """Return the stored row of ``record_id`` (deleted ones too), or None."""
        row = self.conn.execute(
            f'SELECT {table.select_cols} FROM {table.sql_name} WHERE "Id" = ?', (record_id,)
        ).fetchone()
        return table.row_dict(row) if row else None

    def exists_live(self, table: Table, record_id: str) -> bool:
        """Whether ``record_id`` is a live (not deleted) record of ``table``."""
        row = self.conn.execute(
            f'SELECT 1 FROM {table.sql_name} WHERE "Id" = ? AND "IsDeleted" = 0', (record_id,)
        ).fetchone()
        return row is not None

    def insert_row(self, table: Table, row: dict[str, Any]) -> None:
        """Insert a stored row (it must hold every field: start from ``table.template``)."""
        self.conn.execute(table.insert_sql, table.values_of(row))

    def system_values(self, obj: ObjectDef, record_id: str) -> dict[str, Any]:
        """Return the system fields of a record being created now by the integration user."""
        values: dict[str, Any] = {
            "Id": record_id,
            "IsDeleted": 0,
            "CreatedDate": self.now,
            "CreatedById": self.user_id,
            "LastModifiedDate": self.now,
            "LastModifiedById": self.user_id,
            "SystemModstamp": self.now,
        }
        if obj.owned:
            values["OwnerId"] = self.user_id
        return values

    def seed(self) -> None:
        """Create what a new org has: the integration user, the standard price book, stages."""
        self.tick()
        with self.transaction():
            found_org = self.conn.execute("SELECT value FROM _meta WHERE key = 'org_id'").fetchone()
            if found_org:
                self.org_id = str(found_org[0])
            else:
                self.org_id = IdGenerator("00D").next_id()
                self.conn.execute("INSERT INTO _meta VALUES ('org_id', ?)", (self.org_id,))
            users = self.tables["User"]
            found = self.conn.execute(
                f'SELECT "Id" FROM {users.sql_name} WHERE "Username" = ?', (INTEGRATION_USERNAME,)
            ).fetchone()
            if found:
                self.user_id = found[0]
            else:
                self.user_id = self.new_id(users.obj)
                row = dict(users.template)
                row.update(self.system_values(users.obj, self.user_id))
                row.update(
                    Username=INTEGRATION_USERNAME,
                    FirstName="Tandem",
                    LastName="Integration",
                    Name="Tandem Integration",
                    Alias="tandem",
                    IsActive=1,
                    TimeZoneSidKey="GMT",
                    Email="integration@tandem.example.com",
                )
                self.insert_row(users, row)
            if "Pricebook2" in self.tables:
                self._seed_standard_pricebook()
            if "OpportunityStage" in self.tables and "Opportunity" in self.tables:
                self._seed_stages()

    def _seed_standard_pricebook(self) -> None:
        books = self.tables["Pricebook2"]
        found = self.conn.execute(
            f'SELECT 1 FROM {books.sql_name} WHERE "IsStandard" = 1'
        ).fetchone()
        if found:
            return
        row = dict(books.template)
        row.update(self.system_values(books.obj, self.new_id(books.obj)))
        row.update(Name="Standard Price Book", IsActive=1, IsStandard=1)
        self.insert_row(books, row)

    def _seed_stages(self) -> None:
        stages = self.tables["OpportunityStage"]
        stage_field = self.schema.objects["Opportunity"].field("StageName")
        if stage_field is None:
            return
        known = {
            api_name: record_id
            for record_id, api_name in self.conn.execute(
                f'SELECT "Id", "ApiName" FROM {stages.sql_name}'
            )
        }
        self.conn.execute(f'UPDATE {stages.sql_name} SET "IsActive" = 0')
        for order, entry in enumerate(stage_field.picklist, start=1):
            category_name = str(entry.meta.get("forecastCategory", "Pipeline"))
            values = {
                "ApiName": entry.value,
                "MasterLabel": entry.label,
                "IsActive": 1,
                "IsClosed": int(bool(entry.meta.get("closed", False))),
                "IsWon": int(bool(entry.meta.get("won", False))),
                "DefaultProbability": float(entry.meta.get("probability", 0)),
                "ForecastCategoryName": category_name,
                "ForecastCategory": FORECAST_CATEGORY.get(category_name, category_name),
                "SortOrder": order,
            }
            record_id = known.get(entry.value)
            if record_id is None:
                row = dict(stages.template)
                row.update(self.system_values(stages.obj, self.new_id(stages.obj)))
                row.update(values)
                self.insert_row(stages, row)
            else:
                names = tuple(values)
                self.conn.execute(stages.update_statement(names), [*values.values(), record_id])
