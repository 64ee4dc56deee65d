"""Secrets by reference only, resolved late, never shown."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from pydantic import SecretStr

from tandem.config import load_flow, parse_flow
from tandem.config.secrets import find_inline_secrets, has_url_password, is_secret_key
from tandem.errors import ConfigError

from .flows import BASE

SECRET = "s3cr3t-Value-42"


def test_inline_password_is_refused_and_not_echoed() -> None:
    text = BASE.replace("password: {env: TEST_SF_PASSWORD}", f"password: {SECRET}")
    with pytest.raises(ConfigError) as info:
        parse_flow(text, file="flow.yaml")
    assert info.value.field == "connections.crm.auth.password"
    assert info.value.line == 8
    assert "never inline" in str(info.value)
    assert SECRET not in str(info.value)


@pytest.mark.parametrize(
    "setting",
    [
        f"client_secret: {SECRET}",
        f"token: {SECRET}",
        f"security_token: {SECRET}",
        f"private_key: {SECRET}",
        f"api_key: {SECRET}",
        f"dsn: postgresql://tandem:{SECRET}@127.0.0.1/erp",
    ],
)
def test_every_kind_of_inline_secret_is_refused(setting: str) -> None:
    text = BASE.replace("    instance_url:", f"    {setting}\n    instance_url:")
    with pytest.raises(ConfigError, match=r"inline|carries a password") as info:
        parse_flow(text)
    assert SECRET not in str(info.value)
    assert info.value.line == 7


def test_url_without_password_and_key_file_paths_are_fine() -> None:
    assert has_url_password("postgresql://u:p@h/db")
    assert not has_url_password("postgresql://u@h/db")
    assert not has_url_password("https://127.0.0.1:8443/x")
    assert not is_secret_key("private_key_file")
    assert not is_secret_key("token_url")
    assert is_secret_key("client_secret")
    assert find_inline_secrets({"auth": {"password": None, "private_key_file": "k.pem"}}) == []
    assert find_inline_secrets({"password": {"env": "X", "file": "y"}})


def test_state_url_with_password_must_be_a_reference() -> None:
    text = BASE.replace("version: 1\n", f"version: 1\nstate: postgresql+psycopg://t:{SECRET}@h/s\n")
    with pytest.raises(ConfigError) as info:
        parse_flow(text)
    assert info.value.field == "state" and SECRET not in str(info.value)


def test_env_and_file_references_resolve_to_secretstr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "client.txt").write_text(SECRET + "\n")
    text = BASE.replace(
        "auth: {flow: password, username: u, password: {env: TEST_SF_PASSWORD}}",
        "auth: {flow: password, username: u, password: {env: TEST_SF_PASSWORD},"
        " client_secret: {file: secrets/client.txt}, private_key_file: keys/k.pem}",
    )
    path = tmp_path / "flow.yaml"
    path.write_text(text)
    spec = load_flow(path)
    crm = spec.connections["crm"]
    assert crm.settings["auth"]["password"] == {"env": "TEST_SF_PASSWORD"}  # unresolved at load
    monkeypatch.setenv("TEST_SF_PASSWORD", SECRET)
    resolved = crm.resolved_settings()
    auth = resolved["auth"]
    assert isinstance(auth["password"], SecretStr)
    assert auth["password"].get_secret_value() == SECRET
    assert auth["client_secret"].get_secret_value() == SECRET
    assert auth["private_key_file"] == str(tmp_path / "keys" / "k.pem")
    assert SECRET not in repr(resolved) and SECRET not in str(resolved)
    assert resolved["instance_url"] == "https://127.0.0.1:8443"
    assert spec.connections["erp"].resolved_settings()["url"] == f"sqlite:///{tmp_path / 'erp.db'}"


def test_missing_env_names_the_variable_not_a_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_SF_PASSWORD", raising=False)
    spec = parse_flow(BASE, file="flow.yaml")
    with pytest.raises(ConfigError) as info:
        spec.connections["crm"].resolved_settings()
    assert "environment variable TEST_SF_PASSWORD is not set" in str(info.value)
    assert info.value.field == "connections.crm.auth.password"
    assert info.value.file == "flow.yaml"


def test_missing_secret_file(tmp_path: Path) -> None:
    text = BASE.replace("{env: TEST_SF_PASSWORD}", "{file: nope.txt}")
    spec = parse_flow(text, base_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"secret file .*nope\.txt cannot be read"):
        spec.connections["crm"].resolved_settings()


def test_state_url_default_and_reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = parse_flow(BASE, base_dir=tmp_path)
    assert spec.state_url() == f"sqlite:///{tmp_path / '.tandem' / 'state.db'}"
    assert spec.state == spec.state_url()  # plain URLs are normalised at load
    relative = parse_flow(
        BASE.replace("version: 1\n", "version: 1\nstate: sqlite:///s.db\n"), base_dir=tmp_path
    )
    assert relative.state == f"sqlite:///{tmp_path / 's.db'}"
    text = BASE.replace("version: 1\n", "version: 1\nstate: {env: TEST_STATE_URL}\n")
    spec = parse_flow(text, base_dir=tmp_path)
    monkeypatch.setenv("TEST_STATE_URL", "postgresql+psycopg://postgres@127.0.0.1/x")
    assert spec.state_url() == "postgresql+psycopg://postgres@127.0.0.1/x"
    monkeypatch.delenv("TEST_STATE_URL")
    with pytest.raises(ConfigError, match="TEST_STATE_URL"):
        spec.state_url()


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_a_secret_file_other_users_may_read_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret = tmp_path / "sf_password"
    secret.write_text("s3cr3t-value\n", encoding="utf-8")
    text = BASE.replace("{env: TEST_SF_PASSWORD}", "{file: sf_password}")
    spec = parse_flow(text, base_dir=tmp_path)
    secret.chmod(0o600)
    with caplog.at_level(logging.WARNING, logger="tandem.config.secrets"):
        spec.connections["crm"].resolved_settings()
    assert caplog.records == []
    secret.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="tandem.config.secrets"):
        spec.connections["crm"].resolved_settings()
    [record] = caplog.records
    message = record.getMessage()
    assert str(secret) in message and "644" in message and "chmod 600" in message
    assert "s3cr3t-value" not in caplog.text


def test_an_unset_variable_is_placed_at_the_line_of_its_reference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TEST_SF_PASSWORD", raising=False)
    spec = parse_flow(BASE, file="flow.yaml")
    with pytest.raises(ConfigError) as info:
        spec.connections["crm"].resolved_settings()
    assert (info.value.file, info.value.line) == ("flow.yaml", 8)
    assert str(info.value) == (
        "flow.yaml:8: connections.crm.auth.password: environment variable TEST_SF_PASSWORD"
        " is not set"
    )


def test_an_unreadable_secret_file_is_placed_at_its_setting_in_block_style(
    tmp_path: Path,
) -> None:
    text = BASE.replace(
        "    auth: {flow: password, username: u, password: {env: TEST_SF_PASSWORD}}\n",
        "    auth:\n      flow: password\n      username: u\n      password:\n"
        "        file: secrets/nope.txt\n",
    )
    path = tmp_path / "flow.yaml"
    path.write_text(text)
    spec = load_flow(path)
    with pytest.raises(ConfigError) as info:
        spec.connections["crm"].resolved_settings()
    line = next(n for n, row in enumerate(text.splitlines(), 1) if row == "      password:")
    assert info.value.line == line == 11
    assert str(info.value).startswith(
        f"{path}:{line}: connections.crm.auth.password: secret file"
        f" {tmp_path / 'secrets' / 'nope.txt'} cannot be read"
    )


def test_an_unset_state_variable_names_the_line_of_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_STATE_URL", raising=False)
    text = BASE.replace("version: 1\n", "version: 1\nstate: {env: TEST_STATE_URL}\n")
    spec = parse_flow(text, file="flow.yaml", base_dir=tmp_path)
    with pytest.raises(ConfigError) as info:
        spec.state_url()
    assert str(info.value) == "flow.yaml:2: state: environment variable TEST_STATE_URL is not set"


def test_a_secret_read_from_a_file_never_shows_in_a_placed_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "client.txt").write_text(SECRET)
    (tmp_path / "client.txt").chmod(0o600)
    monkeypatch.delenv("TEST_SF_PASSWORD", raising=False)
    text = BASE.replace("username: u,", "username: u, client_secret: {file: client.txt},")
    spec = parse_flow(text, file="flow.yaml", base_dir=tmp_path)
    with pytest.raises(ConfigError) as info:
        spec.connections["crm"].resolved_settings()
    assert info.value.line == 8 and SECRET not in str(info.value)
