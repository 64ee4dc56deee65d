"""The canonical model: what a customer, a product or an invoice is, whatever the system.

Pure: no I/O. Every touch point of an ERP <-> CRM integration has a pydantic model here, looked up
by type name in :data:`MODELS`; :func:`validate_field` checks one field value through its type.
"""

from tandem.model.contact import Contact
from tandem.model.customer import Address, Customer
from tandem.model.documents import (
    Document,
    DocumentLine,
    Invoice,
    InvoiceLine,
    Order,
    OrderLine,
    Quote,
    QuoteLine,
)
from tandem.model.fulfilment import Fulfilment
from tandem.model.opportunity import Forecast, Opportunity, OpportunityLine
from tandem.model.payment import Payment
from tandem.model.pricing import PriceList, PriceListEntry
from tandem.model.product import Product, ProductCategory
from tandem.model.registry import (
    MODELS,
    CanonicalField,
    FieldKind,
    build_record,
    canonical_field,
    validate_field,
    validator_for,
)
from tandem.model.representative import Representative
from tandem.model.types import CanonicalModel, Money

__all__ = [
    "MODELS",
    "Address",
    "CanonicalField",
    "CanonicalModel",
    "Contact",
    "Customer",
    "Document",
    "DocumentLine",
    "FieldKind",
    "Forecast",
    "Fulfilment",
    "Invoice",
    "InvoiceLine",
    "Money",
    "Opportunity",
    "OpportunityLine",
    "Order",
    "OrderLine",
    "Payment",
    "PriceList",
    "PriceListEntry",
    "Product",
    "ProductCategory",
    "Quote",
    "QuoteLine",
    "Representative",
    "build_record",
    "canonical_field",
    "validate_field",
    "validator_for",
]
