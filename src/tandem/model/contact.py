"""Contact person of a customer."""

from __future__ import annotations

from tandem.model.types import CanonicalModel, Email, Phone, Ref, Text


class Contact(CanonicalModel):
    """A person at a customer; ``customer`` references the customer record."""

    last_name: Text
    first_name: Text | None = None
    email: Email | None = None
    phone: Phone | None = None
    mobile: Phone | None = None
    title: Text | None = None
    department: Text | None = None
    customer: Ref | None = None
    active: bool = True


__all__ = ["Contact"]
