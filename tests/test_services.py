"""The database servers the integration tests rely on answer."""

from __future__ import annotations

import sqlalchemy as sa


def test_postgres_answers(pg_url: str) -> None:
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT 1 + 1")).scalar_one() == 2
    engine.dispose()


def test_mariadb_answers(mariadb_url: str) -> None:
    engine = sa.create_engine(mariadb_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT 1 + 1")).scalar_one() == 2
    engine.dispose()
