"""The SOAP partner ``login`` call (``POST /services/Soap/u/NN.N``).

simple-salesforce uses it when a security token is given. It reads the un-prefixed
``<sessionId>`` and ``<serverUrl>`` elements of the answer, and ``<sf:exceptionCode>`` /
``<sf:exceptionMessage>`` of a fault (with the ``sf`` prefix spelled exactly so).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

__all__ = ["SoapFault", "login_response", "parse_login"]

_ENVELOPE_NS = "http://schemas.xmlsoap.org/soap/envelope/"


class SoapFault(Exception):
    """A SOAP fault answered with HTTP 500.

    Attributes:
        code: the ``sf:exceptionCode``, e.g. ``INVALID_LOGIN``.
        message: the ``sf:exceptionMessage``.
        fault_type: the detail element name (``LoginFault`` or ``UnexpectedErrorFault``).
    """

    def __init__(self, code: str, message: str, fault_type: str = "UnexpectedErrorFault") -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.fault_type = fault_type

    def to_xml(self) -> str:
        """The fault envelope."""
        code, message = escape(self.code), escape(self.message)
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<soapenv:Envelope xmlns:soapenv="{_ENVELOPE_NS}" '
            'xmlns:sf="urn:fault.partner.soap.sforce.com" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            "<soapenv:Body><soapenv:Fault>"
            f"<faultcode>sf:{code}</faultcode>"
            f"<faultstring>{code}: {message}</faultstring>"
            f'<detail><sf:{self.fault_type} xsi:type="sf:{self.fault_type}">'
            f"<sf:exceptionCode>{code}</sf:exceptionCode>"
            f"<sf:exceptionMessage>{message}</sf:exceptionMessage>"
            f"</sf:{self.fault_type}></detail>"
            "</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
        )


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_login(body: bytes) -> tuple[str, str]:
    """Extract the username and password of a partner ``login`` request.

    Args:
        body: the raw request body.

    Returns:
        ``(username, password)``; the password may carry the security token.

    Raises:
        SoapFault: the body is not a SOAP ``login`` call.
    """
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise SoapFault("INVALID_XML", f"Unable to parse the request: {exc}") from exc
    login = next((el for el in root.iter() if _local(el.tag) == "login"), None)
    if login is None:
        raise SoapFault("UNKNOWN_EXCEPTION", "Only the partner login call is implemented")
    values = {_local(child.tag): child.text or "" for child in login}
    if "username" not in values or "password" not in values:
        raise SoapFault(
            "INVALID_LOGIN",
            "Invalid username, password, security token; or user locked out.",
            "LoginFault",
        )
    return values["username"], values["password"]


def login_response(
    *,
    session_id: str,
    server_url: str,
    metadata_server_url: str,
    user_id: str,
    org_id: str,
    username: str,
) -> str:
    """The partner ``loginResponse`` envelope.

    Args:
        session_id: the access token (usable as a REST bearer token).
        server_url: the partner API URL on the instance.
        metadata_server_url: the metadata API URL on the instance.
        user_id: the user's id.
        org_id: the organization id.
        username: the user's login.

    Returns:
        The XML text.
    """
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{_ENVELOPE_NS}" '
        'xmlns="urn:partner.soap.sforce.com" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<soapenv:Body><loginResponse><result>"
        f"<metadataServerUrl>{escape(metadata_server_url)}</metadataServerUrl>"
        "<passwordExpired>false</passwordExpired>"
        "<sandbox>true</sandbox>"
        f"<serverUrl>{escape(server_url)}</serverUrl>"
        f"<sessionId>{escape(session_id)}</sessionId>"
        f"<userId>{escape(user_id)}</userId>"
        "<userInfo>"
        f"<organizationId>{escape(org_id)}</organizationId>"
        "<organizationName>Tandem Sandbox</organizationName>"
        f"<userEmail>{escape(username)}</userEmail>"
        f"<userId>{escape(user_id)}</userId>"
        f"<userName>{escape(username)}</userName>"
        "</userInfo>"
        "</result></loginResponse></soapenv:Body></soapenv:Envelope>"
    )
