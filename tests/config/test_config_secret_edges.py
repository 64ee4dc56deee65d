"""Secrets: one in a URL's query or a password holding ``/`` is inline; a secret file or
variable that gives an empty or mangled secret is an error naming the setting."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sqlalchemy import make_url

from tandem.config import ConnectionSpec, flow_json_schema, parse_flow
from tandem.config.secrets import has_url_password
from tandem.errors import ConfigError

from .flows import BASE

SECRET = "hun/ter2-Value-42"


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://tandem@127.0.0.1/erp?password={SECRET}",
        f"postgresql://tandem@127.0.0.1/erp?sslmode=require&sslpassword={SECRET}",
        f"postgresql://tandem:{SECRET}@127.0.0.1/erp",
        f"https://example.my.salesforce.com/services?access_token={SECRET}",
    ],
)
def test_a_url_with_a_secret_anywhere_is_refused_and_not_echoed(url: str) -> None:
    text = BASE.replace('url: "sqlite:///erp.db"', f'url: "{url}"')
    with pytest.raises(ConfigError, match="carries a password") as info:
        parse_flow(text, file="flow.yaml")
    assert (info.value.file, info.value.line, info.value.field) == (
        "flow.yaml",
        4,
        "connections.erp.url",
    )
    assert SECRET not in str(info.value)


def test_the_state_url_with_a_password_in_its_query_is_refused() -> None:
    text = BASE.replace("name: test\n", f'name: test\nstate: "mysql://u@h/db?password={SECRET}"\n')
    with pytest.raises(ConfigError, match="carries a password") as info:
        parse_flow(text, file="flow.yaml")
    assert (info.value.line, info.value.field) == (3, "state")
    assert SECRET not in str(info.value)


def test_what_sqlalchemy_takes_for_a_password_is_found() -> None:
    # SQLAlchemy reads everything up to the "@" as the password, "/" included; its
    # "password hidden" rendering hides neither that split nor a password in the query
    url = f"postgresql://tandem:{SECRET}@127.0.0.1/erp"
    assert make_url(url).password == SECRET
    query = "postgresql://tandem@127.0.0.1/erp?password=hunter2"
    assert "hunter2" in make_url(query).render_as_string(hide_password=True)
    assert has_url_password(url) and has_url_password(query)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://tandem@127.0.0.1:5432/erp?sslmode=require",
        "mysql+pymysql://root@127.0.0.1:3306/erp?charset=utf8mb4",
        "https://127.0.0.1:8443/services/a@b",
        "postgresql://tandem@h/erp?password=",
        "sqlite:////tmp/pass:word@x.db",
        "sqlite:///C:/pwd/tokens.db",
        "https://login.example.com/token_url?x=1#password=y",
    ],
)
def test_urls_without_a_secret_are_fine(url: str) -> None:
    assert not has_url_password(url)


def test_the_json_schema_refuses_the_same_urls() -> None:
    schema = json.dumps(flow_json_schema())
    pattern = re.compile(json.loads(schema.split('"not": {"pattern": ')[1].split("}")[0]))
    assert pattern.match(f"postgresql://u@h/db?password={SECRET}")
    assert pattern.match(f"postgresql://u:{SECRET}@h/db")
    assert not pattern.match("https://127.0.0.1:8443/x@y")


def _crm_password_from_file(tmp_path: Path, content: bytes) -> ConnectionSpec:
    secret = tmp_path / "sf_password"
    secret.write_bytes(content)
    secret.chmod(0o600)
    text = BASE.replace("{env: TEST_SF_PASSWORD}", "{file: sf_password}")
    return parse_flow(text, file="flow.yaml", base_dir=tmp_path).connections["crm"]


@pytest.mark.parametrize(
    "content", [b"\xef\xbb\xbfs3cr3t\n", b"s3cr3t\r\n", b"s3cr3t\n\n", b"s3cr3t"]
)
def test_a_secret_file_gives_the_secret_without_bom_or_final_newlines(
    tmp_path: Path, content: bytes
) -> None:
    # before: a byte-order mark (Notepad's UTF-8) stayed in front of the password
    auth = _crm_password_from_file(tmp_path, content).resolved_settings()["auth"]
    assert auth["password"].get_secret_value() == "s3cr3t"


@pytest.mark.parametrize("content", [b"", b"\n", b"\xef\xbb\xbf\r\n", b"  \n"])
def test_an_empty_secret_file_is_an_error_naming_the_setting(
    tmp_path: Path, content: bytes
) -> None:
    connection = _crm_password_from_file(tmp_path, content)
    with pytest.raises(ConfigError, match=r"secret file .*sf_password is empty") as info:
        connection.resolved_settings()
    assert (info.value.file, info.value.line, info.value.field) == (
        "flow.yaml",
        8,
        "connections.crm.auth.password",
    )


def test_a_secret_file_not_in_utf8_is_an_error_that_shows_no_byte_of_it(tmp_path: Path) -> None:
    connection = _crm_password_from_file(tmp_path, "pässwörd\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="is not UTF-8 text") as info:
        connection.resolved_settings()
    assert info.value.field == "connections.crm.auth.password"
    assert "0xe4" not in str(info.value) and "p" + "\\xe4" not in str(info.value)


@pytest.mark.parametrize("value", ["", " ", "\n"])
def test_an_empty_environment_variable_is_an_error_naming_it(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_SF_PASSWORD", value)
    spec = parse_flow(BASE, file="flow.yaml")
    with pytest.raises(ConfigError, match="environment variable TEST_SF_PASSWORD is empty") as info:
        spec.connections["crm"].resolved_settings()
    assert (info.value.file, info.value.line, info.value.field) == (
        "flow.yaml",
        8,
        "connections.crm.auth.password",
    )


@pytest.mark.parametrize(
    ("option", "field"),
    [
        ("password: hunter2", "entities.customer.erp.options.password"),
        ('dsn: "postgresql://u:hunter2@h/db"', "entities.customer.erp.options.dsn"),
    ],
)
def test_a_secret_in_an_entity_option_is_refused_and_not_echoed(option: str, field: str) -> None:
    # before: accepted, and handed to the connector as written
    text = BASE.replace("external_id: crm_id}", f"external_id: crm_id, options: {{{option}}}}}", 1)
    with pytest.raises(ConfigError, match=r"inline|carries a password") as info:
        parse_flow(text, file="flow.yaml")
    assert (info.value.line, info.value.field) == (14, field)
    assert "hunter2" not in str(info.value)


def test_an_entity_option_that_is_no_secret_is_fine() -> None:
    text = BASE.replace(
        "external_id: crm_id}", "external_id: crm_id, options: {modified_column: changed}}", 1
    )
    assert parse_flow(text).entities["customer"].erp.options == {"modified_column": "changed"}
