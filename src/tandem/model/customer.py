"""Customer (account) and its postal addresses."""

from __future__ import annotations

from pydantic import Field

from tandem.model.types import (
    CanonicalModel,
    Code,
    CountryCode,
    CurrencyCode,
    Email,
    EuVat,
    LongText,
    Nip,
    Phone,
    Ref,
    TaxId,
    Text,
    Url,
)


class Address(CanonicalModel):
    """A postal address; ``country`` is an ISO 3166-1 alpha-2 code."""

    street: LongText | None = None
    city: Text | None = None
    postal_code: str | None = Field(default=None, max_length=20)
    region: Text | None = None
    country: CountryCode | None = None


class Customer(CanonicalModel):
    """A customer: the ERP's business partner, the CRM's account.

    Tax identifiers: ``tax_id`` accepts any country's number (EU VAT format checked, 10 digits
    checked as a Polish NIP); ``nip`` is strictly a Polish NIP; ``vat_id`` an EU VAT number.
    ``sales_rep`` names the representative who owns the account; the whole account team, each
    in a role, is :class:`~tandem.model.representative.Representative` records.
    """

    name: Text
    number: Code | None = None
    tax_id: TaxId | None = None
    nip: Nip | None = None
    vat_id: EuVat | None = None
    billing_address: Address | None = None
    shipping_address: Address | None = None
    phone: Phone | None = None
    email: Email | None = None
    website: Url | None = None
    sales_rep: Text | None = None
    credit_hold: bool = False
    currency: CurrencyCode | None = None
    industry: Text | None = None
    parent: Ref | None = None
    active: bool = True
    description: LongText | None = None


__all__ = ["Address", "Customer"]
