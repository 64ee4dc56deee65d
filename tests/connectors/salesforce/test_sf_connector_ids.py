"""A Salesforce Id written in its 15-character form is taken in its 18-character one: the
connector's key-normalising hook (``KeyNormaliser``), the form Salesforce answers with."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tandem.connectors.base import KeyNormaliser
from tandem.connectors.salesforce import SalesforceConnector
from tandem.connectors.salesforce.ids import id18
from tandem.connectors.sql.connector import SqlConnector
from tandem.connectors.sql.settings import SqlSettings

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def plain_id18(id15: str) -> str:
    """The suffix by its documented steps: 3 chunks of 5, each reversed, upper-case letters
    as 1 and anything else as 0, the binary number indexing A-Z0-5."""
    suffix = ""
    for chunk in (id15[0:5], id15[5:10], id15[10:15]):
        bits = "".join("1" if "A" <= c <= "Z" else "0" for c in reversed(chunk))
        suffix += ALPHABET[int(bits, 2)]
    return id15 + suffix


@pytest.fixture
def connector(make_connector: Callable[..., SalesforceConnector]) -> SalesforceConnector:
    return make_connector()


def test_salesforce_normalises_its_keys_and_sql_does_not(
    connector: SalesforceConnector, tmp_path: Path
) -> None:
    assert isinstance(connector, KeyNormaliser)
    sql = SqlConnector(SqlSettings(url=f"sqlite:///{tmp_path}/erp.db"))
    assert not isinstance(sql, KeyNormaliser)  # one form of each key: taken as it is


@pytest.mark.parametrize(
    ("id15", "expected"),
    [
        ("001D000000IRFma", "001D000000IRFmaIAH"),  # Salesforce's help on converting Ids
        ("0019000000B98de", "0019000000B98deAAB"),  # the published worked examples
        ("a0D30000001n7Pi", "a0D30000001n7PiEAI"),
        ("500x000000003TR", "500x000000003TRAAY"),
        ("000000000000000", "000000000000000AAA"),
        ("ZZZZZZZZZZZZZZZ", "ZZZZZZZZZZZZZZZ555"),
        ("AbCdEfGhIjKlMnO", "AbCdEfGhIjKlMnOVKV"),
    ],
)
def test_known_pairs(connector: SalesforceConnector, id15: str, expected: str) -> None:
    assert plain_id18(id15) == expected
    assert connector.normalise_key(id15) == expected
    assert connector.normalise_key(expected) == expected  # already the 18-character form


@pytest.mark.parametrize(
    "other", ["", "1", "001D000000IRFm", "001D000000IRFmaI", "001D00000-IRFma", "N/A"]
)
def test_anything_else_is_kept(connector: SalesforceConnector, other: str) -> None:
    assert connector.normalise_key(other) == other


@given(
    st.text(
        alphabet="0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
        min_size=15,
        max_size=15,
    )
)
def test_the_suffix_is_its_definition(id15: str) -> None:
    long = id18(id15)
    assert long == plain_id18(id15)
    # case-safe: the suffix tells apart two Ids that differ only in case
    swapped = id18(id15.swapcase())
    assert (long.upper() == swapped.upper()) == (id15 == id15.swapcase())
