"""Order fulfilment status: what has shipped, how, and when."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import Field

from tandem.model.types import CanonicalModel, Code, Ref, Text, UtcDatetime

FulfilmentStatus = Literal["pending", "partially_shipped", "shipped", "delivered", "cancelled"]


class Fulfilment(CanonicalModel):
    """The delivery state of one order (or one shipment of it)."""

    order: Ref
    status: FulfilmentStatus
    shipped_quantity: Decimal | None = Field(default=None, ge=0)
    carrier: Text | None = None
    tracking_number: Code | None = None
    shipped_at: UtcDatetime | None = None
    expected_date: date | None = None
    delivered_at: UtcDatetime | None = None


__all__ = ["Fulfilment", "FulfilmentStatus"]
