"""The write engine: validate and apply one record change, as Salesforce does.

Every method works on one record inside the caller's transaction and raises
:class:`~tandem.sandbox.salesforce.errors.RecordError` when the record is refused; the
:class:`~tandem.sandbox.salesforce.org.Org` decides whether that becomes a per-record result or a
top-level REST error, and wraps each record in a savepoint so a refused record leaves no trace.
"""

from __future__ import annotations

from typing import Any

from tandem.sandbox.salesforce import derived
from tandem.sandbox.salesforce.errors import RecordError
from tandem.sandbox.salesforce.ids import to_18
from tandem.sandbox.salesforce.schema import FieldDef
from tandem.sandbox.salesforce.store import Store, Table, quote_ident
from tandem.sandbox.salesforce.values import coerce

__all__ = ["RecordWriter"]

NOT_FOUND_MESSAGE = "The requested resource does not exist"


class RecordWriter:
    """Validates and writes single records of a :class:`Store`.

    Args:
        store: the open store; its ``now`` stamps every write.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.schema = store.schema
        self._unique_sql: dict[tuple[str, str], str] = {}
        self._children: dict[str, list[tuple[Table, FieldDef]]] = {}
        for table in store.tables.values():
            for f in table.reference_fields:
                if f.cascade_delete:
                    for target in f.reference_to:
                        self._children.setdefault(target, []).append((table, f))

    # ---- ids -------------------------------------------------------------------------------

    def table_of_id(self, raw_id: Any) -> tuple[Table, str]:
        """Return the table and 18-character id of any record id.

        Raises:
            RecordError: ``MALFORMED_ID`` when the id is not an id of a known object.
        """
        canonical = to_18(raw_id) if isinstance(raw_id, str) else None
        obj = self.schema.by_prefix(canonical[:3]) if canonical else None
        if canonical is None or obj is None:
            raise RecordError("MALFORMED_ID", f"malformed id {raw_id}", [])
        return self.store.tables[obj.name], canonical

    def check_id(self, table: Table, raw_id: Any) -> str:
        """Return the 18-character form of an id that must belong to ``table``'s object.

        Raises:
            RecordError: ``MALFORMED_ID``.
        """
        canonical = to_18(raw_id) if isinstance(raw_id, str) else None
        if canonical is None or canonical[:3] != table.obj.key_prefix:
            raise RecordError(
                "MALFORMED_ID",
                f"{table.obj.label} ID: id value of incorrect type: {raw_id}",
                ["Id"],
            )
        return canonical

    def live_row(self, table: Table, record_id: str) -> dict[str, Any]:
        """Return the stored row of a live record.

        Raises:
            RecordError: ``NOT_FOUND`` or ``ENTITY_IS_DELETED``.
        """
        row = self.store.fetch(table, record_id)
        if row is None:
            raise RecordError("NOT_FOUND", NOT_FOUND_MESSAGE, [])
        if row["IsDeleted"]:
            raise RecordError("ENTITY_IS_DELETED", "entity is deleted", [])
        return row

    # ---- validation --------------------------------------------------------------------------

    def prepare(self, table: Table, values: dict[str, Any], insert: bool) -> dict[str, Any]:
        """Check the caller's fields and return them in stored form.

        Args:
            table: the record's table.
            values: wire JSON fields (``attributes`` ignored; a relationship name with an
                ``{ExtId__c: value}`` object refers to the parent by external id).
            insert: True on create (createable checked), False on update (updateable checked).

        Raises:
            RecordError: unknown or read-only field, or a bad value.
        """
        obj = table.obj
        given: dict[str, Any] = {}
        for key, value in values.items():
            if key == "attributes":
                continue
            f = obj.field(key)
            if f is None:
                rel = obj.relationship(key)
                if rel is not None and isinstance(value, dict):
                    given[rel.name] = self.resolve_parent(rel, value)
                    continue
                raise RecordError(
                    "INVALID_FIELD", f"No such column '{key}' on sobject of type {obj.name}", [key]
                )
            if insert and not f.createable:
                if f.name == "Id":
                    raise RecordError(
                        "INVALID_FIELD_FOR_INSERT_UPDATE",
                        "cannot specify Id in an insert call",
                        ["Id"],
                    )
                raise _not_writable(f)
            if not insert and not f.updateable:
                if f.name == "Id":
                    continue
                raise _not_writable(f)
            given[f.name] = coerce(f, value)
        return given

    def resolve_parent(self, rel: FieldDef, ref: dict[str, Any]) -> str:
        """Return the id of the parent named by ``{"ExtId__c": value}`` under a relationship.

        Raises:
            RecordError: ``INVALID_FIELD`` when the key is not an external id or nothing matches.
        """
        attrs = ref.get("attributes") if isinstance(ref.get("attributes"), dict) else None
        target_name = str(attrs.get("type")) if attrs and attrs.get("type") else rel.reference_to[0]
        target = self.schema.get(target_name)
        keys = [k for k in ref if k != "attributes"]
        ext = target.field(keys[0]) if target and len(keys) == 1 else None
        if target is None or ext is None or not (ext.external_id or ext.name == "Id"):
            raise RecordError(
                "INVALID_FIELD",
                f"{rel.relationship_name}: a parent reference needs exactly one external ID field",
                [str(rel.relationship_name)],
            )
        value = ref[keys[0]]
        table = self.store.tables[target.name]
        found = self.store.conn.execute(
            f'SELECT "Id" FROM {table.sql_name} WHERE {quote_ident(ext.name)} = ?'
            ' AND "IsDeleted" = 0 LIMIT 2',
            (value,),
        ).fetchall()
        if len(found) != 1:
            what = "not found" if not found else "matches more than one record"
            raise RecordError(
                "INVALID_FIELD",
                f"Foreign key external ID: {value} {what} for field {ext.name} in entity"
                f" {target.name}",
                [],
            )
        return str(found[0][0])

    def _check_references(self, table: Table, given: dict[str, Any]) -> None:
        for f in table.reference_fields:
            value = given.get(f.name)
            if value is None or value == self.store.user_id:
                continue
            target = self.schema.by_prefix(value[:3])
            if target is None or target.name not in f.reference_to:
                raise RecordError(
                    "INVALID_CROSS_REFERENCE_KEY",
                    f"{f.label}: id value of incorrect type: {value}",
                    [f.name],
                )
            if not self.store.exists_live(self.store.tables[target.name], value):
                raise RecordError(
                    "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [f.name]
                )

    def _check_unique(
        self, table: Table, given: dict[str, Any], record_id: str, skip: str | None = None
    ) -> None:
        for f in table.unique_fields:
            value = given.get(f.name)
            if value is None or not f.unique or f.name == skip:
                continue
            key = (table.obj.name, f.name)
            sql = self._unique_sql.get(key)
            if sql is None:
                sql = (
                    f'SELECT "Id" FROM {table.sql_name} WHERE {quote_ident(f.name)} = ?'
                    ' AND "IsDeleted" = 0 AND "Id" != ? LIMIT 1'
                )
                self._unique_sql[key] = sql
            found = self.store.conn.execute(sql, (value, record_id)).fetchone()
            if found:
                raise RecordError(
                    "DUPLICATE_VALUE",
                    f"duplicate value found: {f.name} duplicates value on record with id:"
                    f" {found[0]}",
                    [f.name],
                )

    @staticmethod
    def _check_required(table: Table, row: dict[str, Any], given: dict[str, Any]) -> None:
        missing = [f.name for f in table.required_fields if row.get(f.name) is None]
        missing += [
            name
            for name, value in given.items()
            if value is None and not table.obj.fields[name].nillable and name not in missing
        ]
        if missing:
            raise RecordError(
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(missing)}]",
                missing,
            )

    # ---- writes ------------------------------------------------------------------------------

    def insert(self, table: Table, values: dict[str, Any]) -> str:
        """Create a record from wire values and return its id."""
        given = self.prepare(table, values, insert=True)
        return self.insert_prepared(table, given)

    def insert_prepared(
        self, table: Table, given: dict[str, Any], checked_unique: str | None = None
    ) -> str:
        """Create a record from already-prepared (stored-form) values and return its id.

        Args:
            table: the record's table.
            given: the caller's fields in stored form.
            checked_unique: a unique field whose value the caller just found free (upsert).
        """
        store = self.store
        obj = table.obj
        row = dict(table.template)
        record_id = store.new_id(obj)
        row.update(store.system_values(obj, record_id))
        row.update(given)
        self._check_required(table, row, given)
        self._check_references(table, given)
        self._check_unique(table, given, record_id, checked_unique)
        for f in table.auto_numbers:
            row[f.name] = store.next_auto_number(obj, f)
        derived.before_save(store, table, row, given, True)
        store.insert_row(table, row)
        derived.after_save(store, table, row)
        return record_id

    def update(self, table: Table, record_id: str, values: dict[str, Any]) -> None:
        """Change a live record from wire values."""
        current = self.live_row(table, record_id)
        given = self.prepare(table, values, insert=False)
        self.update_prepared(table, current, given)

    def update_prepared(self, table: Table, current: dict[str, Any], given: dict[str, Any]) -> None:
        """Change a live record (``current`` is its stored row) with stored-form values."""
        store = self.store
        record_id = current["Id"]
        row = dict(current)
        row.update(given)
        self._check_required(table, row, given)
        self._check_references(table, given)
        # A unique value the record already holds needs no look-up.
        unchanged = [name for name, value in given.items() if current[name] == value]
        self._check_unique(table, {k: v for k, v in given.items() if k not in unchanged}, record_id)
        derived.before_save(store, table, row, given, False)
        row["LastModifiedDate"] = row["SystemModstamp"] = store.now
        row["LastModifiedById"] = store.user_id
        # The stamps are always written, even when equal (two updates in one millisecond).
        stamps = ("LastModifiedDate", "SystemModstamp", "LastModifiedById")
        changed = stamps + tuple(
            name for name, value in row.items() if current[name] != value and name not in stamps
        )
        store.conn.execute(
            table.update_statement(changed), [row[name] for name in changed] + [record_id]
        )
        derived.after_save(store, table, row)

    def find_by_external_id(self, table: Table, ext: FieldDef, value: Any) -> list[str]:
        """Return the ids (at most two) of live records whose ``ext`` equals ``value``."""
        if ext.name == "Id":
            canonical = to_18(value) if isinstance(value, str) else None
            if canonical is None or canonical[:3] != table.obj.key_prefix:
                return []
            return [canonical] if self.store.exists_live(table, canonical) else []
        rows = self.store.conn.execute(
            f'SELECT "Id" FROM {table.sql_name} WHERE {quote_ident(ext.name)} = ?'
            ' AND "IsDeleted" = 0 LIMIT 2',
            (value,),
        ).fetchall()
        return [str(r[0]) for r in rows]

    def upsert(
        self, table: Table, ext: FieldDef, value: Any, values: dict[str, Any]
    ) -> tuple[str, bool]:
        """Insert or update by external id from wire values; returns ``(id, created)``.

        Fields are checked as createable when a record is inserted, updateable when one is
        updated; the external-id value is set on the inserted record.

        Raises:
            RecordError: ``DUPLICATE_EXTERNAL_ID`` when several records match, ``NOT_FOUND`` for
                an unknown ``Id`` value, or a validation error of the insert/update.
        """
        if ext.name == "Id":
            matches = self.find_by_external_id(table, ext, value)
            rows = [self.live_row(table, m) for m in matches]
        else:
            rows = [
                table.row_dict(found)
                for found in self.store.conn.execute(
                    f"SELECT {table.select_cols} FROM {table.sql_name}"
                    f' WHERE {quote_ident(ext.name)} = ? AND "IsDeleted" = 0 LIMIT 2',
                    (value,),
                )
            ]
        if len(rows) > 1:
            found = ", ".join(str(r["Id"]) for r in rows)
            raise RecordError(
                "DUPLICATE_EXTERNAL_ID",
                f"{ext.label}: more than one record found for external id field: [{found}]",
                [ext.name],
            )
        if rows:
            given = self.prepare(table, values, insert=False)
            self.update_prepared(table, rows[0], given)
            return str(rows[0]["Id"]), False
        if ext.name == "Id":
            if value:
                raise RecordError("NOT_FOUND", NOT_FOUND_MESSAGE, [])
            values = {k: v for k, v in values.items() if k.lower() != "id"}
        given = self.prepare(table, values, insert=True)
        checked = None
        if ext.name != "Id":
            stored = coerce(ext, value)
            if given.get(ext.name) is None:
                given[ext.name] = stored
            checked = ext.name if given[ext.name] == stored else None
        return self.insert_prepared(table, given, checked), True

    def delete(self, table: Table, record_id: str, cascade_root: str | None = None) -> None:
        """Move a live record (and its cascade children) to the recycle bin."""
        store = self.store
        row = self.live_row(table, record_id)
        if not table.obj.deletable:
            raise RecordError(
                "INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights on object id", []
            )
        for child_table, ref in self._children.get(table.obj.name, []):
            for (child_id,) in store.conn.execute(
                f'SELECT "Id" FROM {child_table.sql_name} WHERE {quote_ident(ref.name)} = ?'
                ' AND "IsDeleted" = 0',
                (record_id,),
            ).fetchall():
                self.delete(child_table, child_id, cascade_root or record_id)
        store.conn.execute(
            table.update_statement(("IsDeleted", "SystemModstamp")), (1, store.now, record_id)
        )
        store.conn.execute(
            "INSERT OR REPLACE INTO _deleted_log (id, sobject, deleted_date, cascade_root)"
            " VALUES (?, ?, ?, ?)",
            (record_id, table.obj.name, store.now, cascade_root),
        )
        derived.after_save(store, table, row)

    def undelete(self, table: Table, record_id: str, cascading: bool = False) -> None:
        """Restore a record (and what its delete cascaded to) from the recycle bin.

        Args:
            table: the record's table.
            record_id: the 18-character id.
            cascading: True when restoring the children of a restored parent.
        """
        store = self.store
        row = store.fetch(table, record_id)
        logged = store.conn.execute(
            "SELECT cascade_root FROM _deleted_log WHERE id = ?", (record_id,)
        ).fetchone()
        # A record deleted with its parent comes back only with that parent.
        if row is None or not row["IsDeleted"] or (logged and logged[0] and not cascading):
            raise RecordError("UNDELETE_FAILED", "Entity is not in the recycle bin", [])
        self._check_references(table, {f.name: row[f.name] for f in table.reference_fields})
        self._check_unique(table, row, record_id)
        store.conn.execute(
            table.update_statement(("IsDeleted", "SystemModstamp")), (0, store.now, record_id)
        )
        store.conn.execute("DELETE FROM _deleted_log WHERE id = ?", (record_id,))
        row["IsDeleted"] = 0
        derived.after_save(store, table, row)
        for child_id, sobject in store.conn.execute(
            "SELECT id, sobject FROM _deleted_log WHERE cascade_root = ?", (record_id,)
        ).fetchall():
            self.undelete(store.tables[sobject], child_id, cascading=True)

    def purge(self, table: Table, record_id: str, *, live_too: bool) -> None:
        """Remove a record for good; a tombstone stays in ``_deleted_log`` for getDeleted.

        Args:
            table: the record's table.
            record_id: the 18-character id.
            live_too: True for Bulk ``hardDelete`` (live records allowed); False for
                ``emptyRecycleBin`` (only deleted records).
        """
        store = self.store
        row = store.fetch(table, record_id)
        if row is None:
            raise RecordError("NOT_FOUND", NOT_FOUND_MESSAGE, [])
        if not row["IsDeleted"]:
            if not live_too:
                raise RecordError(
                    "INVALID_ID_FIELD", f"Record is not in the recycle bin: {record_id}"
                )
            self.delete(table, record_id)
        cascaded = store.conn.execute(
            "SELECT id, sobject FROM _deleted_log WHERE cascade_root = ?", (record_id,)
        ).fetchall()
        for child_id, sobject in cascaded:
            store.conn.execute(
                f'DELETE FROM {store.tables[sobject].sql_name} WHERE "Id" = ?', (child_id,)
            )
        store.conn.execute(f'DELETE FROM {table.sql_name} WHERE "Id" = ?', (record_id,))


def _not_writable(f: FieldDef) -> RecordError:
    return RecordError(
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        f"Unable to create/update fields: {f.name}. Please check the security settings of this"
        " field and verify that it is read/write for your profile or permission set.",
        [f.name],
    )
