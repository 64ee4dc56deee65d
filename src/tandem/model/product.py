"""Product categories and products or services."""

from __future__ import annotations

from typing import Literal

from tandem.model.types import CanonicalModel, Code, LongText, Ref, Text

ProductKind = Literal["product", "service"]


class ProductCategory(CanonicalModel):
    """A product category (the CRM's product family); may nest under a parent."""

    name: Text
    code: Code | None = None
    parent: Ref | None = None


class Product(CanonicalModel):
    """A product or service that can be priced, quoted, ordered and invoiced."""

    code: Code
    name: Text
    kind: ProductKind = "product"
    unit: Code | None = None
    category: Ref | None = None
    description: LongText | None = None
    active: bool = True


__all__ = ["Product", "ProductCategory", "ProductKind"]
