"""Settings, connection failures, and secrets kept out of every message."""

from __future__ import annotations

import pytest
from sqlerp import Erp

from tandem.connectors.sql import SqlConnector, SqlSettings
from tandem.connectors.sql.settings import settings_from
from tandem.errors import ConfigError, Fatal, Retriable

SECRET = "s3cr3t-Pa55"


def test_password_is_merged_at_connect_time_and_hidden_everywhere() -> None:
    settings = SqlSettings(url="postgresql+psycopg://erp@db.local/erp", password=SECRET)
    assert settings.sqlalchemy_url().password == SECRET
    assert SECRET not in settings.safe_url() and "***" in settings.safe_url()
    assert SECRET not in repr(settings) and SECRET not in str(settings)
    inline = SqlSettings(url=f"mysql+pymysql://erp:{SECRET}@db.local/erp")
    assert SECRET not in repr(inline) and SECRET not in inline.safe_url()
    assert SECRET not in repr(SqlConnector(inline))


def test_schema_alias_and_identifier_checks() -> None:
    assert SqlSettings.model_validate({"url": "sqlite://", "schema": "erp"}).db_schema == "erp"
    with pytest.raises(ValueError, match="identifier"):
        SqlSettings(url="sqlite://", changelog_table="x; DROP TABLE y")


def test_unparsable_url_names_the_field_not_the_url() -> None:
    with pytest.raises(ConfigError) as info:
        settings_from({"url": f"not a url {SECRET}"})
    assert info.value.field == "url" and SECRET not in str(info.value)
    with pytest.raises(ValueError) as raw:
        SqlSettings(url=f"not a url {SECRET}")
    assert SECRET not in str(raw.value)


async def test_unreachable_server_is_retriable() -> None:
    conn = SqlConnector(SqlSettings(url="postgresql+psycopg://u@127.0.0.1:1/x", password=SECRET))
    with pytest.raises(Retriable) as info:
        await conn.open()
    assert SECRET not in str(info.value)
    await conn.close()


@pytest.mark.mariadb
async def test_refused_password_is_fatal_and_not_repeated(mariadb_url: str) -> None:
    conn = SqlConnector(SqlSettings(url=mariadb_url, password=SECRET))
    with pytest.raises(Fatal) as info:
        await conn.open()
    assert SECRET not in str(info.value) and "Access denied" in str(info.value)
    await conn.close()


@pytest.mark.postgres
async def test_missing_database_is_fatal_and_not_repeated(pg_url: str) -> None:
    url = pg_url.rsplit("/", 1)[0] + "/no_such_db_tandem"
    conn = SqlConnector(SqlSettings(url=url, password=SECRET))
    with pytest.raises(Fatal) as info:
        await conn.open()
    assert SECRET not in str(info.value)
    await conn.close()


async def test_record_messages_carry_no_secret(erp: Erp) -> None:
    from tandem.connectors.base import WriteOp

    url = erp.url
    # PostgreSQL here trusts local users, so a password is accepted and must never show.
    settings = erp.settings(password=SECRET) if erp.dialect == "postgresql" else erp.settings()
    conn = SqlConnector(settings)
    await conn.open()
    try:
        (out,) = await conn.write_batch(
            erp.binding(), [WriteOp(action="upsert", ref="r", values={"name": None}, match="M")]
        )
    finally:
        await conn.close()
    assert out.error is not None
    assert SECRET not in str(out.error) and url not in str(out.error)
