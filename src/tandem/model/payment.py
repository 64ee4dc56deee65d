"""Payment received against an invoice."""

from __future__ import annotations

from datetime import date
from typing import Literal

from tandem.model.types import CanonicalModel, Code, Money, Ref

PaymentMethod = Literal["bank_transfer", "card", "cash", "direct_debit", "compensation", "other"]


class Payment(CanonicalModel):
    """A payment (or part payment) of one invoice."""

    invoice: Ref
    amount: Money
    paid_on: date
    method: PaymentMethod = "bank_transfer"
    reference: Code | None = None


__all__ = ["Payment", "PaymentMethod"]
