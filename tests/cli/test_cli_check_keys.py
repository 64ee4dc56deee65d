"""`tandem check` names an ERP key column that nothing declares unique, before any write.

A write by a key that several rows hold is refused (``KEY_NOT_UNIQUE``). So check warns of a
key column that is neither the primary key nor covered by a unique constraint or index, and
fails when rows already share a key, naming the shared values (up to five).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_run import tandem
from tandem_env import Env, build_env

DATABASES = pytest.mark.parametrize(
    "db_url",
    [
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ],
    indirect=True,
)

BY_ID = "{source: product_categories, key: id"
BY_NAME = "{source: product_categories, key: name"
UNGUARDED = (
    "entities.product_category.erp.key: table 'product_categories': key column 'name' is "
    "neither the primary key nor covered on its own by a unique constraint or unique index"
)


@pytest.fixture
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database of this test alone: a SQLite file, PostgreSQL or MariaDB."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'erp.db'}"
    fixture = {"postgresql": "pg_fresh_url", "mariadb": "mariadb_fresh_url"}[request.param]
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def env(tmp_path: Path, db_url: str) -> Iterator[Env]:
    """The demo flow, its product categories keyed by their name (NOT NULL, not unique)."""
    for env in build_env(tmp_path, db_url):
        env.flow(**{BY_ID: BY_NAME})
        yield env


def _check(env: Env) -> tuple[int, str, str]:
    """Exit code, output on one line, and where the key setting is (``file:line:``)."""
    code, out = tandem("check", "-c", str(env.config))
    text = env.config.read_text(encoding="utf-8")
    line = next(n for n, row in enumerate(text.splitlines(), 1) if BY_NAME in row)
    return code, out.replace("\n", ""), f"{env.config}:{line}:"


@DATABASES
def test_a_key_nothing_declares_unique_is_a_warning_while_no_rows_share_one(env: Env) -> None:
    code, out, where = _check(env)
    assert code == 0, out
    assert f"! {where} {UNGUARDED}: no two rows share a key now" in out
    assert "KEY_NOT_UNIQUE" in out
    assert "the mapping fits both systems' schemas" in out


@DATABASES
def test_keys_rows_already_share_fail_check_naming_them(env: Env) -> None:
    names = [row[0] for row in env.erp_rows("SELECT name FROM product_categories ORDER BY id")]
    assert len(names) >= 4, names
    env.erp(
        "UPDATE product_categories SET name = :n WHERE name IN (:a, :b)",
        n="Shared",
        a=names[0],
        b=names[1],
    )
    env.erp("UPDATE product_categories SET name = :n WHERE name = :a", n=names[3], a=names[2])
    code, out, where = _check(env)
    assert code == 1, out
    assert f"✗ {where} {UNGUARDED}, and rows share a key: " in out
    assert "'Shared' (2 rows)" in out and f"{names[3]!r} (2 rows)" in out
    assert "a write to such a record is refused (KEY_NOT_UNIQUE)" in out
    assert "the mapping fits" not in out


@DATABASES
def test_at_most_five_shared_keys_are_named(env: Env) -> None:
    for n in range(7):
        env.erp(
            "INSERT INTO product_categories (code, name) VALUES (:a, :n), (:b, :n)",
            a=f"DUP{n}A",
            b=f"DUP{n}B",
            n=f"Dup {n}",
        )
    code, out, _ = _check(env)
    assert code == 1, out
    named = [f"'Dup {n}' (2 rows)" for n in range(7)]
    assert sum(name in out for name in named) == 5, out
    assert ", and more;" in out


@DATABASES
def test_a_key_under_a_unique_index_or_the_primary_key_is_not_named(env: Env) -> None:
    env.erp("CREATE UNIQUE INDEX product_categories_name ON product_categories (name)")
    code, out, _ = _check(env)
    assert code == 0, out
    assert "product_categories" not in out
    env.flow(**{BY_NAME: BY_ID})
    code, out = tandem("check", "-c", str(env.config))
    assert code == 0 and "product_categories" not in out, out
