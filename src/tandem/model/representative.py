"""A customer's representative: a salesperson or account-team member assigned to it.

An ERP keeps the salespeople assigned to a business partner (an account manager, a key-account
manager, the back-office contact); a CRM keeps the same as the account's owner and its account
team (Salesforce ``AccountTeamMember``: a user, a role, the access the role grants). The person
is named by a reference to the user record when the flow syncs users, else by name and e-mail,
the key both systems share.
"""

from __future__ import annotations

from typing import Literal

from tandem.model.types import CanonicalModel, Email, Phone, Ref, Text

Access = Literal["read", "edit", "all"]
"""What the representative may do with the customer's records in the CRM."""


class Representative(CanonicalModel):
    """One person representing the company to a customer, in one role.

    ``customer`` references the customer record; ``user`` the person's user record where the
    flow syncs users. ``primary`` marks the one representative who owns the account (the
    customer's ``sales_rep``); at most one per customer should carry it.
    """

    customer: Ref
    name: Text
    role: Text | None = None
    user: Ref | None = None
    email: Email | None = None
    phone: Phone | None = None
    access: Access | None = None
    primary: bool = False
    active: bool = True


__all__ = ["Access", "Representative"]
