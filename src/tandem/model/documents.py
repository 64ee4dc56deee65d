"""The transaction register: quotes, orders and invoices with their lines.

Lines are also models of their own (``quote_line``, ...) because systems keep them as separate
records (Salesforce ``QuoteLineItem``, ``OrderItem``); a line names its document by ``document``.
Every amount is a :class:`Money`; a document's amounts must be in the document's currency.
"""

from __future__ import annotations

from datetime import date
from typing import Literal, Self

from pydantic import model_validator

from tandem.model.types import (
    CanonicalModel,
    Code,
    CurrencyCode,
    LongText,
    Money,
    Percent,
    Quantity,
    Ref,
    Text,
)


class DocumentLine(CanonicalModel):
    """One line of a quote, order or invoice."""

    document: Ref | None = None
    line_number: int | None = None
    product: Ref | None = None
    description: LongText | None = None
    quantity: Quantity
    unit: Code | None = None
    unit_price: Money
    discount_percent: Percent | None = None
    tax_rate: Percent | None = None
    tax_code: Code | None = None
    total: Money | None = None

    @model_validator(mode="after")
    def _same_currency(self) -> Self:
        if self.total is not None and self.total.currency != self.unit_price.currency:
            raise ValueError("line total and unit price are in different currencies")
        return self


class Document(CanonicalModel):
    """Fields common to quotes, orders and invoices."""

    number: Code | None = None
    customer: Ref
    currency: CurrencyCode
    issue_date: date | None = None
    status: Text | None = None
    subtotal: Money | None = None
    tax_total: Money | None = None
    total: Money | None = None
    notes: LongText | None = None

    @model_validator(mode="after")
    def _amounts_in_document_currency(self) -> Self:
        for name in ("subtotal", "tax_total", "total"):
            money = getattr(self, name)
            if money is not None and money.currency != self.currency:
                raise ValueError(f"{name} is in {money.currency}, the document in {self.currency}")
        return self


QuoteStatus = Literal["draft", "sent", "accepted", "rejected", "expired"]
OrderStatus = Literal["draft", "confirmed", "in_progress", "done", "cancelled"]
InvoiceStatus = Literal["draft", "posted", "paid", "partially_paid", "cancelled"]


class QuoteLine(DocumentLine):
    """A line of a quote."""


class Quote(Document):
    """A quote (offer) to a customer."""

    status: QuoteStatus | None = None
    valid_until: date | None = None
    opportunity: Ref | None = None
    price_list: Ref | None = None
    lines: list[QuoteLine] = []


class OrderLine(DocumentLine):
    """A line of a sales order."""


class Order(Document):
    """A sales order."""

    status: OrderStatus | None = None
    quote: Ref | None = None
    opportunity: Ref | None = None
    price_list: Ref | None = None
    requested_date: date | None = None
    lines: list[OrderLine] = []


class InvoiceLine(DocumentLine):
    """A line of an invoice."""


class Invoice(Document):
    """A sales invoice."""

    status: InvoiceStatus | None = None
    order: Ref | None = None
    due_date: date | None = None
    sale_date: date | None = None
    amount_due: Money | None = None
    lines: list[InvoiceLine] = []


__all__ = [
    "Document",
    "DocumentLine",
    "Invoice",
    "InvoiceLine",
    "InvoiceStatus",
    "Order",
    "OrderLine",
    "OrderStatus",
    "Quote",
    "QuoteLine",
    "QuoteStatus",
]
