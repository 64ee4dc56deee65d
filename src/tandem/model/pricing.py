"""Price lists and their entries; a price is always a :class:`Money` (amount with currency)."""

from __future__ import annotations

from datetime import date

from tandem.model.types import CanonicalModel, Code, CurrencyCode, Money, Ref, Text


class PriceList(CanonicalModel):
    """A price list (the CRM's price book)."""

    name: Text
    code: Code | None = None
    currency: CurrencyCode | None = None
    active: bool = True
    is_standard: bool = False
    valid_from: date | None = None
    valid_to: date | None = None


class PriceListEntry(CanonicalModel):
    """The price of one product in one price list."""

    product: Ref
    price_list: Ref
    unit_price: Money
    active: bool = True


__all__ = ["PriceList", "PriceListEntry"]
