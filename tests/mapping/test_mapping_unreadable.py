"""A record a connector could not read whole (:class:`UnreadableFields`) is refused by the
mapper with the connector's reason, whatever its other values: the pipeline dead-letters it.

Before the fix a connector had no way to say so: a SQL query's bytes reached the mapper as
they were read, and a field the canonical model does not check passed them on.
"""

from __future__ import annotations

import pytest

from tandem.connectors.base import UnreadableFields
from tandem.errors import MappingError
from tandem.mapping import Mapper

from .conftest import MemoryRefs


def test_unreadable_fields_are_refused_naming_record_field_and_value(
    mapper: Mapper, refs: MemoryRefs
) -> None:
    fields = UnreadableFields(
        {"name": "Acme", "nip": "5260001246", "code": "A1", "country": "PL", "hold": "N"},
        field="note",
        value=b"\xff\xfe",
        reason="entity customer ('customers'): column 'note' holds 2 bytes that are not text",
    )
    with pytest.raises(MappingError) as caught:
        mapper.to_canonical("customer", "erp", fields, "9", refs)
    error = caught.value
    assert (error.record, error.field, error.value) == ("9", "note", b"\xff\xfe")
    assert str(error) == (
        "record 9, field note, value b'\\xff\\xfe': entity customer ('customers'): "
        "column 'note' holds 2 bytes that are not text"
    )
    readable = dict(fields)  # the same values, read whole, map
    assert mapper.to_canonical("customer", "erp", readable, "9", refs)["name"] == "Acme"
