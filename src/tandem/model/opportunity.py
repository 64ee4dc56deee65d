"""Sales opportunities with their lines, and sales forecasts."""

from __future__ import annotations

from datetime import date
from typing import Literal, Self

from pydantic import model_validator

from tandem.model.types import (
    CanonicalModel,
    Code,
    Money,
    Percent,
    Quantity,
    Ref,
    Text,
)

ForecastCategory = Literal["pipeline", "best_case", "commit", "closed", "omitted"]


class OpportunityLine(CanonicalModel):
    """A product line of an opportunity."""

    opportunity: Ref | None = None
    product: Ref | None = None
    quantity: Quantity
    unit_price: Money
    discount_percent: Percent | None = None
    service_date: date | None = None


class Opportunity(CanonicalModel):
    """A sales opportunity: stage, probability (0-100) and forecast category."""

    name: Text
    customer: Ref | None = None
    stage: Text
    probability: Percent | None = None
    forecast_category: ForecastCategory | None = None
    amount: Money | None = None
    close_date: date
    owner: Text | None = None
    price_list: Ref | None = None
    lines: list[OpportunityLine] = []

    @model_validator(mode="after")
    def _lines_in_amount_currency(self) -> Self:
        if self.amount is not None:
            for line in self.lines:
                if line.unit_price.currency != self.amount.currency:
                    raise ValueError("opportunity lines must be in the opportunity's currency")
        return self


class Forecast(CanonicalModel):
    """A sales forecast of one owner for one period and category."""

    period_start: date
    period_end: date
    owner: Text
    category: ForecastCategory
    amount: Money
    quota: Money | None = None
    name: Code | None = None

    @model_validator(mode="after")
    def _period_order(self) -> Self:
        if self.period_end < self.period_start:
            raise ValueError("period_end is before period_start")
        return self


__all__ = ["Forecast", "ForecastCategory", "Opportunity", "OpportunityLine"]
