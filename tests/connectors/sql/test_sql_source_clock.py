"""The SQL connector tells the database server's time, the clock its change log is stamped by."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from tandem.connectors.sql import SqlConnector, SqlSettings
from tandem.connectors.sql.clock import database_time
from tandem.connectors.sql.settings import create_engine


def _server_time(url: str) -> object:
    engine = create_engine(SqlSettings(url=url))
    try:
        with engine.connect() as conn:
            return database_time(conn)
    finally:
        engine.dispose()


async def test_source_time_is_the_servers_and_never_later(db_url: str) -> None:
    connector = SqlConnector({"url": db_url})
    await connector.open()
    try:
        before = _server_time(db_url)
        told = await connector.source_time()
        again = await connector.source_time()  # told from the offset: no second read
        after = _server_time(db_url)
    finally:
        await connector.close()
    assert isinstance(before, type(told)) and told is not None and again is not None
    assert told.tzinfo is not None
    # The servers tell their time to the millisecond (SQLite) or microsecond: never later
    # than the server's next reading, at that resolution.
    tick = timedelta(milliseconds=1)
    assert before - timedelta(seconds=1) <= told <= after + tick  # type: ignore[operator]
    assert told <= again <= after + tick  # type: ignore[operator]


def test_database_time_is_aware_utc(db_url: str) -> None:
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            when = database_time(conn)
    finally:
        engine.dispose()
    assert when.utcoffset() == timedelta(0)
