"""The Bulk CSV shortcuts give the bytes and cells of the ``csv`` module, quoting or not."""

from __future__ import annotations

import csv
import io
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tandem.connectors.salesforce.bulk_csv import _CHUNK_ROWS, csv_chunks, three_columns

CELL = st.one_of(
    st.text(alphabet='ab,"\r\n \x00é', max_size=6),
    st.sampled_from(["", "x", "001AA", "true", "Kraków"]),
)
"""Cells with and without what the writer must quote (comma, quote, line ends)."""


def written(columns: list[str], rows: list[Any]) -> bytes:
    """What ``csv.writer`` makes of the upload, in one piece."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.text(alphabet="ab_,", min_size=1, max_size=4), min_size=1, max_size=3),
    st.lists(st.lists(CELL, max_size=4), max_size=6),
)
def test_chunks_are_the_writers_bytes(columns: list[str], rows: list[list[str]]) -> None:
    assert b"".join(csv_chunks(columns, rows)) == written(columns, rows)


def test_a_chunk_with_a_cell_to_quote_or_no_text_goes_through_the_writer() -> None:
    plain = [["a", "b"]] * (_CHUNK_ROWS + 1)
    rows: list[Any] = [*plain, ["x,y", ""], [""], [1, None], ["a", "b"]]
    chunks = list(csv_chunks(["Id", "Name"], rows))
    assert len(chunks) == 2
    assert b"".join(chunks) == written(["Id", "Name"], rows)
    assert chunks[1].endswith(b'"x,y",\n""\n1,\na,b\n')


def reference(text: str, names: tuple[str, str, str]) -> list[tuple[str, str, str]]:
    """Three columns by ``csv.reader``, rows shorter than the columns wanted left out."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return []
    where = {name: i for i, name in enumerate(rows[0])}
    wanted = [where.get(name) for name in names]
    width = max((i for i in wanted if i is not None), default=-1)
    return [
        (
            cells[wanted[0]] if wanted[0] is not None else "",
            cells[wanted[1]] if wanted[1] is not None else "",
            cells[wanted[2]] if wanted[2] is not None else "",
        )
        for cells in rows[1:]
        if len(cells) > width
    ]


HEADERS = st.sampled_from(
    [
        "sf__Id,sf__Created,ERP_Id__c,Name",
        "ERP_Id__c,sf__Created,sf__Id",
        "sf__Id,sf__Created,Name",  # no key column
        "sf__Id,sf__Created,sf__Id,ERP_Id__c",  # a name twice: the last one counts
        "",
    ]
)
LINES = st.lists(st.lists(CELL.filter(lambda c: '"' not in c), max_size=6), max_size=6)


@settings(max_examples=300, deadline=None)
@given(HEADERS, LINES, st.booleans(), st.booleans())
def testthree_columns_are_the_readers_cells(
    header: str, lines: list[list[str]], quoted: bool, end: bool
) -> None:
    body = [",".join(cells) for cells in lines]
    if quoted and body:
        body[0] = '"a,b"' + body[0]
    text = "\n".join([header, *body]) + ("\n" if end else "")
    names = ("sf__Id", "sf__Created", "ERP_Id__c")
    assert answer(three_columns, text, names) == answer(reference, text, names)


def answer(read: Any, text: str, names: tuple[str, str, str]) -> object:
    """The cells read, or the error the reader raised (a stray ``\\r`` is one)."""
    try:
        return read(text, names)
    except csv.Error as exc:
        return f"csv.Error: {exc}"


def testthree_columns_of_a_result_file() -> None:
    text = "sf__Id,sf__Created,ERP_Id__c,Name\n001A,true,7,Acme\n\n001B,false,8\n001C,true\n"
    assert three_columns(text, ("sf__Id", "sf__Created", "ERP_Id__c")) == [
        ("001A", "true", "7"),
        ("001B", "false", "8"),
    ]
