"""Alembic environment of the state store.

:meth:`tandem.store.StateStore.migrate` runs this with an open connection in
``config.attributes["connection"]``. Developers adding a revision run Alembic by hand with
``-x url=...`` (see docs/state.md, "Schema versions").
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from tandem.store.engine import VERSION_TABLE, compare_column_type
from tandem.store.schema import metadata


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=compare_column_type,
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise SystemExit("give the database as -x url=... or sqlalchemy.url")
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


_main()
