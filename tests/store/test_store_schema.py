"""Migrations, schema checks, backend set-up and error translation."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from tandem.errors import StoreError
from tandem.store import StateStore
from tandem.store.engine import VERSION_TABLE, compare_column_type, head_revision, normalise_url
from tandem.store.schema import metadata


def test_migrate_from_empty_creates_every_table(store: StateStore, store_url: str) -> None:
    engine = sa.create_engine(store_url)
    try:
        tables = set(sa.inspect(engine).get_table_names())
        assert {t.name for t in metadata.sorted_tables} | {VERSION_TABLE} <= tables
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
            assert context.get_current_revision() == head_revision()
    finally:
        engine.dispose()


def test_migrated_schema_matches_the_table_definitions(store: StateStore, store_url: str) -> None:
    engine = sa.create_engine(store_url)
    # The test databases are shared with other suites (the ERP change log lives there too,
    # with column types SQLAlchemy does not know): only the store's own tables are compared.
    ours = {t.name for t in metadata.sorted_tables}

    def own(name: str | None, type_: str, parent_names: object) -> bool:
        return type_ != "table" or name in ours

    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "version_table": VERSION_TABLE,
                    "compare_type": compare_column_type,
                    "include_name": own,
                },
            )
            diffs = compare_metadata(context, metadata)
        tandem_diffs = [d for d in diffs if any(f"'{name}'" in repr(d) for name in ours)]
        assert tandem_diffs == []
    finally:
        engine.dispose()


def test_migrate_twice_is_harmless(store: StateStore, name: str) -> None:
    store.link(name, "1", "A")
    store.migrate()
    assert store.partner(name, "erp", "1") == "A"


def test_unmigrated_store_refuses_and_names_migrate(tmp_path: Path) -> None:
    store = StateStore(f"sqlite:///{tmp_path}/fresh.db")
    with pytest.raises(StoreError, match="migrate"):
        store.count_links("customer")
    store.migrate()
    assert store.count_links("customer") == 0
    store.close()


def test_auto_migrate_on_open(tmp_path: Path) -> None:
    with StateStore(f"sqlite:///{tmp_path}/auto.db", auto_migrate=True) as store:
        store.link("customer", "1", "A")
        assert store.count_links("customer") == 1


def test_schema_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/newer.db"
    StateStore(url, auto_migrate=True).close()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = 'ffff'"))
    engine.dispose()
    with StateStore(url) as store, pytest.raises(StoreError, match="newer"):
        store.count_links("customer")


def test_sqlite_file_folder_is_created_and_wal_is_on(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "state.db"
    with StateStore(f"sqlite:///{path}", auto_migrate=True) as store:
        store.link("customer", "1", "A")
        assert store.dialect == "sqlite"
    assert path.exists()
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()


def test_urls_without_a_driver_get_the_shipped_one() -> None:
    assert normalise_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert normalise_url("mariadb://u@h/db").drivername == "mariadb+pymysql"
    assert normalise_url("mysql://u@h/db").drivername == "mysql+pymysql"
    assert normalise_url("sqlite:///x.db").drivername == "sqlite"


def test_bad_url_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="not valid"):
        StateStore("not a url")


def test_unreachable_server_is_a_store_error_without_password() -> None:
    store = StateStore("postgresql://tandem:s3cret@127.0.0.1:1/nowhere")
    with pytest.raises(StoreError) as info:
        store.count_links("customer")
    assert "s3cret" not in str(info.value)
    assert isinstance(info.value.__cause__, sa.exc.SQLAlchemyError)
    store.close()


def test_database_errors_become_store_errors(tmp_path: Path, name: str) -> None:
    # On SQLite only: dropping a table of the shared server databases would break other tests.
    store_url = f"sqlite:///{tmp_path / 'own.db'}"
    store = StateStore(store_url)
    store.migrate()
    engine = sa.create_engine(store_url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE tandem_link"))
    engine.dispose()
    with pytest.raises(StoreError, match="link") as info:
        store.link(name, "1", "A")
    assert isinstance(info.value.__cause__, sa.exc.SQLAlchemyError)
    store.close()


def test_in_memory_sqlite_works(name: str) -> None:
    with StateStore("sqlite://", auto_migrate=True) as store:
        store.link(name, "1", "A")
        assert store.partner(name, "crm", "A") == "1"


def test_public_api_is_sorted_and_importable() -> None:
    import tandem.store

    assert tandem.store.__all__ == sorted(tandem.store.__all__)
    for item in tandem.store.__all__:
        assert getattr(tandem.store, item) is not None
