"""The JSON Schema of `tandem schema` describes each connector's settings, as building it checks.

Connector settings are free at load and validated when the connector is built: the schema must
refuse and accept what load plus build refuse and accept.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from jsonschema.exceptions import best_match
from typer.testing import CliRunner

from tandem.cli import app
from tandem.config import parse_flow
from tandem.config.loader import read_yaml
from tandem.config.secrets import is_secret_key
from tandem.connectors import registry
from tandem.demo.flow import FLOW as DEMO_FLOW
from tandem.errors import ConfigError

from .flows import BASE

EXAMPLE = Path(__file__).parents[2] / "examples" / "demo-flow.yaml"
ENTITIES = BASE[BASE.index("value_maps:") :]

ERP: dict[str, Any] = {"type": "sql", "url": "sqlite:///erp.db"}
CRM: dict[str, Any] = {
    "type": "salesforce",
    "auth_flow": "client_credentials",
    "client_id": "ck",
    "client_secret": {"env": "TEST_SF_SECRET"},
}


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    """The schema as `tandem schema` prints it."""
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0, result.output
    printed: dict[str, Any] = json.loads(result.output)
    jsonschema.Draft202012Validator.check_schema(printed)
    return printed


def errors(schema: dict[str, Any], data: Any) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{e.json_path}: {e.message}" for e in validator.iter_errors(data)]


def flow_text(erp: dict[str, Any], crm: dict[str, Any]) -> str:
    return (
        "version: 1\nname: test\nconnections:\n"
        f"  erp: {json.dumps(erp)}\n  crm: {json.dumps(crm)}\n{ENTITIES}"
    )


def with_connection(connection: dict[str, Any]) -> str:
    """A flow whose erp (sql, or unknown type) or crm (salesforce) is ``connection``."""
    if connection.get("type") == "salesforce":
        return flow_text(ERP, connection)
    return flow_text(connection, CRM)


async def runtime_accepts(text: str) -> bool:
    """Load the flow and build both connectors, as `tandem check` does."""
    try:
        spec = parse_flow(text, file="flow.yaml")
        for connection in spec.connections.values():
            connector = registry.create_connector(connection.type, connection.resolved_settings())
            close = getattr(connector, "close", None)
            if close is not None:
                await close()
    except ConfigError:
        return False
    return True


def test_a_variant_per_connector_type(schema: dict[str, Any]) -> None:
    defs = schema["$defs"]
    types = registry.available_connectors()
    assert {"sql", "salesforce"} <= set(types)
    assert defs["ConnectionSpec"]["properties"]["type"]["enum"] == types
    assert schema["properties"]["connections"]["additionalProperties"] == {
        "$ref": "#/$defs/ConnectionSpec"
    }
    chosen = {
        rule["if"]["properties"]["type"]["const"]: rule["then"]["$ref"]
        for rule in defs["ConnectionSpec"]["allOf"]
    }
    assert set(chosen) == set(types)
    for type_name in types:
        variant = defs[chosen[type_name].removeprefix("#/$defs/")]
        props = variant["properties"]
        assert props["type"]["const"] == type_name
        assert variant["additionalProperties"] is False
        model = registry.settings_model(type_name)
        assert model is not None
        names = {field.alias or name for name, field in model.model_fields.items()}
        assert set(props) - {"type", "db_schema"} == names
        for name, prop in props.items():
            assert prop.get("description"), (type_name, name)
            if name != "type" and model.model_fields.get(name, None) is not None:
                field = model.model_fields[name]
                if not field.is_required():
                    assert "default" in prop, (type_name, name)
    sf = defs["SalesforceConnection"]["properties"]
    assert sf["auth_flow"]["enum"] == ["jwt", "client_credentials", "password"]
    assert sf["auth_flow"]["default"] == "jwt"
    assert sf["bulk_threshold"] == {**sf["bulk_threshold"], "type": "integer", "minimum": 1}
    assert sf["quota_reserve"]["default"] == 0.2
    assert defs["SqlConnection"]["required"] == ["type", "url"]


def test_secrets_are_references_in_the_schema(schema: dict[str, Any]) -> None:
    defs = schema["$defs"]
    ref = {"$ref": "#/$defs/SecretRef"}
    for variant in ("SqlConnection", "SalesforceConnection"):
        for name, prop in defs[variant]["properties"].items():
            if is_secret_key(name):
                assert prop["anyOf"] == [ref, {"type": "null"}], (variant, name)
    url = defs["SqlConnection"]["properties"]["url"]["anyOf"]
    assert url[1] == ref and url[0]["type"] == "string"


def test_the_demo_flow_and_the_example_validate(schema: dict[str, Any]) -> None:
    demo = DEMO_FLOW.format(
        state="/tmp/state.db",
        erp_url="sqlite:////tmp/erp.db",
        base_url="https://127.0.0.1:8443",
        ca_file="/tmp/ca.pem",
        username="integration@demo.example",
        client_id="tandem-demo",
    )
    for text in (demo, EXAMPLE.read_text(encoding="utf-8")):
        data, _ = read_yaml(text)
        assert errors(schema, data) == []


def test_schema_does_not_load_the_connectors() -> None:
    script = (
        "import sys\n"
        "from tandem.config import flow_json_schema\n"
        "flow_json_schema()\n"
        "loaded = [m for m in sys.modules if m.endswith(('.connector', '.client', '.capture'))]\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


ACCEPTED: list[dict[str, Any]] = [
    {"type": "sql", "url": {"env": "TEST_ERP_URL"}, "schema": "public"},
    {"type": "sql", "url": "sqlite:///erp.db", "password": {"file": "pw.txt"}, "pool_size": 3},
    {"type": "sql", "url": "sqlite:///erp.db", "capture": "modified_column", "db_schema": "erp"},
    {"type": "sql", "url": "sqlite:///erp.db", "changelog_table": "log_1", "lock_timeout": 2},
    {**CRM, "quota_reserve": 0.5, "bulk_threshold": 500, "on_quota_reserve": "wait"},
    {
        "type": "salesforce",
        "login_url": "https://test.salesforce.com",
        "client_id": "ck",
        "username": "u@example.com",
        "private_key_file": "keys/sf.key",
        "api_version": "61.0",
    },
    {
        "type": "salesforce",
        "auth_flow": "password",
        "client_id": "ck",
        "client_secret": {"env": "TEST_SF_SECRET"},
        "username": "u@example.com",
        "password": {"file": "pw.txt"},
    },
]

REFUSED: dict[str, dict[str, Any]] = {
    "misspelled sql setting": {**ERP, "pool_sise": 3},
    "sql pool_size not a number": {**ERP, "pool_size": "five"},
    "sql capture not a mode": {**ERP, "capture": "psychic"},
    "sql changelog_table not an identifier": {**ERP, "changelog_table": "bad-name"},
    "sql url missing": {"type": "sql", "schema": "public"},
    "sql schema spelled twice": {**ERP, "schema": "a", "db_schema": "b"},
    "misspelled salesforce setting": {**CRM, "bulk_treshold": 500},
    "nested auth (not a setting)": {**CRM, "auth": {"flow": "client_credentials"}},
    "bulk_threshold below 1": {**CRM, "bulk_threshold": 0},
    "bulk_threshold not an integer": {**CRM, "bulk_threshold": "lots"},
    "quota_reserve above 1": {**CRM, "quota_reserve": 1.5},
    "api_version a number": {**CRM, "api_version": 59.0},
    "auth_flow unknown": {**CRM, "auth_flow": "magic"},
    "login_url without scheme": {**CRM, "login_url": "login.salesforce.com"},
    "client_credentials without client_secret": {**CRM, "client_secret": None},
    "jwt without a key": {"type": "salesforce", "client_id": "ck", "username": "u"},
    "reference for a plain setting": {**CRM, "client_id": {"env": "TEST_SF_SECRET"}},
    "unknown connector type": {"type": "nope", "url": "x"},
}

INLINE_SECRETS: dict[str, dict[str, Any]] = {
    "sql password": {**ERP, "password": "hunter2"},
    "sql url with a password": {"type": "sql", "url": "postgresql://u:hunter2@db/erp"},
    "salesforce client_secret": {**CRM, "client_secret": "hunter2"},
    "salesforce private_key": {
        "type": "salesforce",
        "client_id": "ck",
        "username": "u",
        "private_key": "-----BEGIN PRIVATE KEY-----",
    },
    "salesforce password": {**CRM, "auth_flow": "password", "username": "u", "password": "pw"},
    "half a reference": {**CRM, "client_secret": {"env": "TEST_SF_SECRET", "file": "x"}},
}


@pytest.fixture
def secrets_set(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TEST_SF_SECRET", "s3cret")
    monkeypatch.setenv("TEST_ERP_URL", "postgresql+psycopg://u:pw@db.example/erp")
    (tmp_path / "pw.txt").write_text("pw\n", encoding="utf-8")
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "sf.key").write_text("a key file\n", encoding="utf-8")  # is read
    monkeypatch.chdir(tmp_path)


@pytest.mark.usefixtures("secrets_set")
@pytest.mark.parametrize("connection", ACCEPTED, ids=lambda c: str(sorted(c))[:60])
async def test_valid_connections_pass_both(
    schema: dict[str, Any], connection: dict[str, Any]
) -> None:
    text = with_connection(connection)
    assert errors(schema, read_yaml(text)[0]) == []
    assert await runtime_accepts(text)


@pytest.mark.usefixtures("secrets_set")
@pytest.mark.parametrize("connection", REFUSED.values(), ids=list(REFUSED))
async def test_bad_settings_fail_the_schema_as_the_connector(
    schema: dict[str, Any], connection: dict[str, Any]
) -> None:
    text = with_connection(connection)
    found = errors(schema, read_yaml(text)[0])
    assert found and all(e.startswith("$.connections.") for e in found), found
    assert not await runtime_accepts(text)


@pytest.mark.usefixtures("secrets_set")
@pytest.mark.parametrize("connection", INLINE_SECRETS.values(), ids=list(INLINE_SECRETS))
def test_an_inline_secret_fails_the_schema_as_the_loader(
    schema: dict[str, Any], connection: dict[str, Any]
) -> None:
    text = with_connection(connection)
    assert errors(schema, read_yaml(text)[0])
    with pytest.raises(ConfigError, match=r"never inline|carries a password|secret reference"):
        parse_flow(text, file="flow.yaml")


def test_errors_name_the_setting(schema: dict[str, Any]) -> None:
    data, _ = read_yaml(with_connection({**CRM, "bulk_treshold": 500}))
    validator = jsonschema.Draft202012Validator(schema)
    error = best_match(validator.iter_errors(data))
    assert error is not None and "'bulk_treshold' was unexpected" in error.message
    assert error.json_path == "$.connections.crm"


def test_inline_password_in_the_state_url_fails(schema: dict[str, Any]) -> None:
    data, _ = read_yaml(flow_text(ERP, CRM))
    data["state"] = "postgresql://tandem:hunter2@db/state"
    assert errors(schema, data)
    data["state"] = {"env": "TANDEM_STATE_URL"}
    assert errors(schema, data) == []


def test_a_connector_without_a_settings_model_is_open(monkeypatch: pytest.MonkeyPatch) -> None:
    from tandem.config import flow_json_schema

    monkeypatch.setitem(registry.FACTORIES, "dummy", lambda settings: object())
    schema = flow_json_schema()
    assert schema["$defs"]["DummyConnection"]["additionalProperties"] is True
    data, _ = read_yaml(flow_text({"type": "dummy", "anything": [1, 2]}, CRM))
    assert errors(schema, data) == []


def test_a_plugin_settings_model_is_described(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import BaseModel, ConfigDict, Field, SecretStr

    from tandem.config import flow_json_schema

    class PluginSettings(BaseModel):
        model_config = ConfigDict(extra="forbid")
        endpoint: str = Field(description="Where.")
        api_key: SecretStr = Field(description="The key.")

    monkeypatch.setattr(registry, "FACTORIES", dict(registry.FACTORIES))
    monkeypatch.setattr(registry, "SETTINGS", dict(registry.SETTINGS))
    registry.register_connector("my-crm", lambda settings: object(), settings=PluginSettings)
    schema = flow_json_schema()
    variant = schema["$defs"]["MyCrmConnection"]
    assert variant["properties"]["api_key"]["$ref"] == "#/$defs/SecretRef"
    good = {"type": "my-crm", "endpoint": "https://x", "api_key": {"env": "K"}}
    assert errors(schema, read_yaml(flow_text(ERP, good))[0]) == []
    inline = {**good, "api_key": "k"}
    assert errors(schema, read_yaml(flow_text(ERP, inline))[0])
