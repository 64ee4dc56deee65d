"""Key material of the sandbox: a private CA, the HTTPS server certificate, the JWT signing key.

Everything is generated once into the data directory and reused on later starts, so a client
that trusts ``DIR/ca.pem`` keeps trusting the sandbox across restarts. Private keys are written
with mode 0600.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["JwtKeyFiles", "TlsFiles", "ensure_jwt_keypair", "ensure_tls"]

_VALIDITY = dt.timedelta(days=3650)
_SERVER_NAMES = ("localhost",)
_SERVER_IPS = ("127.0.0.1", "::1")

_PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class TlsFiles:
    """Paths of the HTTPS material.

    Attributes:
        ca_file: the CA certificate clients must trust (``DIR/ca.pem``).
        cert_file: the server certificate (localhost, 127.0.0.1, ::1).
        key_file: the server private key (mode 0600).
    """

    ca_file: Path
    cert_file: Path
    key_file: Path


@dataclass(frozen=True)
class JwtKeyFiles:
    """Paths of the connected app's JWT bearer material.

    Attributes:
        private_key_file: the RSA private key a client signs its assertion with (mode 0600).
        cert_file: the certificate "uploaded to the connected app"; the token endpoint
            verifies assertions against it.
    """

    private_key_file: Path
    cert_file: Path


def _write_private(path: Path, key: _PrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, 0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tandem sandbox"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _builder(subject: x509.Name, issuer: x509.Name, public_key: object) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
    )


def ensure_tls(data_dir: Path) -> TlsFiles:
    """Create the CA and the server certificate in ``data_dir`` unless they exist.

    Args:
        data_dir: the sandbox data directory (created if missing).

    Returns:
        The paths of the CA certificate, server certificate and server key.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(
        ca_file=data_dir / "ca.pem",
        cert_file=data_dir / "server.pem",
        key_file=data_dir / "server-key.pem",
    )
    if files.ca_file.exists() and files.cert_file.exists() and files.key_file.exists():
        return files

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("Tandem sandbox local CA")
    ca_cert = (
        _builder(ca_name, ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )

    server_key = ec.generate_private_key(ec.SECP256R1())
    alt_names: list[x509.GeneralName] = [x509.DNSName(name) for name in _SERVER_NAMES]
    alt_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in _SERVER_IPS]
    server_cert = (
        _builder(_name("localhost"), ca_name, server_key.public_key())
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )

    _write_private(data_dir / "ca-key.pem", ca_key)
    _write_private(files.key_file, server_key)
    _write_cert(files.cert_file, server_cert)
    _write_cert(files.ca_file, ca_cert)  # last: its presence marks the set as complete
    return files


def ensure_jwt_keypair(data_dir: Path) -> JwtKeyFiles:
    """Create the connected app's RSA key and self-signed certificate unless they exist.

    Args:
        data_dir: the sandbox data directory (created if missing).

    Returns:
        The paths of the private key (for clients) and the certificate (for the server).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    files = JwtKeyFiles(
        private_key_file=data_dir / "jwt-private-key.pem",
        cert_file=data_dir / "jwt-cert.pem",
    )
    if files.private_key_file.exists() and files.cert_file.exists():
        return files
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = _name("Tandem sandbox connected app")
    cert = _builder(name, name, key.public_key()).sign(key, hashes.SHA256())
    _write_private(files.private_key_file, key)
    _write_cert(files.cert_file, cert)
    return files
