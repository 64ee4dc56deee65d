"""Server-computed fields and cross-record rules of the standard objects.

``before_save`` fills calculated fields of the record being written (Contact.Name, the
Opportunity stage fields, line-item prices) and enforces the price-book rules; ``after_save``
rolls line totals up into their parent (Opportunity.Amount, Quote totals, Order.TotalAmount).
Objects without rules pass through untouched, so custom objects cost nothing here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tandem.sandbox.salesforce.errors import RecordError
from tandem.sandbox.salesforce.store import FORECAST_CATEGORY, Store, Table

__all__ = ["after_save", "before_save", "has_rules"]

Row = dict[str, Any]


def _full_name(store: Store, table: Table, row: Row, given: Row, insert: bool) -> None:
    row["Name"] = " ".join(p for p in (row.get("FirstName"), row.get("LastName")) if p)


def _opportunity(store: Store, table: Table, row: Row, given: Row, insert: bool) -> None:
    stage_field = table.obj.field("StageName")
    stage = stage_field.picklist_value(row["StageName"]) if stage_field else None
    if stage is not None and (insert or "StageName" in given):
        meta = stage.meta
        if "Probability" not in given:
            row["Probability"] = float(meta.get("probability", 0))
        if "ForecastCategoryName" not in given:
            row["ForecastCategoryName"] = str(meta.get("forecastCategory", "Pipeline"))
        row["IsClosed"] = int(bool(meta.get("closed", False)))
        row["IsWon"] = int(bool(meta.get("won", False)))
    category = row.get("ForecastCategoryName")
    row["ForecastCategory"] = FORECAST_CATEGORY.get(category, category) if category else None
    amount, probability = row.get("Amount"), row.get("Probability")
    row["ExpectedRevenue"] = (
        round(amount * probability / 100.0, 2)
        if amount is not None and probability is not None
        else None
    )


def _lookup(store: Store, obj_name: str, record_id: str | None, *names: str) -> Row | None:
    if record_id is None:
        return None
    table = store.tables[obj_name]
    cols = ", ".join(f'"{n}"' for n in names)
    found = store.conn.execute(
        f'SELECT {cols} FROM {table.sql_name} WHERE "Id" = ? AND "IsDeleted" = 0', (record_id,)
    ).fetchone()
    return dict(zip(names, found, strict=True)) if found else None


def _pricebook_entry(store: Store, table: Table, row: Row, given: Row, insert: bool) -> None:
    product = _lookup(store, "Product2", row.get("Product2Id"), "Name", "ProductCode")
    if product:
        row["Name"], row["ProductCode"] = product["Name"], product["ProductCode"]
    if not insert:
        return
    books = store.tables["Pricebook2"]
    standard = store.conn.execute(
        f'SELECT "Id" FROM {books.sql_name} WHERE "IsStandard" = 1 AND "IsDeleted" = 0'
    ).fetchone()
    same = store.conn.execute(
        f'SELECT "Pricebook2Id" FROM {table.sql_name} WHERE "Product2Id" = ? AND "IsDeleted" = 0',
        (row["Product2Id"],),
    ).fetchall()
    books_with_entry = {r[0] for r in same}
    if row["Pricebook2Id"] in books_with_entry:
        raise RecordError(
            "DUPLICATE_VALUE", "This price definition already exists in this price book", []
        )
    if standard and row["Pricebook2Id"] != standard[0] and standard[0] not in books_with_entry:
        raise RecordError(
            "STANDARD_PRICE_NOT_DEFINED",
            "Before creating a custom price, create a standard price.",
            [],
        )


def _line_prices(row: Row, given: Row, insert: bool, entry: Row | None, total_field: bool) -> None:
    if entry is not None:
        row["ListPrice"] = entry["UnitPrice"]
        row["Product2Id"] = entry["Product2Id"]
    discount = (row.get("Discount") or 0.0) / 100.0
    quantity = row.get("Quantity") or 0.0
    if total_field and "TotalPrice" in given and given["TotalPrice"] is not None:
        if "UnitPrice" in given and given["UnitPrice"] is not None:
            raise RecordError(
                "FIELD_INTEGRITY_EXCEPTION",
                "field integrity exception: TotalPrice (only one of UnitPrice or TotalPrice"
                " may be specified)",
                ["TotalPrice"],
            )
        net = quantity * (1 - discount)
        row["UnitPrice"] = round(given["TotalPrice"] / net, 2) if net else 0.0
    if row.get("UnitPrice") is None:
        raise RecordError(
            "REQUIRED_FIELD_MISSING", "Required fields are missing: [UnitPrice]", ["UnitPrice"]
        )
    subtotal = round(quantity * row["UnitPrice"], 2)
    if "Subtotal" in row:
        row["Subtotal"] = subtotal
    row["TotalPrice"] = round(subtotal * (1 - discount), 2)


def _line_entry(
    store: Store, row: Row, parent_obj: str, parent_field: str, insert: bool
) -> Row | None:
    """Load the line's price book entry and tie the parent to that entry's price book."""
    entry = _lookup(
        store,
        "PricebookEntry",
        row.get("PricebookEntryId"),
        "UnitPrice",
        "Product2Id",
        "Pricebook2Id",
    )
    if not insert or entry is None:
        return entry
    parent = _lookup(store, parent_obj, row.get(parent_field), "Pricebook2Id")
    if parent is None:
        return entry
    if parent["Pricebook2Id"] is None:
        table = store.tables[parent_obj]
        store.conn.execute(
            table.update_statement(("Pricebook2Id",)), (entry["Pricebook2Id"], row[parent_field])
        )
    elif parent["Pricebook2Id"] != entry["Pricebook2Id"]:
        raise RecordError(
            "FIELD_INTEGRITY_EXCEPTION",
            "field integrity exception: PricebookEntryId (pricebook entry is in a different"
            f" pricebook than the one assigned to the {parent_obj.lower()})",
            ["PricebookEntryId"],
        )
    return entry


def _opportunity_line(store: Store, table: Table, row: Row, given: Row, insert: bool) -> None:
    if insert and row.get("PricebookEntryId") is None:
        raise RecordError(
            "REQUIRED_FIELD_MISSING",
            "Required fields are missing: [PricebookEntryId]",
            ["PricebookEntryId"],
        )
    entry = _line_entry(store, row, "Opportunity", "OpportunityId", insert)
    product = _lookup(
        store,
        "Product2",
        row.get("Product2Id") or (entry or {}).get("Product2Id"),
        "Name",
        "ProductCode",
    )
    if product:
        row["Name"], row["ProductCode"] = product["Name"], product["ProductCode"]
    _line_prices(row, given, insert, entry, total_field=True)


def _quote(store: Store, table: Table, row: Row, given: Row, insert: bool) -> None:
    opp = _lookup(store, "Opportunity", row.get("OpportunityId"), "AccountId", "Pricebook2Id")
    if opp:
        row["AccountId"] = opp["AccountId"]
        if insert and row.get("Pricebook2Id") is None:
            row["Pricebook2Id"] = opp["Pricebook2Id"]
    total = row.get("TotalPrice") or 0.0
    row["GrandTotal"] = round(
        total + (row.get("Tax") or 0.0) + (row.get("ShippingHandling") or 0.0), 2
    )


def _quote_line(store: Store, table: Table, row: Row, given: Row, insert: bool) -> None:
    entry = _line_entry(store, row, "Quote", "QuoteId", insert)
    _line_prices(row, given, insert, entry, total_field=False)


def _order(store: Store, table: Table, row: Row, given: Row, insert: bool) -> None:
    if not insert and row.get("StatusCode") == "Activated" and "AccountId" in given:
        # The account of an order can only change while the order is a draft.
        raise RecordError(
            "FIELD_INTEGRITY_EXCEPTION",
            "field integrity exception: AccountId (the account of an activated order cannot"
            " change)",
            ["AccountId"],
        )
    status_field = table.obj.field("Status")
    status = (
        status_field.picklist_value(row["Status"]) if status_field and row.get("Status") else None
    )
    row["StatusCode"] = str(status.meta.get("statusCode", status.value)) if status else None
    if row["StatusCode"] == "Activated" and row.get("ActivatedDate") is None:
        row["ActivatedDate"] = store.now
    elif row["StatusCode"] == "Draft":
        row["ActivatedDate"] = None


def _order_line(store: Store, table: Table, row: Row, given: Row, insert: bool) -> None:
    entry = _line_entry(store, row, "Order", "OrderId", insert)
    _line_prices(row, given, insert, entry, total_field=False)


_BEFORE: dict[str, Callable[[Store, Table, Row, Row, bool], None]] = {
    "Contact": _full_name,
    "User": _full_name,
    "Opportunity": _opportunity,
    "PricebookEntry": _pricebook_entry,
    "OpportunityLineItem": _opportunity_line,
    "Quote": _quote,
    "QuoteLineItem": _quote_line,
    "Order": _order,
    "OrderItem": _order_line,
}

# child object -> (parent object, parent reference field, {parent field: SQL aggregate})
_ROLLUPS: dict[str, tuple[str, str, dict[str, str]]] = {
    "OpportunityLineItem": (
        "Opportunity",
        "OpportunityId",
        {"Amount": 'sum("TotalPrice")', "HasOpportunityLineItem": "count(*) > 0"},
    ),
    "QuoteLineItem": (
        "Quote",
        "QuoteId",
        {"Subtotal": 'sum("Subtotal")', "TotalPrice": 'sum("TotalPrice")'},
    ),
    "OrderItem": ("Order", "OrderId", {"TotalAmount": 'sum("TotalPrice")'}),
}


def has_rules(obj_name: str) -> bool:
    """Whether saving a record of ``obj_name`` may run rules that write other records."""
    return obj_name in _BEFORE or obj_name in _ROLLUPS


def before_save(store: Store, table: Table, row: Row, given: Row, insert: bool) -> None:
    """Fill calculated fields of ``row`` (the full stored record) and check object rules.

    Args:
        store: the open store (for look-ups of related records).
        table: the record's table.
        row: the whole record after the change, in stored form; updated in place.
        given: the fields the caller set in this call (stored form).
        insert: True for a new record.

    Raises:
        RecordError: an object rule is broken (price book mismatch, missing standard price ...).
    """
    hook = _BEFORE.get(table.obj.name)
    if hook is not None:
        hook(store, table, row, given, insert)


def after_save(store: Store, table: Table, row: Row) -> None:
    """Recompute parent roll-ups after a line was inserted, changed, deleted or restored."""
    rollup = _ROLLUPS.get(table.obj.name)
    if rollup is None or rollup[0] not in store.tables:
        return
    parent_name, ref_field, aggregates = rollup
    parent_id = row.get(ref_field)
    if parent_id is None:
        return
    exprs = ", ".join(aggregates.values())
    values = list(
        store.conn.execute(
            f'SELECT {exprs} FROM {table.sql_name} WHERE "{ref_field}" = ? AND "IsDeleted" = 0',
            (parent_id,),
        ).fetchone()
    )
    parent = store.tables[parent_name]
    names = (*aggregates, "LastModifiedDate", "SystemModstamp")
    store.conn.execute(parent.update_statement(names), [*values, store.now, store.now, parent_id])
    if parent_name == "Opportunity":
        _refresh_expected_revenue(store, parent_id)
    elif parent_name == "Quote":
        store.conn.execute(
            f'UPDATE {parent.sql_name} SET "GrandTotal" = round(coalesce("TotalPrice", 0)'
            ' + coalesce("Tax", 0) + coalesce("ShippingHandling", 0), 2) WHERE "Id" = ?',
            (parent_id,),
        )


def _refresh_expected_revenue(store: Store, opp_id: str) -> None:
    table = store.tables["Opportunity"]
    store.conn.execute(
        f'UPDATE {table.sql_name} SET "ExpectedRevenue" ='
        ' round("Amount" * "Probability" / 100.0, 2) WHERE "Id" = ?',
        (opp_id,),
    )
