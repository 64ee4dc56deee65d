"""The schema revision read without Alembic: the head a constant, the stored one by SQL.

A store already at the head is opened and migrated with one plain read of the version table;
these tests hold that fast path equal to what Alembic itself answers.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from tandem.errors import StoreError
from tandem.store import StateStore
from tandem.store import engine as store_engine
from tandem.store.engine import (
    MIGRATIONS,
    SCHEMA_HEAD,
    VERSION_TABLE,
    alembic_config,
    alembic_head,
    check_schema,
    create_engine,
    current_revision,
    head_revision,
    migrate,
    stored_revisions,
)

# -- the head ----------------------------------------------------------------------------


def test_the_head_constant_is_alembics_head_of_the_shipped_migrations() -> None:
    """Adding a migration without moving SCHEMA_HEAD fails here, not in a user's store."""
    assert SCHEMA_HEAD == head_revision() == alembic_head()
    assert ScriptDirectory(str(MIGRATIONS)).get_current_head() == SCHEMA_HEAD


# -- the stored revision, by plain SQL ----------------------------------------------------


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("pg_fresh_url", id="postgresql", marks=pytest.mark.postgres),
        pytest.param("mariadb_fresh_url", id="mariadb", marks=pytest.mark.mariadb),
    ]
)
def fresh_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """The store engine of an empty database of this test alone, on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/state.db"
    else:
        url = request.getfixturevalue(request.param)
    engine = create_engine(url)
    yield engine
    engine.dispose()


def upgrade_to(engine: sa.Engine, revision: str) -> None:
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def set_version(engine: sa.Engine, revision: str) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = :v"), {"v": revision})


def read(engine: sa.Engine) -> list[str] | None:
    with engine.connect() as conn:
        return stored_revisions(conn)


def test_stored_revision_agrees_with_alembic_through_every_state(
    fresh_engine: sa.Engine,
) -> None:
    head = head_revision()
    assert read(fresh_engine) is None  # no version table yet
    assert current_revision(fresh_engine) is None
    # the failed read left the connection usable (PostgreSQL aborts the transaction)
    upgrade_to(fresh_engine, "0003")
    assert read(fresh_engine) == ["0003"] == [current_revision(fresh_engine)]
    migrate(fresh_engine)
    assert read(fresh_engine) == [head] == [current_revision(fresh_engine)]
    set_version(fresh_engine, "ffff")
    assert read(fresh_engine) == ["ffff"] == [current_revision(fresh_engine)]


def test_migrate_from_an_old_schema_runs_the_missing_revisions(fresh_engine: sa.Engine) -> None:
    upgrade_to(fresh_engine, "0003")
    assert "tandem_memo" not in sa.inspect(fresh_engine).get_table_names()
    migrate(fresh_engine)
    assert "tandem_memo" in sa.inspect(fresh_engine).get_table_names()
    assert current_revision(fresh_engine) == head_revision()


def test_migrate_at_the_head_only_reads(
    fresh_engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    upgrades: list[sa.Engine] = []
    real_upgrade = store_engine._upgrade

    def counting(engine: sa.Engine) -> None:
        upgrades.append(engine)
        real_upgrade(engine)

    monkeypatch.setattr(store_engine, "_upgrade", counting)
    migrate(fresh_engine)
    assert len(upgrades) == 1
    migrate(fresh_engine)
    migrate(fresh_engine)
    assert len(upgrades) == 1
    check_schema(fresh_engine)
    assert current_revision(fresh_engine) == head_revision()


def test_check_schema_still_names_each_problem(fresh_engine: sa.Engine) -> None:
    with pytest.raises(StoreError, match="no schema yet"):
        check_schema(fresh_engine)
    upgrade_to(fresh_engine, "0003")
    with pytest.raises(StoreError, match=f"at revision 0003, this Tandem needs {head_revision()}"):
        check_schema(fresh_engine)
    migrate(fresh_engine)
    check_schema(fresh_engine)
    set_version(fresh_engine, "ffff")
    with pytest.raises(StoreError, match="newer than this Tandem knows"):
        check_schema(fresh_engine)


def test_migrate_refuses_a_schema_newer_than_the_code(fresh_engine: sa.Engine) -> None:
    migrate(fresh_engine)
    set_version(fresh_engine, "ffff")
    with pytest.raises(Exception, match="ffff"):
        migrate(fresh_engine)
    assert read(fresh_engine) == ["ffff"]


def test_an_unreachable_server_is_a_store_error_on_migrate() -> None:
    store = StateStore("postgresql://tandem:s3cret@127.0.0.1:1/nowhere")
    with pytest.raises(StoreError, match="migrate failed") as info:
        store.migrate()
    assert "s3cret" not in str(info.value)
    store.close()


def test_opening_a_store_at_the_head_does_not_load_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/state.db"
    StateStore(url, auto_migrate=True).close()
    script = textwrap.dedent(
        f"""
        import sys
        import tandem.cli  # all that `tandem sync` loads before it opens the store
        from tandem.store import StateStore
        store = StateStore({url!r})
        store.migrate()
        store.link("customer", "1", "A")
        store.close()
        with StateStore({url!r}) as store:  # check_schema, not migrate
            assert store.count_links("customer") == 1
        loaded = sorted(m for m in ("alembic", "mako") if m in sys.modules)
        assert not loaded, loaded
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
