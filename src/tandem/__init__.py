"""Tandem: keeps an on-premise ERP and a cloud CRM consistent, both ways."""

__version__ = "0.1.0"

__all__ = ["__version__"]
