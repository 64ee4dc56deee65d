"""Connectors: one per system, behind one contract (:mod:`tandem.connectors.base`).

:func:`~tandem.connectors.registry.create_connector` builds one from a connection's type and
settings. Connectors are leaves: they know their system and the contract, never the pipeline
or the state store.
"""
