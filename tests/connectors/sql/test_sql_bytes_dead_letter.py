"""A sync over a SQLite ERP whose text columns hold blobs: UTF-8 text syncs as text, other
bytes dead-letter their record (naming the entity, the record, the column and the value), and
the rest of the batch syncs.

Before the fix the bytes went to the mapper as they were read: a canonical text field took
UTF-8 bytes by accident (pydantic decodes them) and refused other bytes with a message naming
neither the entity nor the column, and a field the model does not check passed them on.
Run through the table itself (SQLite lets a ``TEXT`` column hold a blob) and through a query
over it, whose columns no type describes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tandem_env import Env, build_env

from tandem.pipeline.runtime import running_engine

BAD = b"\xff\xfe\x00binary"
QUERY = (
    "{source: customers_q, key: id, external_id: crm_id, "
    "options: {query: 'SELECT * FROM customers', write_table: customers}}"
)


@pytest.fixture(params=["table", "query"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    def as_query(text: str) -> str:
        old = "erp: {source: customers, key: id, external_id: crm_id}"
        assert old in text
        return text.replace(old, f"erp: {QUERY}")

    shape = as_query if request.param == "query" else None
    yield from build_env(
        tmp_path, f"sqlite:///{tmp_path / 'erp.db'}", customers=3, shape_flow=shape
    )


async def test_a_blob_that_is_no_text_dead_letters_its_record_and_text_bytes_sync(
    env: Env,
) -> None:
    env.fix_the_bad_nip()
    env.erp("UPDATE customers SET city = :c WHERE id = 1", c=BAD)
    env.erp("UPDATE customers SET city = :c WHERE id = 2", c="Łódź".encode())
    async with running_engine(env.flow()) as engine:
        await engine.sync()
        letters = engine.store.dead_letters(flow=engine.flow.name, status="open")
    (letter,) = [dl for dl in letters if dl.entity == "customer"]
    waiting = {(dl.entity, dl.code) for dl in letters if dl is not letter}
    assert waiting <= {("contact", "UNLINKED_REF")}, letters  # customer 1's contacts wait
    assert (letter.entity, letter.side, letter.record_key) == ("customer", "erp", "1")
    assert letter.field == "city"
    assert letter.value == repr(BAD)
    assert "entity customer" in letter.message and "'city'" in letter.message
    assert "9 bytes that are not UTF-8 text" in letter.message
    assert "city" not in letter.payload  # the bytes never enter the pipeline
    rows = env.crm_rows("SELECT ERP_Id__c, BillingCity FROM Account")
    cities = {row["ERP_Id__c"]: row["BillingCity"] for row in rows}
    assert "1" not in cities
    assert cities["2"] == "Łódź"
    assert "3" in cities
