"""Reads by key build no statement per read: they leave no reference cycles behind."""

from __future__ import annotations

import gc

from sqlerp import Erp, customer

from tandem.connectors.sql import SqlConnector


async def _cyclic_garbage_of_reads(connector: SqlConnector, erp: Erp, reads: int) -> int:
    binding = erp.binding()
    keys = [str(k) for k in erp.insert(*(customer(f"Firm {n}") for n in range(50)))]
    await connector.read_records(binding, keys)  # the first read describes and warms up
    gc.collect()
    gc.disable()
    try:
        for _ in range(reads):
            found = await connector.read_records(binding, keys)
            assert sorted(found) == sorted(keys)
        return gc.collect()
    finally:
        gc.enable()


async def test_reading_records_by_key_again_and_again_leaves_no_cycles(
    erp: Erp, connector: SqlConnector
) -> None:
    assert await _cyclic_garbage_of_reads(connector, erp, 30) == 0
