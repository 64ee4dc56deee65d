"""PyJWT and cryptography load only for the JWT bearer flow, not with the connector."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def run(script: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_the_connector_and_the_other_flows_do_not_load_jwt() -> None:
    run(
        """
        import sys
        import tandem.cli
        import tandem.connectors.salesforce
        from tandem.connectors.salesforce.auth import SalesforceAuthenticator
        from tandem.connectors.registry import create_connector
        create_connector("salesforce", {
            "instance_url": "https://example.my.salesforce.com",
            "auth_flow": "client_credentials", "client_id": "id", "client_secret": "secret",
        })
        loaded = sorted(m for m in ("jwt", "cryptography") if m in sys.modules)
        assert not loaded, loaded
        """
    )


def test_the_jwt_flow_loads_jwt_when_it_signs(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path / "key.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    run(
        f"""
        import sys
        from tandem.connectors.salesforce import SalesforceSettings
        from tandem.connectors.salesforce.auth import build_assertion
        settings = SalesforceSettings(
            auth_flow="jwt", client_id="id", username="u@x.example", private_key_file={str(pem)!r}
        )
        assert "jwt" not in sys.modules
        assertion = build_assertion(settings, now=1000.0)
        assert "jwt" in sys.modules
        import jwt
        claims = jwt.decode(assertion, options={{"verify_signature": False}})
        assert claims["iss"] == "id" and claims["exp"] == 1180, claims
        """
    )
